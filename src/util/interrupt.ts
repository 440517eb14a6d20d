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

const interruption = new AbortController();
/** Aborted at the first signal: batches start no new rotation, spinners clear their line first. */
export const interrupted: AbortSignal = interruption.signal;
let windingDown = 0;

/**
 * While `fn` runs (a batch), the first signal only aborts `interrupted`: the batch starts nothing
 * new, lets the rotations under way end and reports every profile. A second signal stops as usual.
 */
export async function windDownOnInterrupt<T>(fn: () => Promise<T>): Promise<T> {
  windingDown++;
  try {
    return await fn();
  } finally {
    windingDown--;
  }
}

/** What a signal does: stop now, or after the shielded step under way. Also fed by the terminal. */
export function interrupt(signal: NodeJS.Signals): void {
  const first = !interruption.signal.aborted;
  interruption.abort(signal);
  if (first && windingDown > 0) {
    process.stderr.write(
      "\nkeyctl: stopping: no new rotation starts, the ones under way end first (Ctrl-C again to stop now)…\n",
    );
    return;
  }
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
