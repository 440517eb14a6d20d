import type { Clock } from "./clock.js";

// Every back-off loop of keyctl: a call tried again after growing pauses, while its failure is
// worth another try, up to a number of tries or a deadline on the clock.

export interface RetryPolicy {
  readonly clock: Clock;
  /** Whether this failure is worth another try (the caller knows what a retry could cost). */
  readonly retryable: (err: unknown) => boolean;
  /** Tries in all, the first included; unbounded when only the deadline ends the tries. */
  readonly attempts?: number;
  /** No pause reaches past this time on the clock: the last try is made at the deadline itself. */
  readonly deadline?: number;
  /** The pause after the first failed try. */
  readonly firstDelayMs: number;
  /** The pause after the next failed try, from the one before. */
  readonly nextDelayMs: (delayMs: number) => number;
  /** Told of each failure that another try follows, before its pause. */
  readonly onRetry?: (err: unknown, attempt: number) => void;
}

/** Runs `fn` until it succeeds; throws its last failure once the policy says to stop. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, policy: RetryPolicy): Promise<T> {
  let delay = policy.firstDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!policy.retryable(err)) throw err;
      if (policy.attempts !== undefined && attempt >= policy.attempts) throw err;
      const remaining = policy.deadline === undefined ? delay : policy.deadline - policy.clock.now();
      if (remaining <= 0) throw err;
      policy.onRetry?.(err, attempt);
      await policy.clock.sleep(Math.min(delay, remaining));
      delay = policy.nextDelayMs(delay);
    }
  }
}
