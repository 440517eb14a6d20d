// Trust across machines and reruns: the crash clean-up removes only the key it can prove the dead
// call made, never another machine's; a rerun never retires the last key AWS accepted; keys that the
// AWS config file holds are in use. Two HOME directories sharing one IAM user are two machines.
import { chown, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { callerIdentity } from "../harness/fixtures.js";
import { type CliRun, keyOf, makeHome, profileText, readProfile, runCli } from "./cli.js";
import { arnOf, createUsers, keyIds, useWorld } from "./world.js";

const w = useWorld();

/** Runs keyctl and SIGKILLs it once the gate has seen `action` (it is then hanging inside it). */
async function killedInside(action: string, args: string[], home: string): Promise<CliRun> {
  const run = runCli(args, { home, endpoint: w.endpoint, killAfterMs: 30_000 });
  for (let i = 0; i < 300 && !w.gate.calls.some((c) => c.action === action); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  // Moto has acted by now (the fault holds back only its answer); give it a moment to finish.
  await new Promise((r) => setTimeout(r, 300));
  const pid = await pidOf(run);
  if (pid) process.kill(pid, "SIGKILL");
  return run;
}

// runCli does not expose the child; the CLI is the only node child of this test with our HOME.
async function pidOf(_run: Promise<CliRun>): Promise<number | undefined> {
  const { execFileSync } = await import("node:child_process");
  const out = execFileSync("pgrep", ["-P", String(process.pid), "-f", "keyctl.mjs"], { encoding: "utf8" });
  return Number(out.trim().split("\n")[0]) || undefined;
}

describe("two machines, one IAM user", () => {
  it("A is killed inside CreateAccessKey, B rotates, A reruns: B's key survives and is reported, not deleted", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const text = profileText("alice", alice, "region = eu-west-1\n");
    const a = await makeHome(text);
    const b = await makeHome(text);

    w.gate.inject({ action: "CreateAccessKey", fault: "hang", when: "after", times: 1 });
    const killed = await killedInside("CreateAccessKey", ["-t", "alice"], a.home);
    expect(killed.signal).toBe("SIGKILL");
    const strayA = (await keyIds(w.fx, "alice")).filter((id) => id !== alice.accessKeyId);
    expect(strayA, "moto made A's key, whose answer never came").toHaveLength(1);
    expect(await readFile(`${a.credentials}.keyctl-journal`, "utf8")).toContain('"alice"');

    // Machine B: at the 2-key limit, it makes room with --yes and rotates.
    const onB = await runCli(["-t", "alice", "--yes"], { home: b.home, endpoint: w.endpoint });
    expect(onB.status, onB.stderr).toBe(0);
    const keyB = keyOf(await readProfile(b.credentials, "alice"));
    expect(keyB.accessKeyId).not.toBe(alice.accessKeyId);

    // Machine A again: B's key is new, held by no profile of A's file, created right after A's
    // crashed call; it is still not A's to delete.
    const rerun = await runCli(["-t", "alice"], { home: a.home, endpoint: w.endpoint });
    expect(await keyIds(w.fx, "alice")).toContain(keyB.accessKeyId);
    expect(await callerIdentity(w.proxy.url, keyB)).toBe(arnOf("alice"));
    expect(rerun.stderr).toContain(
      `aws iam delete-access-key --user-name alice --access-key-id ${keyB.accessKeyId}`,
    );
    expect(
      w.proxy.calls.filter(
        (c) => c.action === "DeleteAccessKey" && c.params.AccessKeyId === keyB.accessKeyId,
      ),
    ).toEqual([]);
  }, 60_000);

  it("alone, A's rerun removes the key its crashed call made, and says so", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const a = await makeHome(profileText("alice", alice));
    w.gate.inject({ action: "CreateAccessKey", fault: "hang", when: "after", times: 1 });
    await killedInside("CreateAccessKey", ["-t", "alice"], a.home);
    const stray = (await keyIds(w.fx, "alice")).filter((id) => id !== alice.accessKeyId);
    expect(stray).toHaveLength(1);

    const rerun = await runCli(["-t", "alice"], { home: a.home, endpoint: w.endpoint });
    expect(rerun.status, rerun.stderr).toBe(0);
    expect(rerun.stderr).toMatch(
      new RegExp(`Removed key ${stray[0]} of IAM user alice: an interrupted keyctl run`),
    );
    expect(await keyIds(w.fx, "alice")).not.toContain(stray[0]);
  }, 60_000);
});

describe("a journal keyctl did not write itself", () => {
  async function planted(owner?: number) {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const home = await makeHome(profileText("alice", alice));
    const stray = await w.fx.createKey("alice"); // held by nobody, created just now, never used
    const at = new Date().toISOString();
    const journal = `${home.credentials}.keyctl-journal`;
    const entry = {
      profile: "alice",
      userName: "alice",
      account: "123456789012",
      keysBefore: [],
      startedAt: at,
      createSentAt: at,
      pid: 999_999_999,
    };
    await writeFile(journal, JSON.stringify({ version: 1, entries: { alice: entry } }), { mode: 0o600 });
    if (owner !== undefined) await chown(journal, owner, owner);
    return { home, alice, stray };
  }

  it("owned by another user: refused in one line, no key deleted", async () => {
    const { home, alice, stray } = await planted(1234);
    const run = await runCli(["-t", "alice"], { home: home.home, endpoint: w.endpoint });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/keyctl: keyctl does not trust the rotation journal .*owned by uid 1234/);
    expect(await keyIds(w.fx, "alice")).toEqual([alice.accessKeyId, stray.accessKeyId].sort());
    expect(w.proxy.calls.filter((c) => c.action === "DeleteAccessKey")).toEqual([]);
  });

  it("the same journal, this user's and 0600, is trusted: the unused key in its window goes", async () => {
    const { home, stray } = await planted();
    const run = await runCli(["-t", "alice"], { home: home.home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toContain(`Removed key ${stray.accessKeyId}`);
  });
});

describe("the last proven key", () => {
  it("a rerun after exit 3 (the saved key never accepted) deletes nothing and exits 3", async () => {
    const { admin, alice } = await createUsers(w.fx, { admin: "admin", alice: "self" });
    const home = await makeHome(`${profileText("admin", admin)}\n${profileText("alice", alice)}`);
    w.proxy.setPropagationDelay(600_000);
    const first = await runCli(["-a", "admin", "-t", "alice", "--verify-timeout", "2"], {
      home: home.home,
      endpoint: w.endpoint,
    });
    expect(first.status, first.stderr).toBe(3);
    const calls = w.proxy.calls.length;
    const rerun = await runCli(
      ["-a", "admin", "-t", "alice", "--old-key", "delete", "--verify-timeout", "2"],
      {
        home: home.home,
        endpoint: w.endpoint,
      },
    );
    expect(rerun.status, rerun.stderr).toBe(3);
    expect(rerun.stderr).toMatch(/still not accepted by AWS.*keeps the key in \[alice-previous\]/);
    const mutating = w.proxy.calls
      .slice(calls)
      .filter((c) => ["CreateAccessKey", "DeleteAccessKey", "UpdateAccessKey"].includes(c.action));
    expect(mutating).toEqual([]);
    expect(await callerIdentity(w.proxy.url, alice)).toBe(arnOf("alice"));
  }, 60_000);

  it("a second run a moment after the first, while it verifies, is refused with the first one's pid", async () => {
    const { admin, alice } = await createUsers(w.fx, { admin: "admin", alice: "self" });
    const home = await makeHome(`${profileText("admin", admin)}\n${profileText("alice", alice)}`);
    w.proxy.setPropagationDelay(4_000);
    const args = ["-a", "admin", "-t", "alice"];
    const first = runCli(args, { home: home.home, endpoint: w.endpoint });
    // Start the second once the first has saved its new key and is waiting for AWS to accept it.
    for (let i = 0; i < 200; i++) {
      if ((await readFile(home.credentials, "utf8")).includes("[alice-previous]")) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    const second = await runCli(args, { home: home.home, endpoint: w.endpoint });
    const done = await first;
    expect(done.status, done.stderr).toBe(0);
    expect(second.status).toBe(1);
    expect(second.stderr).toMatch(/keyctl: Another keyctl \(pid \d+\) is rotating profile alice right now/);
    expect(await callerIdentity(w.proxy.url, alice), "the old key was not retired").toBe(arnOf("alice"));
  }, 60_000);
});

describe("keys in use anywhere on this machine", () => {
  it("a key a [profile x] of the AWS config file holds is never deleted to make room", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const ci = await w.fx.createKey("alice");
    const home = await makeHome(profileText("alice", alice));
    await writeFile(
      join(home.home, ".aws", "config"),
      `[profile ci]\nAWS_ACCESS_KEY_ID = ${ci.accessKeyId}\naws_secret_access_key = ${ci.secretAccessKey}\n`,
    );
    const run = await runCli(["-t", "alice", "--yes"], { home: home.home, endpoint: w.endpoint });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/is used by profile ci of the AWS config file/);
    expect(await keyIds(w.fx, "alice")).toEqual([alice.accessKeyId, ci.accessKeyId].sort());
  });

  it("the confirmation to delete another key shows its last use, and without a terminal names --yes", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const other = await w.fx.createKey("alice");
    await callerIdentity(w.proxy.url, other); // used today, from somewhere else
    const home = await makeHome(profileText("alice", alice));
    const run = await runCli(["-t", "alice"], { home: home.home, endpoint: w.endpoint });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(
      /CAUTION: it was last used \d{4}-\d\d-\d\d \d\d:\d\d UTC \(sts in [\w-]+\), 0 day\(s\) ago/,
    );
    expect(run.stderr).toContain("--yes");
    expect(await keyIds(w.fx, "alice")).toContain(other.accessKeyId);

    // Two machines of one person: that key is the other machine's current one. A "y" piped (or
    // typed) in passing does not delete a key used this week; only --yes does.
    const piped = await runCli(["-t", "alice"], { home: home.home, endpoint: w.endpoint, input: "y\n" });
    expect(piped.status).toBe(2);
    expect(piped.stderr).toMatch(/0 day\(s\) ago.*keyctl changed nothing; .*run again with --yes/);
    expect(piped.stderr).toContain(
      `aws iam delete-access-key --user-name alice --access-key-id ${other.accessKeyId}`,
    );
    expect(await keyIds(w.fx, "alice")).toContain(other.accessKeyId);
    expect(w.proxy.calls.filter((c) => c.action === "CreateAccessKey")).toEqual([]);

    const yes = await runCli(["-t", "alice", "--yes"], { home: home.home, endpoint: w.endpoint });
    expect(yes.status, yes.stderr).toBe(0);
    expect(w.proxy.calls.filter((c) => c.action === "CreateAccessKey")).toHaveLength(1);
    expect(await keyIds(w.fx, "alice")).not.toContain(other.accessKeyId);
    expect(yes.stderr).toMatch(/Deleted key .* 0 day\(s\) ago/);
  });

  it("a key AWS reports unused is deleted to make room on a plain yes, after the question", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const other = await w.fx.createKey("alice");
    const home = await makeHome(profileText("alice", alice));
    const run = await runCli(["-t", "alice"], { home: home.home, endpoint: w.endpoint, input: "y\n" });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/AWS reports no use of it\. Delete it\? \[y\/N\]/);
    expect(await keyIds(w.fx, "alice")).not.toContain(other.accessKeyId);
  });
});

describe("a profile of the user's own named like keyctl's -previous copy", () => {
  it("is listed, never overwritten; --previous-name is the way out", async () => {
    const { alice, bob } = await createUsers(w.fx, { alice: "self", bob: "self" });
    const text = `${profileText("alice", alice)}\n${profileText("alice-previous", bob)}`;
    const home = await makeHome(text);
    const list = await runCli(["--list"], { home: home.home, endpoint: w.endpoint });
    expect(list.stdout).toMatch(/^\s+alice-previous\s/m);

    const refused = await runCli(["-t", "alice"], { home: home.home, endpoint: w.endpoint });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(
      /keyctl: \[alice-previous\] holds a working key of .*user\/bob.*--previous-name/,
    );
    expect(await readFile(home.credentials, "utf8")).toBe(text);
    expect(w.proxy.calls.filter((c) => c.action === "CreateAccessKey")).toEqual([]);

    const other = await runCli(["-t", "alice", "--previous-name", "alice-old"], {
      home: home.home,
      endpoint: w.endpoint,
    });
    expect(other.status, other.stderr).toBe(0);
    expect(keyOf(await readProfile(home.credentials, "alice-old"))).toEqual(alice);
    expect(keyOf(await readProfile(home.credentials, "alice-previous"))).toEqual(bob);
    expect(await callerIdentity(w.proxy.url, bob)).toBe(arnOf("bob"));
  });
});
