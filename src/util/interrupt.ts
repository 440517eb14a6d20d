// Ctrl-C (or SIGTERM) between CreateAccessKey and the write of its secret would leave a key in IAM
// that only the next run's journal check could clean up. Such steps run shielded: the signal is
// noted, the step completes, then keyctl stops.

let depth = 0;
let pending: NodeJS.Signals | undefined;

const EXIT_FOR: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143 };

function stop(signal: NodeJS.Signals, detail: string): never {
  process.stderr.write(`\nkeyctl: cancelled${detail}.\n`);
  process.exit(EXIT_FOR[signal] ?? 130);
}

export function installInterruptHandlers(): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      if (depth === 0) stop(signal, "");
      if (!pending) process.stderr.write("\nkeyctl: finishing the current step before stopping…\n");
      pending = signal;
    });
  }
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
