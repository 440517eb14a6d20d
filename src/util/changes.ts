import type { IamPort } from "../engine/ports.js";

// Whether this process has changed anything yet (a call that may have altered IAM, a write of the
// credentials file). An unexpected error after that leaves the user with a partly done run
// (exit 3, check what is there); before it, nothing was changed (exit 1).

let changed = false;

export function noteChange(): void {
  changed = true;
}

export function changedSomething(): boolean {
  return changed;
}

/** The IAM port with every call that may alter IAM noted before it is sent. */
export function notingChanges(iam: IamPort): IamPort {
  return {
    listAccessKeys: (u) => iam.listAccessKeys(u),
    // Kept when the port has it: without it, self-service lists its keys only after STS answered.
    ...(iam.listOwnAccessKeys ? { listOwnAccessKeys: () => iam.listOwnAccessKeys!() } : {}),
    getAccessKeyLastUsed: (id) => iam.getAccessKeyLastUsed(id),
    listUsers: () => iam.listUsers(),
    createAccessKey: (u) => {
      noteChange();
      return iam.createAccessKey(u);
    },
    updateAccessKey: (u, id, status) => {
      noteChange();
      return iam.updateAccessKey(u, id, status);
    },
    deleteAccessKey: (u, id) => {
      noteChange();
      return iam.deleteAccessKey(u, id);
    },
  };
}
