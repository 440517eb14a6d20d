// --dry-run, --json, -k / --list-keys and --list-all-keys, as a user (or a script) sees them.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { keyOf, makeHome, profileText, readProfile, runCli } from "./cli.js";
import { createUsers, expectCleanOutput, keyIds, mutatingCalls, secretsIn, useWorld } from "./world.js";

const w = useWorld();

describe("--dry-run", () => {
  it("prints the plan and changes nothing: file bytes, IAM keys, no backup or journal, no IAM write", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const extra = await w.fx.createKey("alice");
    const text = `# c\n${profileText("alice", extra)}\n${profileText("alice-previous", alice)}`;
    const { home, credentials } = await makeHome(text);
    const keys = await keyIds(w.fx, "alice");
    const files = await readdir(join(home, ".aws"));
    const run = await runCli(["-t", "alice", "--dry-run", "--old-key", "delete"], {
      home,
      endpoint: w.endpoint,
    });
    expect(run.status, run.stderr).toBe(0);
    expect(await readFile(credentials, "utf8")).toBe(text);
    expect(await keyIds(w.fx, "alice")).toEqual(keys);
    expect(await readdir(join(home, ".aws"))).toEqual(files);
    expect(mutatingCalls(w)).toEqual([]);
    expect(w.proxy.calls.some((c) => c.action === "CreateAccessKey")).toBe(false);
    // The plan names what would happen: the -previous key deleted to make room, the old key's fate.
    expect(run.stdout).toContain(alice.accessKeyId);
    expect(run.stdout).toContain(extra.accessKeyId);
    expect(run.stdout).toMatch(/delete/i);
    expectCleanOutput(run, secretsIn(text));
  });

  it("--dry-run --json: one JSON document with the plan", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const { home } = await makeHome(profileText("alice", alice));
    const run = await runCli(["-t", "alice", "--dry-run", "--json"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    const doc = JSON.parse(run.stdout) as { status: string; oldKeyId: string; newKeyId: unknown };
    expect(doc.status).toBe("planned");
    expect(doc.oldKeyId).toBe(alice.accessKeyId);
    expect(doc.newKeyId).toBeNull();
    expect(mutatingCalls(w)).toEqual([]);
  });
});

describe("--json", () => {
  it("a rotation prints exactly one JSON document on stdout, without secrets", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const { home, credentials } = await makeHome(profileText("alice", alice));
    const run = await runCli(["-t", "alice", "--json"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    const doc = JSON.parse(run.stdout) as Record<string, unknown>;
    const now = keyOf(await readProfile(credentials, "alice"));
    expect(doc).toMatchObject({
      profile: "alice",
      status: "done",
      exitCode: 0,
      user: "alice",
      oldKeyId: alice.accessKeyId,
      newKeyId: now.accessKeyId,
      oldKey: "kept",
    });
    expect(typeof doc.backup).toBe("string");
    expectCleanOutput(run, [alice.secretAccessKey, now.secretAccessKey]);
  });

  it("a failure with --json still leaves stdout one JSON document (or nothing), the message on stderr", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const { home } = await makeHome(profileText("alice", alice));
    w.proxy.inject({ action: "CreateAccessKey", fault: "accessDenied", times: Number.POSITIVE_INFINITY });
    const run = await runCli(["-t", "alice", "--json"], { home, endpoint: w.endpoint });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^keyctl: .*CreateAccessKey/m);
    if (run.stdout.trim() !== "") {
      const doc = JSON.parse(run.stdout) as { status: string; exitCode: number };
      expect(doc.exitCode).toBe(1);
    }
  });

  it("a partial rotation (exit 3) with --json: the document carries the problem and the next steps", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const { home } = await makeHome(profileText("alice", alice));
    w.proxy.setPropagationDelay(60_000);
    const run = await runCli(["-t", "alice", "--json", "--verify-timeout", "1"], {
      home,
      endpoint: w.endpoint,
    });
    expect(run.status, run.stderr).toBe(3);
    const doc = JSON.parse(run.stdout) as { status: string; problem: string; nextSteps: string[] };
    expect(doc.status).toBe("partial");
    expect(doc.problem).toMatch(/did not work/);
    expect(doc.nextSteps.length).toBeGreaterThan(0);
  });
});

describe("-k / --list-keys and --list-all-keys", () => {
  it("-k shows the user's keys with CURRENT and PREVIOUS after a rotation", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const { home, credentials } = await makeHome(profileText("alice", alice));
    expect((await runCli(["-t", "alice"], { home, endpoint: w.endpoint })).status).toBe(0);
    const now = keyOf(await readProfile(credentials, "alice"));
    w.proxy.clearCalls();
    for (const flag of ["-k", "--list-keys"]) {
      const run = await runCli([flag, "-t", "alice"], { home, endpoint: w.endpoint });
      expect(run.status, run.stderr).toBe(0);
      const current = run.stdout.split("\n").find((l) => l.includes(now.accessKeyId));
      const previous = run.stdout.split("\n").find((l) => l.includes(alice.accessKeyId));
      expect(current).toMatch(/CURRENT/);
      expect(previous).toMatch(/PREVIOUS/);
      expect(current).toMatch(/Active/);
      expectCleanOutput(run, [alice.secretAccessKey, now.secretAccessKey]);
    }
    expect(mutatingCalls(w), "-k is read-only").toEqual([]);

    const json = await runCli(["-k", "-t", "alice", "--json"], { home, endpoint: w.endpoint });
    expect(json.status, json.stderr).toBe(0);
    const doc = JSON.parse(json.stdout) as {
      user: string;
      keys: { accessKeyId: string; marker: string | null }[];
    };
    expect(doc.user).toBe("alice");
    const markers = Object.fromEntries(doc.keys.map((k) => [k.accessKeyId, k.marker]));
    expect(markers).toEqual({ [now.accessKeyId]: "CURRENT", [alice.accessKeyId]: "PREVIOUS" });
  });

  it("--list-all-keys asks IAM about many users at once, and a throttled call still gets its answer", async () => {
    const { admin } = await createUsers(w.fx, { admin: "admin" });
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push((await w.fx.createUserWithKey(`many-${i}`)).accessKeyId);
    const { home } = await makeHome(profileText("admin", admin));
    // Slow answers make the calls that are in flight together each need a connection of their own.
    w.gate.inject({ action: "ListAccessKeys", fault: "delay", ms: 300 });
    // More refusals in a row than the SDK's own attempts (one here): keyctl's bound backs off and
    // tries again.
    w.gate.inject({
      action: "GetAccessKeyLastUsed",
      fault: "throttle",
      params: { AccessKeyId: ids[0]! },
      times: 2,
    });
    // Standard retries: the SDK's adaptive mode slows the whole client after a throttle, which is
    // right for users but only costs this test time.
    const run = await runCli(["--list-all-keys", "-a", "admin", "--json"], {
      home,
      endpoint: w.endpoint,
      env: { AWS_MAX_ATTEMPTS: "1", AWS_RETRY_MODE: "standard" },
    });
    expect(run.status, run.stderr).toBe(0);
    const doc = JSON.parse(run.stdout) as { keys: { accessKeyId: string }[] };
    expect(doc.keys.map((k) => k.accessKeyId)).toEqual(expect.arrayContaining(ids));
    const lastUsed = w.gate.calls.filter((c) => c.action === "GetAccessKeyLastUsed");
    expect(lastUsed.filter((c) => !c.injected).length, "every key's last use was asked and answered").toBe(
      31,
    );
    expect(w.gate.connections, "more than a handful of calls in flight at once").toBeGreaterThan(12);
  });

  it("--list-all-keys -a ADMIN lists every user's keys (read-only), also as JSON", async () => {
    const { admin, alice, bob } = await createUsers(w.fx, { admin: "admin", alice: "self", bob: "none" });
    const bob2 = await w.fx.createKey("bob");
    const { home } = await makeHome(profileText("admin", admin));
    const run = await runCli(["--list-all-keys", "-a", "admin"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    for (const [user, id] of [
      ["admin", admin.accessKeyId],
      ["alice", alice.accessKeyId],
      ["bob", bob.accessKeyId],
      ["bob", bob2.accessKeyId],
    ] as const) {
      const line = run.stdout.split("\n").find((l) => l.includes(id));
      expect(line, id).toBeDefined();
      expect(line).toContain(user);
    }
    expect(mutatingCalls(w)).toEqual([]);
    const json = await runCli(["--list-all-keys", "-a", "admin", "--json"], { home, endpoint: w.endpoint });
    expect(json.status, json.stderr).toBe(0);
    const doc = JSON.parse(json.stdout) as {
      users: number;
      keys: { userName: string; accessKeyId: string }[];
    };
    expect(doc.users).toBe(3);
    expect(doc.keys.map((k) => k.accessKeyId).sort()).toEqual(
      [admin.accessKeyId, alice.accessKeyId, bob.accessKeyId, bob2.accessKeyId].sort(),
    );
    expectCleanOutput(json, [admin.secretAccessKey, alice.secretAccessKey, bob.secretAccessKey]);
  });
});
