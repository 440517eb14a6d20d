import { KeyctlError } from "../errors.js";

// The one place keyctl asks the runtime for timers: everything else waits through a Clock, so a
// test can replace time, and the architecture test can tell a stray timer from this one.

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

/**
 * KEYCTL_NOW=ISO-TIME is a test knob, read here only: it moves the engine's "now" (key ages, the
 * staged retirement's clock) so a test can play a month of daily runs in seconds. Time still
 * passes from there at the normal rate.
 */
const NOW_OFFSET_MS = (() => {
  const fake = globalThis.process?.env.KEYCTL_NOW;
  if (!fake) return 0;
  const at = Date.parse(fake);
  if (Number.isNaN(at))
    throw new KeyctlError(`KEYCTL_NOW must be an ISO time such as 2026-12-02T10:00:00Z, not '${fake}'.`);
  return at - Date.now();
})();

export const systemClock: Clock = {
  now: () => Date.now() + NOW_OFFSET_MS,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * Runs `fn` once after `ms` unless cancelled first (the returned function). An unref'd timer does
 * not keep the process alive on its own.
 */
export function after(ms: number, fn: () => void, options: { unref?: boolean } = {}): () => void {
  const timer = setTimeout(fn, ms);
  if (options.unref) timer.unref();
  return () => clearTimeout(timer);
}
