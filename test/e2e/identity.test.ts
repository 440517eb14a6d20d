// Rule 9 and the 2-key limit: keyctl proves whose key it rotates, and never deletes a key in use.
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { callerIdentity } from "../harness/fixtures.js";
import { keyOf, makeHome, profileText, readProfile, runCli } from "./cli.js";
import {
  ACCOUNT,
  arnOf,
  backupsOf,
  createUserInAccount,
  createUsers,
  expectCleanOutput,
  expectOneProblemLine,
  expectSafeOutcome,
  keyIds,
  mutatingCalls,
  secretsIn,
  snapshot,
  useWorld,
} from "./world.js";

const w = useWorld();

/** A refusal: exit 1, one clear line, nothing changed in the file or in IAM, no key created. */
async function expectRefusal(
  run: Awaited<ReturnType<typeof runCli>>,
  before: Awaited<ReturnType<typeof snapshot>>,
  users: string[],
  pattern: RegExp,
) {
  expect(run.status, run.stderr).toBe(1);
  expectOneProblemLine(run, pattern);
  expect(await readFile(before.credentials, "utf8")).toBe(before.text);
  for (const u of users) expect(await keyIds(w.fx, u)).toEqual(before.keys[u]);
  expect(mutatingCalls(w)).toEqual([]);
  expect(await backupsOf(before.credentials)).toHaveLength(0);
  expectCleanOutput(run, secretsIn(before.text));
}

describe("a profile named like another IAM user", () => {
  for (const mode of ["admin", "self"] as const) {
    it(`rotates the real owner's key and never touches the namesake (${mode})`, async () => {
      const { admin, alice, bob } = await createUsers(w.fx, { admin: "admin", alice: "self", bob: "self" });
      // Profile "bob" holds alice's key; IAM user bob exists and has a key of his own.
      const { home, credentials } = await makeHome(
        `${profileText("admin", admin)}\n${profileText("bob", alice)}`,
      );
      const bobKeys = await keyIds(w.fx, "bob");
      const args = mode === "admin" ? ["-a", "admin", "-t", "bob"] : ["-t", "bob"];
      const run = await runCli(args, { home, endpoint: w.endpoint });
      expect(run.status, run.stderr).toBe(0);
      const next = keyOf(await readProfile(credentials, "bob"));
      expect(await callerIdentity(w.proxy.url, next)).toBe(arnOf("alice"));
      expect(keyOf(await readProfile(credentials, "bob-previous"))).toEqual(alice);
      expect(await keyIds(w.fx, "alice")).toEqual([alice.accessKeyId, next.accessKeyId].sort());
      expect(await keyIds(w.fx, "bob")).toEqual(bobKeys);
      expect(await callerIdentity(w.proxy.url, bob)).toBe(arnOf("bob"));
      const touchingBob = w.proxy.calls.filter((c) => c.params.UserName === "bob");
      expect(touchingBob, "no call may name IAM user bob").toEqual([]);
      expect(run.stdout).toContain("alice");
    });
  }

  it("when the key no longer signs, IAM is searched for its owner; bob is only read, never changed", async () => {
    const { admin, alice, bob } = await createUsers(w.fx, { admin: "admin", alice: "self", bob: "self" });
    await w.fx.setKeyStatus("alice", alice.accessKeyId, "Inactive");
    const { home, credentials } = await makeHome(
      `${profileText("admin", admin)}\n${profileText("bob", alice)}`,
    );
    const bobKeys = await keyIds(w.fx, "bob");
    const run = await runCli(["-a", "admin", "-t", "bob"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    const next = keyOf(await readProfile(credentials, "bob"));
    expect(await callerIdentity(w.proxy.url, next)).toBe(arnOf("alice"));
    expect(await keyIds(w.fx, "bob")).toEqual(bobKeys);
    expect(await callerIdentity(w.proxy.url, bob)).toBe(arnOf("bob"));
    expect(mutatingCalls(w).filter((c) => c.params.UserName !== "alice")).toEqual([]);
    expect(mutatingCalls(w).filter((c) => c.action === "CreateAccessKey")).toHaveLength(1);
  });
});

describe("the 2-key limit", () => {
  it("the unused key (the newer one) goes only with --yes; the older key in use is never touched", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    await new Promise((resolve) => setTimeout(resolve, 1100)); // IAM dates have 1 s resolution
    const unused = await w.fx.createKey("alice"); // newer, in no profile
    const dates = Object.fromEntries(
      (await w.fx.listKeys("alice")).map((k) => [k.accessKeyId, k.createDate]),
    );
    expect(dates[alice.accessKeyId]!.getTime(), "the key in use is the older one").toBeLessThan(
      dates[unused.accessKeyId]!.getTime(),
    );
    const { home, credentials } = await makeHome(profileText("alice", alice));
    const before = await snapshot(w.fx, credentials, "alice", ["alice"]);

    const started = Date.now();
    const refused = await runCli(["-t", "alice"], { home, endpoint: w.endpoint });
    expect(refused.status, refused.stderr).toBe(2);
    expect(Date.now() - started, "no waiting for an answer nobody can give").toBeLessThan(15_000);
    expectOneProblemLine(refused, /--yes/);
    expect(refused.stderr).toContain(unused.accessKeyId);
    expect(await readFile(credentials, "utf8")).toBe(before.text);
    expect(await keyIds(w.fx, "alice")).toEqual(before.keys.alice);
    expect(mutatingCalls(w)).toEqual([]);
    expect(await backupsOf(credentials)).toHaveLength(0);

    w.proxy.clearCalls();
    const run = await runCli(["-t", "alice", "--yes"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    const next = keyOf(await readProfile(credentials, "alice"));
    expect(await keyIds(w.fx, "alice")).toEqual([alice.accessKeyId, next.accessKeyId].sort());
    expect(keyOf(await readProfile(credentials, "alice-previous"))).toEqual(alice);
    expect(await callerIdentity(w.proxy.url, alice)).toBe(arnOf("alice"));
    expect(await callerIdentity(w.proxy.url, next)).toBe(arnOf("alice"));
    const deletes = w.proxy.calls.filter((c) => c.action === "DeleteAccessKey");
    expect(deletes.map((c) => c.params.AccessKeyId)).toEqual([unused.accessKeyId]);
    expect(run.stdout + run.stderr).toContain(unused.accessKeyId);
    expectCleanOutput(run, [alice.secretAccessKey, unused.secretAccessKey, next.secretAccessKey]);
  });

  it("the key in <profile>-previous goes without asking: two unattended rotations in a row", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const { home, credentials } = await makeHome(profileText("alice", alice));
    const first = await runCli(["-t", "alice"], { home, endpoint: w.endpoint });
    expect(first.status, first.stderr).toBe(0);
    const k1 = keyOf(await readProfile(credentials, "alice"));
    const second = await runCli(["-t", "alice"], { home, endpoint: w.endpoint });
    expect(second.status, second.stderr).toBe(0);
    const k2 = keyOf(await readProfile(credentials, "alice"));
    expect(keyOf(await readProfile(credentials, "alice-previous"))).toEqual(k1);
    expect(await keyIds(w.fx, "alice")).toEqual([k1.accessKeyId, k2.accessKeyId].sort());
    expect(second.stdout + second.stderr).toContain(alice.accessKeyId);
    expect(await callerIdentity(w.proxy.url, k1)).toBe(arnOf("alice"));
    expect(await callerIdentity(w.proxy.url, k2)).toBe(arnOf("alice"));
    const deleted = w.proxy.calls
      .filter((c) => c.action === "DeleteAccessKey")
      .map((c) => c.params.AccessKeyId);
    expect(deleted).toEqual([alice.accessKeyId]);
  });

  it("both keys in use (the auth profile signs with the other one): refusal that explains, nothing changed", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const ops = await w.fx.createKey("alice");
    const { home, credentials } = await makeHome(
      `${profileText("alice", alice)}\n${profileText("alice-ops", ops)}`,
    );
    const before = await snapshot(w.fx, credentials, "alice", ["alice"]);
    const run = await runCli(["-a", "alice-ops", "-t", "alice"], { home, endpoint: w.endpoint });
    await expectRefusal(run, before, ["alice"], /both are in use/);
    expect(run.stderr).toContain(ops.accessKeyId);
    expect(await callerIdentity(w.proxy.url, ops)).toBe(arnOf("alice"));
  });

  it("the other key held by another profile of the file: refusal naming that profile", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const ci = await w.fx.createKey("alice");
    const { home, credentials } = await makeHome(
      `${profileText("alice", alice)}\n${profileText("alice-ci", ci)}`,
    );
    const before = await snapshot(w.fx, credentials, "alice", ["alice"]);
    const run = await runCli(["-t", "alice", "--yes"], { home, endpoint: w.endpoint });
    await expectRefusal(run, before, ["alice"], /alice-ci/);
  });
});

describe("refusals", () => {
  const temporary = [
    [
      "an ASIA key",
      "aws_access_key_id = ASIAQWERTYUIOPASDFGH\naws_secret_access_key = 1VOqg6YYZYn9ZhyiA4uoRgnatmUdjAWtGSU8po+7\n",
    ],
    [
      "a session token",
      "aws_access_key_id = AKIAQWERTYUIOPASDFGH\naws_secret_access_key = 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\naws_session_token = FwoGZXIvYXdzE\n",
    ],
  ] as const;
  for (const [what, body] of temporary) {
    it(`temporary credentials as the target (${what})`, async () => {
      const { admin } = await createUsers(w.fx, { admin: "admin" });
      const { home, credentials } = await makeHome(`${profileText("admin", admin)}\n[temp]\n${body}`);
      const before = await snapshot(w.fx, credentials, "temp", ["admin"]);
      const run = await runCli(["-a", "admin", "-t", "temp"], { home, endpoint: w.endpoint });
      await expectRefusal(run, before, ["admin"], /temporary credentials/);
      expect(w.proxy.calls, "refused before any AWS call").toEqual([]);
    });
  }

  it("the account's root key (STS answers with the root ARN)", async () => {
    const { admin, rootish } = await createUsers(w.fx, { admin: "admin", rootish: "self" });
    w.gate.inject({
      action: "GetCallerIdentity",
      signer: rootish.accessKeyId,
      fault: "respond",
      body: `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::${ACCOUNT}:root</Arn><UserId>${ACCOUNT}</UserId><Account>${ACCOUNT}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
    });
    const { home, credentials } = await makeHome(
      `${profileText("admin", admin)}\n${profileText("root", rootish)}`,
    );
    const before = await snapshot(w.fx, credentials, "root", ["admin", "rootish"]);
    for (const args of [
      ["-a", "admin", "-t", "root"],
      ["-t", "root"],
    ]) {
      const run = await runCli(args, { home, endpoint: w.endpoint });
      await expectRefusal(run, before, ["admin", "rootish"], /root/);
    }
  });

  it("auth and target in different accounts", async () => {
    const { admin } = await createUsers(w.fx, { admin: "admin" });
    const carol = await createUserInAccount(w, "carol", "222222222222");
    expect(await callerIdentity(w.proxy.url, carol)).toBe(arnOf("carol", "222222222222"));
    const { home, credentials } = await makeHome(
      `${profileText("admin", admin)}\n${profileText("carol", carol)}`,
    );
    const before = await snapshot(w.fx, credentials, "carol", ["admin"]);
    const run = await runCli(["-a", "admin", "-t", "carol"], { home, endpoint: w.endpoint });
    await expectRefusal(run, before, ["admin"], /222222222222.*123456789012|123456789012.*222222222222/);
    expect(await callerIdentity(w.proxy.url, carol)).toBe(arnOf("carol", "222222222222"));
  });

  it("a key no user owns (deleted in IAM), seen through an admin profile", async () => {
    const { admin, alice } = await createUsers(w.fx, { admin: "admin", alice: "self" });
    await w.fx.createUser("bob");
    await w.fx.deleteKey("alice", alice.accessKeyId);
    const { home, credentials } = await makeHome(
      `${profileText("admin", admin)}\n${profileText("alice", alice)}`,
    );
    const before = await snapshot(w.fx, credentials, "alice", ["admin", "alice", "bob"]);
    const run = await runCli(["-a", "admin", "-t", "alice"], { home, endpoint: w.endpoint });
    await expectRefusal(run, before, ["admin", "alice", "bob"], /No IAM user .*owns key/);
    expect(run.stderr).toContain(alice.accessKeyId);
  });

  it("a deleted key rotating itself: a one-line explanation, nothing changed", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    await w.fx.deleteKey("alice", alice.accessKeyId);
    const { home, credentials } = await makeHome(profileText("alice", alice));
    const before = await snapshot(w.fx, credentials, "alice", ["alice"]);
    const run = await runCli(["-t", "alice"], { home, endpoint: w.endpoint });
    await expectRefusal(run, before, ["alice"], /InvalidClientTokenId|does not know the key|deleted/);
  });
});

describe("--user NAME", () => {
  it("the right name rotates that user's key", async () => {
    const { admin, alice } = await createUsers(w.fx, { admin: "admin", alice: "self", bob: "self" });
    const { home, credentials } = await makeHome(
      `${profileText("admin", admin)}\n${profileText("bob", alice)}`,
    );
    const before = await snapshot(w.fx, credentials, "bob", ["admin", "alice", "bob"]);
    const run = await runCli(["-a", "admin", "-t", "bob", "--user", "alice"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    const outcome = await expectSafeOutcome(w, before, run, { users: ["admin", "alice"] });
    expect(outcome.file).toBe("new");
    expect(await callerIdentity(w.proxy.url, outcome.newKey!)).toBe(arnOf("alice"));
    expect(await keyIds(w.fx, "bob")).toEqual(before.keys.bob);
  });

  for (const [name, pattern] of [
    ["bob", /not one of IAM user bob's keys/],
    ["nobody", /no IAM user named nobody/],
  ] as const) {
    it(`a wrong name (${name}) is refused, nothing changed`, async () => {
      const { admin, alice } = await createUsers(w.fx, { admin: "admin", alice: "self", bob: "self" });
      const { home, credentials } = await makeHome(
        `${profileText("admin", admin)}\n${profileText("alice", alice)}`,
      );
      const before = await snapshot(w.fx, credentials, "alice", ["admin", "alice", "bob"]);
      const run = await runCli(["-a", "admin", "-t", "alice", "--user", name], {
        home,
        endpoint: w.endpoint,
      });
      await expectRefusal(run, before, ["admin", "alice", "bob"], pattern);
    });
  }
});
