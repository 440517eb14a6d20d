// Ctrl-C (SIGINT) or a closed terminal (SIGHUP) while CreateAccessKey is in flight: keyctl finishes the
// step (the secret reaches the file), then stops with exit 3 and says what the user has.
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { CredentialsDocument } from "../../src/ini/document.js";
import { callerIdentity } from "../harness/fixtures.js";
import { motoEnv } from "../harness/moto.js";
import { cliPath, keyOf, makeHome, profileText, readProfile } from "./cli.js";
import { useWorld } from "./world.js";

const w = useWorld();

/** Runs `keyctl -t profile` and sends it `signal` once `ready()` (polled) holds. */
async function signalledWhen(
  profile: string,
  home: string,
  ready: () => boolean,
  signal: NodeJS.Signals,
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [cliPath(), "-t", profile], {
    env: { PATH: process.env.PATH ?? "", HOME: home, NO_COLOR: "1", ...motoEnv(w.endpoint) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  for (let i = 0; i < 500 && !ready(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(ready(), "the run got there").toBe(true);
  child.kill(signal);
  return { code: await exited, stderr };
}

describe("interrupting a rotation", () => {
  // SIGHUP: the terminal was closed under the run; it gets the same safe stop as Ctrl-C.
  it.each(["SIGINT", "SIGHUP"] as const)(
    "%s during CreateAccessKey: the step completes, exit 3, the new key is saved and works",
    async (signal) => {
      const key = await w.fx.createUserWithKey("intr");
      const { home, credentials } = await makeHome(profileText("intr", key));
      w.proxy.setLatency(600);
      const { code, stderr } = await signalledWhen(
        "intr",
        home,
        // The gate sees the call as it is sent (the proxy records it only as it answers, after its
        // latency): the signal lands while CreateAccessKey is under way, not after its answer.
        () => w.gate.calls.some((c) => c.action === "CreateAccessKey"),
        signal,
      );
      w.proxy.setLatency(0);
      expect(code, stderr).toBe(3);
      expect(stderr).toMatch(/finishing the current step/);
      expect(stderr).toMatch(/has its new key .* not yet confirmed/);
      expect(stderr).not.toMatch(/\n\s+at /);
      const now = keyOf(await readProfile(credentials, "intr"));
      expect(now.accessKeyId).not.toBe(key.accessKeyId);
      expect(await callerIdentity(w.endpoint, now)).toContain(":user/intr");
      const doc = CredentialsDocument.parse(await readFile(credentials, "utf8"));
      const held = new Set(doc.profileNames().map((p) => doc.get(p, "aws_access_key_id")));
      for (const k of await w.fx.listKeys("intr")) expect(held.has(k.accessKeyId)).toBe(true);
    },
  );
});

describe("a closed terminal", () => {
  it("SIGHUP before anything changed: cancelled, exit 129, nothing changed", async () => {
    const key = await w.fx.createUserWithKey("hup");
    const text = profileText("hup", key);
    const { home, credentials } = await makeHome(text);
    w.proxy.setLatency(600);
    // Signalled as the proof's first call is sent (the gate sees it then; the proxy only once it
    // answers, 600 ms later, when the run may already be a few milliseconds from CreateAccessKey).
    const { code, stderr } = await signalledWhen("hup", home, () => w.gate.calls.length > 0, "SIGHUP");
    expect(w.proxy.calls.map((c) => c.action)).not.toContain("CreateAccessKey");
    w.proxy.setLatency(0);
    expect(code, stderr).toBe(129);
    expect(stderr).toMatch(/keyctl: cancelled/);
    expect(await readFile(credentials, "utf8")).toBe(text);
    expect((await w.fx.listKeys("hup")).map((k) => k.accessKeyId)).toEqual([key.accessKeyId]);
  });
});
