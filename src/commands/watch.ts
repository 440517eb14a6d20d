// The session's ports as the command layer sees them: each AWS step timed for the progress line
// (the spinner shows a call that is slow) and guarded for Ctrl-C before any call that changes IAM.

import type { AuthSession, IamPort, StsPort } from "../engine/ports.js";
import { after } from "../util/clock.js";
import type { Spinner } from "./spinner.js";

/** What the user is waiting for while an AWS call is slow. */
const IAM_STEP: { [K in keyof IamPort]-?: (...args: Parameters<Required<IamPort>[K]>) => string } = {
  listAccessKeys: (user) => `Reading the access keys of IAM user ${user}…`,
  listOwnAccessKeys: () => "Reading the access keys of the signing user…",
  createAccessKey: () => "Creating the new key…",
  updateAccessKey: (_user, id, status) =>
    `${status === "Inactive" ? "Deactivating" : "Activating"} key ${id}…`,
  deleteAccessKey: (_user, id) => `Deleting key ${id}…`,
  getAccessKeyLastUsed: (id) => `Asking IAM when key ${id} was last used…`,
  listUsers: () => "Listing the IAM users…",
};

const MUTATING = new Set<keyof IamPort>(["createAccessKey", "updateAccessKey", "deleteAccessKey"]);

/** Shows a step on the terminal once its call has waited this long. */
const SLOW_CALL_MS = 1_000;

interface Watch {
  /** Before every call; `mutating` for the ones that change IAM. */
  readonly before?: (mutating: keyof IamPort | undefined) => void;
  readonly spinner?: Spinner;
}

/**
 * The session's ports, timed for the progress line and guarded for Ctrl-C: the command layer sees
 * every AWS step without the engine having to report them.
 */
export function watched(auth: AuthSession, sts: StsPort, watch: Watch): { auth: AuthSession; sts: StsPort } {
  const timed = async <T>(step: string, call: () => Promise<T>): Promise<T> => {
    const spinner = watch.spinner;
    if (!spinner) return call();
    const cancel = after(SLOW_CALL_MS, () => spinner.show(step));
    try {
      return await call();
    } finally {
      cancel();
      if (spinner.text === step) spinner.stop();
    }
  };
  const iam = {} as Record<keyof IamPort, unknown>;
  for (const name of Object.keys(IAM_STEP) as (keyof IamPort)[]) {
    const step = IAM_STEP[name] as (...args: unknown[]) => string;
    const method = auth.iam[name] as ((...args: unknown[]) => Promise<unknown>) | undefined;
    if (!method) continue;
    iam[name] = async (...args: unknown[]) => {
      watch.before?.(MUTATING.has(name) ? name : undefined);
      return timed(step(...args), () => method.apply(auth.iam, args));
    };
  }
  return {
    auth: {
      ...auth,
      iam: iam as unknown as IamPort,
      identity: () =>
        timed(`Checking who auth profile ${auth.profile} signs in as (STS)…`, () => auth.identity()),
    },
    sts: {
      callerIdentity: (credentials) =>
        timed(`Checking key ${credentials.accessKeyId} with AWS (STS)…`, () =>
          sts.callerIdentity(credentials),
        ),
    },
  };
}
