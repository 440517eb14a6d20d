// Self and admin rotation, the four ways to name the profiles, and what the file looks like after.
import { chmod, lstat, mkdir, readFile, readlink, rm, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { callerIdentity } from "../harness/fixtures.js";
import { keyOf, makeHome, profileText, readProfile, runCli } from "./cli.js";
import {
  arnOf,
  backupsOf,
  createUsers,
  expectCleanOutput,
  expectSafeOutcome,
  keyIds,
  secretsIn,
  snapshot,
  useWorld,
} from "./world.js";

const w = useWorld();

/** What a complete rotation of `profile` must have left: new working key, old key + settings in -previous. */
async function expectRotated(
  credentials: string,
  profile: string,
  user: string,
  old: { accessKeyId: string; secretAccessKey: string },
  settings: Record<string, string> = {},
) {
  const next = keyOf(await readProfile(credentials, profile));
  expect(next.accessKeyId).not.toBe(old.accessKeyId);
  expect(await callerIdentity(w.proxy.url, next)).toBe(arnOf(user));
  const prev = await readProfile(credentials, `${profile}-previous`);
  expect(keyOf(prev)).toEqual(old);
  for (const [k, v] of Object.entries(settings)) {
    expect(prev?.get(k)).toBe(v);
    expect((await readProfile(credentials, profile))?.get(k)).toBe(v);
  }
  expect(await keyIds(w.fx, user)).toEqual([old.accessKeyId, next.accessKeyId].sort());
  expect((await stat(credentials)).mode & 0o777).toBe(0o600);
  return next;
}

/** The one backup of this run: mode 0600, the exact bytes from before. */
async function expectBackupOf(credentials: string, before: string) {
  const backups = await backupsOf(credentials);
  expect(backups).toHaveLength(1);
  expect(await readFile(backups[0]!, "utf8")).toBe(before);
  expect((await lstat(backups[0]!)).mode & 0o777).toBe(0o600);
}

describe("self-service rotation", () => {
  it("rotates the key, keeps the old one in -previous and leaves the rest of the file byte-identical", async () => {
    const { alice: key } = await createUsers(w.fx, { alice: "self" });
    const before = `# my comment\r\n[other]\r\naws_access_key_id=AKIAOTHER\r\naws_secret_access_key=Q2hhbmdlTWVJbW1lZGlhdGVseVBsZWFzZTEyMwZz\r\n\r\n${profileText("alice", key, "region = eu-west-1\n").replaceAll("\n", "\r\n")}; trailing`;
    const { home, credentials } = await makeHome(before);
    const run = await runCli(["-t", "alice"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    expectCleanOutput(run, [key.secretAccessKey, ...secretsIn(await readFile(credentials, "utf8"))]);
    const next = await expectRotated(credentials, "alice", "alice", key, { region: "eu-west-1" });
    const after = await readFile(credentials, "utf8");
    expect(
      after.startsWith(
        "# my comment\r\n[other]\r\naws_access_key_id=AKIAOTHER\r\naws_secret_access_key=Q2hhbmdlTWVJbW1lZGlhdGVseVBsZWFzZTEyMwZz\r\n\r\n[alice]\r\n",
      ),
    ).toBe(true);
    expect(after).toContain("; trailing");
    expect(after, "every line ends in CRLF").not.toMatch(/[^\r]\n/);
    expect(after.replace(/\[alice-previous\][^[]*/, "")).toContain(
      `aws_access_key_id = ${next.accessKeyId}\r\naws_secret_access_key = ${next.secretAccessKey}\r\nregion = eu-west-1\r\n`,
    );
    await expectBackupOf(credentials, before);
    // The calls were signed by the profile's own (old) key: self-service.
    const create = w.proxy.calls.find((c) => c.action === "CreateAccessKey");
    expect(create?.accessKeyId).toBe(key.accessKeyId);
    expect(run.stdout).toContain(next.accessKeyId);
  });

  it("keeps comments (# and ;), blank lines, key order, unknown keys and a missing final newline", async () => {
    const { alice: key } = await createUsers(w.fx, { alice: "self" });
    const head = "; header comment\n\n[default]\nregion = us-west-2\noutput=json\n\n";
    const alice = `[alice]\n# the key\naws_secret_access_key = ${key.secretAccessKey}\n  ; indented comment\naws_access_key_id = ${key.accessKeyId}\nregion=ap-south-1\ncli_pager =\nx_custom = keep me\n\n`;
    const tail =
      "[zeta]\naws_access_key_id = AKIAZETA\naws_secret_access_key = PtYgjmUhBel31iEl2hpChYgCfrL1spNxnyVmihA/\n# last line, no newline";
    const before = head + alice + tail;
    const { home, credentials } = await makeHome(before);
    const run = await runCli(["alice"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    const next = await expectRotated(credentials, "alice", "alice", key, {
      region: "ap-south-1",
      x_custom: "keep me",
    });
    const after = await readFile(credentials, "utf8");
    // The old section's entries (not its comments) are appended as [alice-previous], under keyctl's
    // marker; the file still ends without a newline. Put the old key back into [alice]: the rest is the file as it was.
    const previous = `[alice-previous]\n# keyctl: previous key of [alice]\naws_secret_access_key = ${key.secretAccessKey}\naws_access_key_id = ${key.accessKeyId}\nregion=ap-south-1\ncli_pager =\nx_custom = keep me`;
    expect(after.endsWith(`\n\n${previous}`)).toBe(true);
    expect(
      after
        .slice(0, -`\n\n${previous}`.length)
        .replace(next.accessKeyId, key.accessKeyId)
        .replace(next.secretAccessKey, key.secretAccessKey),
    ).toBe(before);
    await expectBackupOf(credentials, before);
  });
});

describe("admin rotation", () => {
  it("-a ADMIN -t P calls IAM as ADMIN and rotates P's key; ADMIN's own profile is untouched", async () => {
    const { admin, alice } = await createUsers(w.fx, { admin: "admin", alice: "none" });
    const before = `${profileText("admin", admin)}\n${profileText("alice", alice, "region = eu-central-1\n")}`;
    const { home, credentials } = await makeHome(before);
    const run = await runCli(["-a", "admin", "-t", "alice"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    await expectRotated(credentials, "alice", "alice", alice, { region: "eu-central-1" });
    expect(keyOf(await readProfile(credentials, "admin"))).toEqual(admin);
    expect(await keyIds(w.fx, "admin")).toEqual([admin.accessKeyId]);
    const iamCalls = w.proxy.calls.filter((c) => c.service === "iam");
    expect(iamCalls.length).toBeGreaterThan(0);
    for (const c of iamCalls) expect(c.accessKeyId, c.action).toBe(admin.accessKeyId);
    expect(iamCalls.find((c) => c.action === "CreateAccessKey")?.params.UserName).toBe("alice");
    await expectBackupOf(credentials, before);
    expectCleanOutput(run, [
      admin.secretAccessKey,
      alice.secretAccessKey,
      ...secretsIn(await readFile(credentials, "utf8")),
    ]);
  });

  it("-a P alone means P is both the auth and the target profile", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const { home, credentials } = await makeHome(profileText("alice", alice));
    const run = await runCli(["-a", "alice"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    await expectRotated(credentials, "alice", "alice", alice);
    expect(w.proxy.calls.find((c) => c.action === "CreateAccessKey")?.accessKeyId).toBe(alice.accessKeyId);
  });
});

describe("where the credentials file is", () => {
  it("a symlinked credentials file stays a symlink; its target gets the new key", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const before = `# dotfiles\n${profileText("alice", alice)}`;
    const { home } = await makeHome("");
    const link = join(home, ".aws", "credentials");
    const real = join(home, "dotfiles", "aws-credentials");
    await mkdir(join(home, "dotfiles"));
    await writeFile(real, before, { mode: 0o600 });
    await rm(link);
    await symlink("../dotfiles/aws-credentials", link);
    const run = await runCli(["-t", "alice"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readlink(link)).toBe("../dotfiles/aws-credentials");
    await expectRotated(real, "alice", "alice", alice);
    expect(await readFile(real, "utf8")).toMatch(/^# dotfiles\n\[alice\]\n/);
    const backups = await backupsOf(link);
    expect(backups).toHaveLength(1);
    expect(await readFile(backups[0]!, "utf8")).toBe(before);
  });

  for (const how of ["-c", "--credentials", "AWS_SHARED_CREDENTIALS_FILE"] as const) {
    it(`${how} PATH is the file rotated and the file the auth profile is read from`, async () => {
      const { admin, alice } = await createUsers(w.fx, { admin: "admin", alice: "none" });
      // The default file exists but holds neither profile: everything must come from PATH.
      const decoy =
        "[decoy]\naws_access_key_id = AKIADECOY\naws_secret_access_key = 2O76UMFxFkM/R5Kjp1vRt+1fjORS/6ilI8ihN5KX\n";
      const { home, credentials: defaultFile } = await makeHome(decoy);
      const path = join(home, "elsewhere", "creds.ini");
      await mkdir(join(home, "elsewhere"));
      const before = `${profileText("admin", admin)}\n${profileText("alice", alice)}`;
      await writeFile(path, before, { mode: 0o600 });
      const args = how === "AWS_SHARED_CREDENTIALS_FILE" ? [] : [how, path];
      const env: Record<string, string> =
        how === "AWS_SHARED_CREDENTIALS_FILE" ? { AWS_SHARED_CREDENTIALS_FILE: path } : {};
      const run = await runCli([...args, "-a", "admin", "-t", "alice"], { home, endpoint: w.endpoint, env });
      expect(run.status, run.stderr).toBe(0);
      await expectRotated(path, "alice", "alice", alice);
      expect(await readFile(defaultFile, "utf8")).toBe(decoy);
      expect(await backupsOf(defaultFile)).toHaveLength(0);
      await expectBackupOf(path, before);
    });
  }

  it("a credentials file readable by others (0644) becomes 0600 and the user is told", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const { home, credentials } = await makeHome(profileText("alice", alice));
    await chmod(credentials, 0o644);
    const run = await runCli(["-t", "alice"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    expect((await stat(credentials)).mode & 0o777).toBe(0o600);
    expect(run.stderr).toMatch(/644/);
    expect(run.stderr).toMatch(/600/);
    // The backup holds the old secret too: it is private whatever the file's mode was.
    for (const b of await backupsOf(credentials)) expect((await stat(b)).mode & 0o777).toBe(0o600);
    await expectRotated(credentials, "alice", "alice", alice);
  });

  it("the full safety check passes on a plain self rotation", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const { home, credentials } = await makeHome(
      `[x]\nregion=us-east-2\n\n${profileText("alice", alice, "region = eu-west-3\n")}`,
    );
    const before = await snapshot(w.fx, credentials, "alice", ["alice"]);
    const run = await runCli(["-t", "alice"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    const outcome = await expectSafeOutcome(w, before, run, { users: ["alice"] });
    expect(outcome.file).toBe("new");
  });
});
