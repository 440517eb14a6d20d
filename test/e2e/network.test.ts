// The network as users meet it: a hop that never answers, Ctrl-C while a call hangs, and what one
// rotation costs in connections, requests and reads of the credentials file.
import { spawn } from "node:child_process";
import { readFile, rename, symlink } from "node:fs/promises";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { callerIdentity } from "../harness/fixtures.js";
import { motoEnv } from "../harness/moto.js";
import { cliPath, keyOf, makeHome, profileText, readProfile, runCli } from "./cli.js";
import { expectCleanOutput, expectOneProblemLine, keyIds, useWorld } from "./world.js";

const w = useWorld();
const BOUND_MS = 1_500;
const bounded = { KEYCTL_CALL_TIMEOUT_MS: String(BOUND_MS) };

/** Starts the CLI and resolves once the gate has seen `action`; the caller sends signals. */
function startRotation(home: string, profile: string) {
  const child = spawn(process.execPath, [cliPath(), "-t", profile], {
    env: { PATH: process.env.PATH ?? "", HOME: home, NO_COLOR: "1", ...motoEnv(w.endpoint), ...bounded },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((done) => child.on("close", done));
  return {
    child,
    exited,
    stderr: () => stderr,
    async reached(action: string) {
      for (let i = 0; i < 1000 && !w.gate.calls.some((c) => c.action === action); i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(w.gate.calls.map((c) => c.action)).toContain(action);
    },
  };
}

describe("a network that never answers", () => {
  it("ends keyctl with one network error line within the call bound, nothing changed", async () => {
    const key = await w.fx.createUserWithKey("hang");
    const { home, credentials } = await makeHome(profileText("hang", key));
    const before = await readFile(credentials, "utf8");
    w.gate.inject({ action: "*", fault: "hang" });
    const started = Date.now();
    const run = await runCli(["-t", "hang"], { home, endpoint: w.endpoint, env: bounded });
    const took = Date.now() - started;
    expect(run.status, run.stderr).toBe(1);
    expectOneProblemLine(run, /GetCallerIdentity.*no answer within 2 s/);
    expectCleanOutput(run, [key.secretAccessKey]);
    // A call that got no answer is not tried again: the wait is the one bound the message names.
    expect(took).toBeGreaterThanOrEqual(BOUND_MS);
    expect(w.gate.calls.filter((c) => c.action === "GetCallerIdentity")).toHaveLength(1);
    expect(await readFile(credentials, "utf8")).toBe(before);
  });

  it("a bad KEYCTL_CALL_TIMEOUT_MS is refused in one line", async () => {
    const key = await w.fx.createUserWithKey("knob");
    const { home } = await makeHome(profileText("knob", key));
    const run = await runCli(["-t", "knob"], {
      home,
      endpoint: w.endpoint,
      env: { KEYCTL_CALL_TIMEOUT_MS: "soon" },
    });
    expect(run.status).toBe(1);
    expectOneProblemLine(run, /KEYCTL_CALL_TIMEOUT_MS=soon is not a number of milliseconds/);
    expect(w.gate.calls).toHaveLength(0);
  });
});

describe("Ctrl-C while CreateAccessKey hangs", () => {
  it("IAM made the key but never answered: keyctl stops within the bound, deletes it, file unchanged", async () => {
    const key = await w.fx.createUserWithKey("intr-hang");
    const { home, credentials } = await makeHome(profileText("intr-hang", key));
    const before = await readFile(credentials, "utf8");
    w.gate.inject({ action: "CreateAccessKey", fault: "hang", when: "after", times: 1 });
    const run = startRotation(home, "intr-hang");
    await run.reached("CreateAccessKey");
    // moto has acted: the user now has a key whose secret nobody holds.
    for (let i = 0; i < 200 && (await keyIds(w.fx, "intr-hang")).length < 2; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await keyIds(w.fx, "intr-hang")).toHaveLength(2);
    const signalled = Date.now();
    run.child.kill("SIGINT");
    const code = await run.exited;
    const took = Date.now() - signalled;
    const stderr = run.stderr();
    expect(code, stderr).toBe(130);
    expect(took, "the stop waits for the call's bound, not for ever").toBeLessThan(BOUND_MS + 4_000);
    expect(stderr).toMatch(/finishing the current step/);
    expect(stderr).toMatch(/Deleted key AKIA\w+, created although IAM's answer was lost/);
    expect(stderr).toMatch(/cancelled after finishing the step/);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(await readFile(credentials, "utf8")).toBe(before);
    expect(await keyIds(w.fx, "intr-hang"), "no stranded key").toEqual([key.accessKeyId]);
    expect(await callerIdentity(w.endpoint, key)).toContain(":user/intr-hang");
  });

  it("a second Ctrl-C says what is still pending; the run still ends consistent", async () => {
    const key = await w.fx.createUserWithKey("intr-twice");
    const { home, credentials } = await makeHome(profileText("intr-twice", key));
    const before = await readFile(credentials, "utf8");
    w.gate.inject({ action: "CreateAccessKey", fault: "hang", times: 1 });
    const run = startRotation(home, "intr-twice");
    await run.reached("CreateAccessKey");
    run.child.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 200));
    run.child.kill("SIGINT");
    const code = await run.exited;
    const stderr = run.stderr();
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/still waiting for AWS: CreateAccessKey \(gives up within [12] s\)/);
    expect(stderr).toMatch(/Ctrl-C once more quits at once/);
    expect(await readFile(credentials, "utf8")).toBe(before);
    expect(await keyIds(w.fx, "intr-twice")).toEqual([key.accessKeyId]);
  });
});

describe("what a self-rotation costs", () => {
  it("opens at most one connection per endpoint and makes the original's requests plus verification", async () => {
    const key = await w.fx.createUserWithKey("cheap");
    const { home, credentials } = await makeHome(profileText("cheap", key));
    const run = await runCli(["-t", "cheap"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    expect(keyOf(await readProfile(credentials, "cheap")).accessKeyId).not.toBe(key.accessKeyId);
    // IAM and STS are two endpoints; moto serves both at one address, where the two calls that
    // overlap (STS for the key, IAM for its list) need a socket each.
    expect(w.gate.connections, w.gate.calls.map((c) => c.action).join(",")).toBeLessThanOrEqual(2);
    expect(w.gate.connections).toBeGreaterThan(0);
    const actions = w.gate.calls.map((c) => c.action);
    // The proof's two calls overlap, so they may arrive in either order.
    expect(new Set(actions.slice(0, 2))).toEqual(new Set(["GetCallerIdentity", "ListAccessKeys"]));
    expect(actions.slice(2)).toEqual(["CreateAccessKey", "GetCallerIdentity"]);
  });

  it("a self-rotation lists its keys while STS is still answering for the key, not after", async () => {
    const key = await w.fx.createUserWithKey("overlap");
    const { home } = await makeHome(profileText("overlap", key));
    // STS's answer for the key is held back long enough that a list sent only after it would
    // find the connection free again; sent alongside, it needs a second connection.
    w.gate.inject({ action: "GetCallerIdentity", fault: "delay", ms: 1_500, times: 1 });
    const run = await runCli(["-t", "overlap"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    expect(
      w.gate.calls
        .map((c) => c.action)
        .slice(0, 2)
        .sort(),
    ).toEqual(["GetCallerIdentity", "ListAccessKeys"]);
    expect(w.gate.connections).toBe(2);
  });

  it("holds the credentials file's lock three times: backup with claim, commit with note, release", async () => {
    const key = await w.fx.createUserWithKey("holds");
    const { home, credentials } = await makeHome(profileText("holds", key));
    const trace = join(home, "lock-holds.log");
    const run = await runCli(["-t", "holds"], {
      home,
      endpoint: w.endpoint,
      env: { KEYCTL_TRACE_LOCK: trace },
    });
    expect(run.status, run.stderr).toBe(0);
    expect(keyOf(await readProfile(credentials, "holds")).accessKeyId).not.toBe(key.accessKeyId);
    // Every hold makes each other rotation of a batch wait: the fewer, the more a batch overlaps.
    const holds = (await readFile(trace, "utf8")).trimEnd().split("\n");
    expect(holds).toHaveLength(3);
  });

  it("the SDK never reads the credentials file of a static-key profile; keyctl's store does", async () => {
    const key = await w.fx.createUserWithKey("reads");
    const { home, credentials } = await makeHome(profileText("reads", key));
    // The store reads through the link's target; any read of the link's own path is the SDK's.
    const real = join(home, "real-credentials");
    await rename(credentials, real);
    await symlink(real, credentials);
    const log = join(home, "reads.log");
    const run = await runCli(["-t", "reads"], {
      home,
      endpoint: w.endpoint,
      env: {
        NODE_OPTIONS: `--require ${resolve(import.meta.dirname, "../helpers/count-reads.cjs")}`,
        KEYCTL_TEST_READ_LOG: log,
      },
    });
    expect(run.status, run.stderr).toBe(0);
    const reads = (await readFile(log, "utf8")).split("\n");
    expect(reads.filter((p) => p === real).length, "keyctl's own reads are seen").toBeGreaterThan(0);
    expect(reads.filter((p) => p === credentials)).toEqual([]);
  });
});
