// Ctrl-C (or SIGTERM) between CreateAccessKey and the write of its secret would leave a key in IAM
// that only the next run's journal check could clean up. Such steps run shielded: the signal is
// noted, the step completes, then keyctl stops.

let depth = 0;
let pending: NodeJS.Signals | undefined;

const EXIT_FOR: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143 };

/** Work in flight that a stop leaves partly done, by profile: what the user must know then. */
const partial = new Map<string, string>();

export function notePartial(key: string, note: string | undefined): void {
  if (note === undefined) partial.delete(key);
  else partial.set(key, note);
}

function stop(signal: NodeJS.Signals, detail: string): never {
  if (partial.size > 0) {
    process.stderr.write(`\nkeyctl: stopped part-way${detail}.\n`);
    for (const note of partial.values()) process.stderr.write(`${note}\n`);
    process.exit(3);
  }
  process.stderr.write(`\nkeyctl: cancelled${detail}.\n`);
  process.exit(EXIT_FOR[signal] ?? 130);
}

/** What a signal does: stop now, or after the shielded step under way. Also fed by the terminal. */
export function interrupt(signal: NodeJS.Signals): void {
  if (depth === 0) stop(signal, "");
  if (!pending) process.stderr.write("\nkeyctl: finishing the current step before stopping…\n");
  pending = signal;
}

export function installInterruptHandlers(): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => interrupt(signal));
}

/** Runs `fn` so that an interrupt waits until it has finished. */
export async function shielded<T>(fn: () => Promise<T>): Promise<T> {
  depth++;
  try {
    return await fn();
  } finally {
    depth--;
    if (depth === 0 && pending)
      stop(pending, " after finishing the step that was under way (the file is consistent)");
  }
}
