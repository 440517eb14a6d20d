import { systemClock } from "./clock.js";
import { retry } from "./retry.js";

/** Maps `items` through `fn` with at most `limit` calls in flight; results keep the input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!, index);
    }
  }
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  return results;
}

export interface AdaptiveLimit {
  /** Runs `fn` when a slot is free; a throttled call is tried again (with the limit lowered). */
  run<T>(fn: () => Promise<T>): Promise<T>;
  /** How many calls may be in flight now. */
  readonly limit: number;
}

export interface AdaptiveOptions {
  /** The most calls in flight, and where the limit starts. */
  readonly max: number;
  /** Whether a failure says the service refused the call for its rate (it did not act). */
  readonly throttled: (err: unknown) => boolean;
  /** Tries of one call after the first that was throttled. */
  readonly retries?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/**
 * A bound on calls in flight that backs off as the service asks: a throttled call halves the limit
 * and is tried again after a pause (growing per try); every `limit` successes in a row raise the
 * limit by one, back up to `max`. For independent read-only calls, e.g. one per IAM user.
 */
export function adaptiveLimit(options: AdaptiveOptions): AdaptiveLimit {
  const { max, throttled } = options;
  const retries = options.retries ?? 6;
  const clock = { now: systemClock.now, sleep: options.sleep ?? systemClock.sleep };
  let limit = Math.max(1, max);
  let inFlight = 0;
  let streak = 0;
  const waiting: (() => void)[] = [];
  const wake = () => {
    for (let free = limit - inFlight; free > 0 && waiting.length > 0; free--) waiting.shift()!();
  };
  const acquire = async () => {
    while (inFlight >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    inFlight++;
  };
  return {
    get limit() {
      return limit;
    },
    run<T>(fn: () => Promise<T>): Promise<T> {
      return retry(
        async (attempt) => {
          await acquire();
          try {
            const value = await fn();
            if (++streak >= limit && limit < max) {
              limit++;
              streak = 0;
            }
            return value;
          } catch (err) {
            // Lowered only when the call is tried again: the last throttle gives up as it is.
            if (throttled(err) && attempt <= retries) {
              limit = Math.max(1, Math.floor(limit / 2));
              streak = 0;
            }
            throw err;
          } finally {
            inFlight--;
            wake();
          }
        },
        {
          clock,
          retryable: throttled,
          attempts: retries + 1,
          firstDelayMs: 100,
          nextDelayMs: (ms) => ms * 2,
        },
      );
    },
  };
}
