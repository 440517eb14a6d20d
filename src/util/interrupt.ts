// Ctrl-C (or SIGTERM, or SIGHUP) between CreateAccessKey and the write of its secret would leave a key in IAM
// that only the next run's journal check could clean up. Such steps run shielded: the signal is
// noted, the step completes (every AWS call in it is bounded by its timeout, and a failed call is
// reconciled), then keyctl stops. A second signal says what is still pending; a third quits at once.

import { ExitCode, KeyctlError } from "../errors.js";

let depth = 0;
let pending: NodeJS.Signals | undefined;
let signalsWhileShielded = 0;

// SIGHUP: the terminal was closed (an ssh session dropped, a window shut). The rotation under way
// deserves the same safe stop as Ctrl-C; by default Node would die on the spot, mid-step.
const EXIT_FOR: Partial<Record<NodeJS.Signals, ExitCode>> = {
  SIGHUP: ExitCode.hangup,
  SIGINT: ExitCode.cancelled,
  SIGTERM: ExitCode.terminated,
};

/** Work in flight that a stop leaves partly done, by profile: what the user must know then. */
const partial = new Map<string, string>();

export function notePartial(key: string, note: string | undefined): void {
  if (note === undefined) partial.delete(key);
  else partial.set(key, note);
}

/** AWS calls in flight: what a second Ctrl-C reports. */
const calls = new Map<number, { readonly operation: string; readonly deadline: number }>();
let nextCall = 0;

/** Registers an AWS call that gives up within `boundMs`; returns its end. */
export function callStarted(operation: string, boundMs: number): () => void {
  const id = nextCall++;
  calls.set(id, { operation, deadline: Date.now() + boundMs });
  return () => calls.delete(id);
}

function write(text: string): void {
  process.stderr.write(text);
}

/** How a signal ended the run, for the one document `--json` promises on stdout. */
export interface StopReport {
  readonly status: "cancelled" | "partial";
  readonly exitCode: number;
  readonly error: string;
  /** What is left part-way, one line per profile. */
  readonly notes: readonly string[];
}

let reportStop: ((report: StopReport) => void) | undefined;

/** Called once, just before a signal ends the process (main prints the JSON document with it). */
export function onStop(fn: (report: StopReport) => void): void {
  reportStop = fn;
}

function exitPartial(message: string): never {
  write(`\nkeyctl: ${message}.\n`);
  const notes = [...partial.values()];
  for (const note of notes) write(`${note}\n`);
  reportStop?.({ status: "partial", exitCode: ExitCode.partial, error: message, notes });
  process.exit(ExitCode.partial);
}

/** `failure`: how the shielded step ended, which says what is left (it would be lost otherwise). */
function stop(signal: NodeJS.Signals, detail: string, failure?: KeyctlError): never {
  if (failure) write(`\nkeyctl: ${failure.message}\n`);
  if (partial.size > 0 || failure?.exitCode === ExitCode.partial) exitPartial(`stopped part-way${detail}`);
  const exitCode = EXIT_FOR[signal] ?? ExitCode.cancelled;
  write(`\nkeyctl: cancelled${detail}.\n`);
  reportStop?.({ status: "cancelled", exitCode, error: `cancelled${detail}`, notes: [] });
  process.exit(exitCode);
}

function stillPending(): string {
  const now = Date.now();
  const waits = [...calls.values()].map(
    (c) => `${c.operation} (gives up within ${Math.max(0, Math.ceil((c.deadline - now) / 1000))} s)`,
  );
  const what = waits.length > 0 ? `waiting for AWS: ${waits.join(", ")}` : "writing the credentials file";
  return `\nkeyctl: still ${what}; keyctl then checks what AWS did and stops. Ctrl-C once more quits at once, which may leave a new key in IAM that the next run of keyctl removes.\n`;
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
  signalsWhileShielded++;
  pending = signal;
  if (signalsWhileShielded === 1) write("\nkeyctl: finishing the current step before stopping…\n");
  else if (signalsWhileShielded === 2) write(stillPending());
  else {
    exitPartial("quitting at once, in the middle of a step");
  }
}

export function installInterruptHandlers(): void {
  for (const signal of ["SIGHUP", "SIGINT", "SIGTERM"] as const) process.on(signal, () => interrupt(signal));
}

/** Runs `fn` so that an interrupt waits until it has finished. */
export async function shielded<T>(fn: () => Promise<T>): Promise<T> {
  depth++;
  let failure: unknown;
  try {
    return await fn();
  } catch (err) {
    failure = err;
    throw err;
  } finally {
    depth--;
    if (depth === 0 && pending)
      stop(
        pending,
        " after finishing the step that was under way (the file is consistent)",
        failure instanceof KeyctlError ? failure : undefined,
      );
  }
}
