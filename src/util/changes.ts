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
