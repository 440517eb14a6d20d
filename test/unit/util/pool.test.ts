// The bound on concurrent IAM calls of --list-all-keys and the owner search: as many in flight as
// allowed while the service keeps up, fewer once it throttles, and no call lost to throttling.
import { describe, expect, it } from "vitest";
import { adaptiveLimit } from "../../../src/util/pool.js";

class Throttled extends Error {}

/** A service that answers after a tick and refuses (throttles) calls beyond `capacity` in flight. */
function service(capacity: number) {
  let inFlight = 0;
  const seen = { peak: 0, throttles: 0, answered: 0 };
  const call = async (n: number): Promise<number> => {
    inFlight++;
    seen.peak = Math.max(seen.peak, inFlight);
    try {
      await new Promise((r) => setTimeout(r, 1));
      if (inFlight > capacity) {
        seen.throttles++;
        throw new Throttled();
      }
      seen.answered++;
      return n * 2;
    } finally {
      inFlight--;
    }
  };
  return { call, seen };
}

const noPause = async () => {};
const throttled = (err: unknown) => err instanceof Throttled;

describe("adaptiveLimit", () => {
  it("runs up to max calls at once while none is throttled, each exactly once", async () => {
    const { call, seen } = service(1000);
    const pool = adaptiveLimit({ max: 24, throttled, sleep: noPause });
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => pool.run(() => call(i))));
    expect(results).toEqual(Array.from({ length: 200 }, (_, i) => i * 2));
    expect(seen.peak).toBe(24);
    expect(seen.answered).toBe(200);
  });

  it("halves on throttling and still gets every answer, with far fewer refusals than calls", async () => {
    const { call, seen } = service(5);
    const pool = adaptiveLimit({ max: 32, throttled, sleep: noPause });
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => pool.run(() => call(i))));
    expect(results).toEqual(Array.from({ length: 300 }, (_, i) => i * 2));
    expect(seen.answered).toBe(300);
    expect(seen.throttles).toBeGreaterThan(0);
    expect(seen.throttles).toBeLessThan(100);
    expect(pool.limit).toBeLessThanOrEqual(10);
  });

  it("passes any other failure on at once, and gives up on a call throttled past its retries", async () => {
    const pool = adaptiveLimit({ max: 4, throttled, retries: 2, sleep: noPause });
    let tries = 0;
    await expect(pool.run(async () => Promise.reject(new Error("AccessDenied")))).rejects.toThrow(
      "AccessDenied",
    );
    await expect(
      pool.run(async () => {
        tries++;
        throw new Throttled();
      }),
    ).rejects.toBeInstanceOf(Throttled);
    expect(tries).toBe(3);
    // The slots were given back: the next call still runs.
    expect(await pool.run(async () => "ok")).toBe("ok");
  });
});
