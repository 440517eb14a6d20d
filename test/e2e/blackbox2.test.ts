// Found by using the built CLI as people do (second pass): signals at the worst moments, then the
// next run on the same machine.
import { spawn } from "node:child_process";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CredentialsDocument } from "../../src/ini/document.js";
import { callerIdentity } from "../harness/fixtures.js";
import { motoEnv } from "../harness/moto.js";
import {
  type CliRun,
  cliPath,
  collectRun,
  keyOf,
  makeHome,
  profileText,
  readProfile,
  runCli,
} from "./cli.js";
import { arnOf, expectCleanOutput, expectOneProblemLine, keyIds, useWorld } from "./world.js";

const w = useWorld();

/** Starts keyctl with `args`, sends `signal` once `ready()` holds, and collects the run. */
async function signalledWhen(
  args: readonly string[],
  home: string,
  ready: () => boolean,
  signal: NodeJS.Signals,
): Promise<CliRun> {
  const child = spawn(process.execPath, [cliPath(), ...args], {
    env: { PATH: process.env.PATH ?? "", HOME: home, NO_COLOR: "1", ...motoEnv(w.endpoint) },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const run = collectRun(child);
  for (let i = 0; i < 1000 && !ready(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(ready(), "the run got there").toBe(true);
  child.kill(signal);
  return run;
}

describe("a signal while the old key is being retired", () => {
  it.each(["SIGTERM", "SIGINT"] as const)(
    "%s during the DeleteAccessKey of the old key: the message does not call the deleted key working",
    async (signal) => {
      const key = await w.fx.createUserWithKey("sr");
      const { home, credentials } = await makeHome(profileText("sr", key));
      // IAM deletes the old key; its answer is held back, so the signal lands during the step.
      w.gate.inject({ action: "DeleteAccessKey", fault: "delay", ms: 1500 });
      const run = await signalledWhen(
        ["-t", "sr", "--old-key", "delete"],
        home,
        () => w.gate.calls.some((c) => c.action === "DeleteAccessKey"),
        signal,
      );
      expect(run.status, run.stderr).toBe(3);
      const now = keyOf(await readProfile(credentials, "sr"));
      expect(now.accessKeyId).not.toBe(key.accessKeyId);
      expect(await callerIdentity(w.endpoint, now)).toBe(arnOf("sr"));
      await expect.poll(() => keyIds(w.fx, "sr")).toEqual([now.accessKeyId]);
      // What the user reads must match that: the new key works, the old one may be gone.
      expect(run.stderr).toMatch(new RegExp(`new key ${now.accessKeyId}.*AWS accepted it`));
      expect(run.stderr).toMatch(new RegExp(`old key ${key.accessKeyId} .*may already be deleted`));
      expect(run.stderr).not.toMatch(/not yet confirmed|still works/);
      expectCleanOutput(run, [key.secretAccessKey, now.secretAccessKey]);
    },
  );
});

describe("a signal while a batch waits for AWS to accept a new key", () => {
  it("SIGTERM: the batch stops waiting instead of polling out --verify-timeout, and says what is left", async () => {
    const a = await w.fx.createUserWithKey("ba");
    const b = await w.fx.createUserWithKey("bb");
    const { home, credentials } = await makeHome(`${profileText("ba", a)}\n${profileText("bb", b)}`);
    w.proxy.setPropagationDelay(600_000);
    let signalledAt = 0;
    const run = await signalledWhen(
      ["-t", "ba", "-t", "bb", "--concurrency", "1", "--verify-timeout", "90"],
      home,
      () => {
        const polling = w.proxy.calls.some((c) => c.injected === "propagating");
        if (polling) signalledAt = Date.now();
        return polling;
      },
      "SIGTERM",
    );
    const waited = Date.now() - signalledAt;
    w.proxy.setPropagationDelay(0);
    // A service manager sends SIGKILL some seconds after SIGTERM; 90 s of polling would be cut off.
    expect(waited, run.stderr).toBeLessThan(45_000);
    expect(run.status, run.stderr).toBe(3);
    const now = keyOf(await readProfile(credentials, "ba"));
    expect(now.accessKeyId).not.toBe(a.accessKeyId);
    expect(run.stdout).toMatch(new RegExp(`ba .*${now.accessKeyId}`));
    expect(run.stdout).toMatch(/bb\s+○ not started/);
    expect(await keyIds(w.fx, "ba")).toEqual([a.accessKeyId, now.accessKeyId].sort());
    expect(await keyIds(w.fx, "bb")).toEqual([b.accessKeyId]);
    expectCleanOutput(run, [a.secretAccessKey, b.secretAccessKey, now.secretAccessKey]);
  }, 120_000);
});

describe("--restore of a hand-written file keyctl rotated", () => {
  it("a 'name : value' line (the AWS CLI reads it) does not make keyctl's own backup unrestorable", async () => {
    const key = await w.fx.createUserWithKey("hw");
    const other = await w.fx.createUserWithKey("colon");
    const original = `${profileText("hw", key)}[colon]\r\naws_access_key_id : ${other.accessKeyId}\r\naws_secret_access_key : ${other.secretAccessKey}`;
    const { home, credentials } = await makeHome(original);
    const rotate = await runCli(["-t", "hw"], { home, endpoint: w.endpoint });
    expect(rotate.status, rotate.stderr).toBe(0);
    expect(await readFile(credentials, "utf8")).not.toBe(original);

    const restore = await runCli(["--restore", "--yes"], { home, endpoint: w.endpoint });
    expect(restore.status, restore.stderr).toBe(0);
    expect(await readFile(credentials, "utf8")).toBe(original);
    expectCleanOutput(restore, [key.secretAccessKey, other.secretAccessKey]);
  });

  it("a line that is no setting at all is still refused", async () => {
    const key = await w.fx.createUserWithKey("hw2");
    const { home, credentials } = await makeHome(profileText("hw2", key));
    const dir = join(credentials, "..");
    await writeFile(join(dir, "notes"), "[x]\nregion = eu-west-1\nrotate: every 90 days\nthis is prose\n", {
      mode: 0o600,
    });
    const run = await runCli(["--restore", "notes", "--yes"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(1);
    expectOneProblemLine(run, /line 4 is neither a \[section\], a setting nor a comment/);
  });
});

describe("--json with --version and --help", () => {
  it("prints one JSON document on stdout, as on every other path; without --json the plain text", async () => {
    const { home } = await makeHome("");
    for (const flag of ["--version", "--help"]) {
      const run = await runCli([flag, "--json"], { home, endpoint: w.endpoint });
      expect(run.status, run.stderr).toBe(0);
      const doc = JSON.parse(run.stdout) as Record<string, unknown>;
      const plain = await runCli([flag], { home, endpoint: w.endpoint });
      expect(plain.status).toBe(0);
      expect(() => JSON.parse(plain.stdout)).toThrow();
      expect(Object.values(doc)).toContain(plain.stdout.trimEnd());
    }
  });
});

describe("a batch where some profiles rotate and one fails", () => {
  it("exits 3 (partly done), not 1 (failed, nothing changed); all failing stays 1", async () => {
    const a = await w.fx.createUserWithKey("pa");
    const dead = await w.fx.createUserWithKey("pd");
    await w.fx.deleteKey("pd", dead.accessKeyId);
    const { home, credentials } = await makeHome(`${profileText("pa", a)}\n${profileText("pd", dead)}`);
    const run = await runCli(["-t", "pa", "-t", "pd"], { home, endpoint: w.endpoint });
    expect(run.stdout).toMatch(/pd\s+✘ failed/);
    const now = keyOf(await readProfile(credentials, "pa"));
    expect(now.accessKeyId).not.toBe(a.accessKeyId);
    expect(run.status, run.stdout).toBe(3);

    const none = await runCli(["-t", "pd"], { home, endpoint: w.endpoint });
    expect(none.status, none.stderr).toBe(1);
  });
});

describe("a profile name with a space", () => {
  it("the keyctl --finish command the rotation prints works when pasted into a shell", async () => {
    const key = await w.fx.createUserWithKey("sp");
    const { home, credentials } = await makeHome(profileText("work prod", key));
    const run = await runCli(["-t", "work prod"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    const printed = /^\s*keyctl (--finish .*?)\s{2,}\(or:/m.exec(run.stderr)?.[1];
    expect(printed, run.stderr).toBeDefined();
    const pasted = await pasteIntoShell(printed!, home);
    expect(pasted.status, pasted.stderr).toBe(0);
    expect(await readProfile(credentials, "work prod-previous")).toBeUndefined();
    expect(await keyIds(w.fx, "sp")).toEqual([
      keyOf(await readProfile(credentials, "work prod")).accessKeyId,
    ]);
  });

  it("so does the one a batch prints for all its kept old keys", async () => {
    const a = await w.fx.createUserWithKey("sp1");
    const b = await w.fx.createUserWithKey("sp2");
    const { home, credentials } = await makeHome(
      `${profileText("work prod", a)}\n${profileText("plain", b)}`,
    );
    const run = await runCli(["-t", "work prod", "-t", "plain"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    const printed = /Retire them once nothing uses them: keyctl (--finish .*)$/m.exec(run.stderr)?.[1];
    expect(printed, run.stderr).toBeDefined();
    const pasted = await pasteIntoShell(printed!, home);
    expect(pasted.status, pasted.stderr).toBe(0);
    for (const p of ["work prod", "plain"])
      expect(await readProfile(credentials, `${p}-previous`)).toBeUndefined();
  });
});

/** Runs a keyctl command line as printed, through sh, the way a user pastes it. */
function pasteIntoShell(args: string, home: string): Promise<CliRun> {
  return new Promise<CliRun>((resolve, reject) => {
    const child = spawn("sh", ["-c", `exec "${process.execPath}" "${cliPath()}" ${args}`], {
      env: { PATH: process.env.PATH ?? "", HOME: home, NO_COLOR: "1", ...motoEnv(w.endpoint) },
      stdio: ["pipe", "pipe", "pipe"],
    });
    collectRun(child).then(resolve, reject);
  });
}

describe("a new key AWS has not accepted yet, in a profile whose name has a space", () => {
  it("the aws command the message gives names the profile as one shell word", async () => {
    const key = await w.fx.createUserWithKey("sq");
    const { home } = await makeHome(profileText("work prod", key));
    w.proxy.setPropagationDelay(600_000);
    const run = await runCli(["-t", "work prod", "--verify-timeout", "1"], { home, endpoint: w.endpoint });
    w.proxy.setPropagationDelay(0);
    expect(run.status, run.stderr).toBe(3);
    expect(run.stdout + run.stderr).toContain("aws sts get-caller-identity --profile 'work prod'");
    expect(run.stdout + run.stderr).not.toMatch(/--profile work prod/);
  });
});

describe("static keys in [profile default] of the config file", () => {
  it("-t default rotates them: the AWS CLI and the SDKs read that section as default", async () => {
    const key = await w.fx.createUserWithKey("pdef");
    const { home } = await makeHome("");
    await rm(join(home, ".aws", "credentials"));
    const config = join(home, ".aws", "config");
    await writeFile(
      config,
      `[profile default]\naws_access_key_id = ${key.accessKeyId}\naws_secret_access_key = ${key.secretAccessKey}\n`,
      { mode: 0o600 },
    );
    const run = await runCli(["-t", "default"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    const doc = CredentialsDocument.parse(await readFile(config, "utf8"), "config");
    const now = keyOf(doc.profile("default"));
    expect(now.accessKeyId).not.toBe(key.accessKeyId);
    expect(await callerIdentity(w.endpoint, now)).toBe(arnOf("pdef"));
    expect(await readFile(config, "utf8")).toMatch(/^\[profile default\]\n/);
    expectCleanOutput(run, [key.secretAccessKey, now.secretAccessKey]);
  });
});
