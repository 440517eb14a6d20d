// --json: exactly one JSON document on stdout on every exit path, early failures included; the
// message still goes to stderr.
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { motoEnv } from "../harness/moto.js";
import { cliPath, collectRun, keyOf, makeHome, profileText, readProfile, runCli } from "./cli.js";
import { createUsers, useWorld } from "./world.js";

const w = useWorld();

function oneDocument(stdout: string): { status: string; exitCode: number; error: string } {
  // JSON.parse refuses two documents in a row as it refuses none.
  return JSON.parse(stdout) as { status: string; exitCode: number; error: string };
}

describe("--json on early failures", () => {
  it("a missing credentials file, an unknown profile and usage errors each print one document", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const { home } = await makeHome(profileText("alice", alice));
    const cases: [string[], number, RegExp][] = [
      [["-c", "/nonexistent/credentials", "-t", "alice", "--json"], 1, /nonexistent/],
      [["-t", "nobody", "--json"], 1, /Profile nobody is not in/],
      [["--list", "-c", "/nonexistent/credentials", "--json"], 1, /nonexistent/],
      [["-t", "alice", "--old-key", "shred", "--json"], 2, /--old-key takes keep, deactivate or delete/],
      [["--json", "--no-such-flag"], 2, /no-such-flag/],
    ];
    for (const [args, exit, message] of cases) {
      const run = await runCli(args, { home, endpoint: w.endpoint });
      const where = `${args.join(" ")}: ${run.stderr}`;
      expect(run.status, where).toBe(exit);
      const doc = oneDocument(run.stdout);
      expect(doc, where).toMatchObject({ status: "failed", exitCode: exit });
      expect(doc.error, where).toMatch(message);
      expect(run.stderr, where).toMatch(message);
    }
  });

  it("a failure the command already reported in JSON is not reported twice", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const { home } = await makeHome(profileText("alice", alice));
    w.gate.inject({ action: "ListAccessKeys", fault: "accessDenied" });
    const run = await runCli(["-t", "alice", "--json"], { home, endpoint: w.endpoint });
    expect(run.status).toBe(1);
    expect(oneDocument(run.stdout)).toMatchObject({ profile: "alice", status: "failed" });
  });
});

/** Starts `keyctl args --json`, sends `signal` once the gate has seen `action`, and collects the run. */
async function signalledRun(home: string, args: readonly string[], action: string, signal: NodeJS.Signals) {
  const child = spawn(process.execPath, [cliPath(), ...args, "--json"], {
    env: { PATH: process.env.PATH ?? "", HOME: home, NO_COLOR: "1", ...motoEnv(w.endpoint) },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const run = collectRun(child);
  for (let i = 0; i < 1000 && !w.gate.calls.some((c) => c.action === action); i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(w.gate.calls.map((c) => c.action)).toContain(action);
  child.kill(signal);
  return run;
}

describe("--json when a signal stops the run", () => {
  it("SIGTERM while IAM hangs before any change: one cancelled document, exit 143, file unchanged", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const { home, credentials } = await makeHome(profileText("alice", alice));
    const before = await readFile(credentials, "utf8");
    w.gate.inject({ action: "ListAccessKeys", fault: "hang" });
    const run = await signalledRun(home, ["-t", "alice"], "ListAccessKeys", "SIGTERM");
    expect(run.status, run.stderr).toBe(143);
    const doc = oneDocument(run.stdout);
    expect(doc).toMatchObject({ status: "cancelled", exitCode: 143 });
    expect(doc.error).toMatch(/cancelled/);
    expect(run.stderr).toMatch(/keyctl: cancelled/);
    expect(await readFile(credentials, "utf8")).toBe(before);
  });

  it("Ctrl-C during CreateAccessKey: the step ends, then one partial document with exit 3", async () => {
    const { bob } = await createUsers(w.fx, { bob: "self" });
    const { home, credentials } = await makeHome(profileText("bob", bob));
    w.gate.inject({ action: "CreateAccessKey", fault: "delay", ms: 600 });
    const run = await signalledRun(home, ["-t", "bob"], "CreateAccessKey", "SIGINT");
    expect(run.status, run.stderr).toBe(3);
    const doc = JSON.parse(run.stdout) as { status: string; exitCode: number; notes: string[] };
    expect(doc).toMatchObject({ status: "partial", exitCode: 3 });
    expect(doc.notes.join("\n")).toMatch(/bob.*new key/);
    expect(keyOf(await readProfile(credentials, "bob")).accessKeyId).not.toBe(bob.accessKeyId);
  });
});
