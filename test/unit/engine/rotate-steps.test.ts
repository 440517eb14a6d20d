// The rotation's steps and their compensations, with IAM and STS in memory and the real store on a
// temporary directory. The file-write failures are real (chattr +i), not simulated.
import { execFileSync } from "node:child_process";
import { chmod, chown, mkdtemp, readdir, readFile, rename, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { AwsCallError, type StaticCredentials } from "../../../src/engine/ports.js";
import { type RotationEvent, type RotationRequest, rotate } from "../../../src/engine/rotate.js";
import { KeyctlError } from "../../../src/errors.js";
import { CredentialsDocument } from "../../../src/ini/document.js";
import { Journal, type JournalEntry } from "../../../src/store/journal.js";
import { CredentialsStore } from "../../../src/store/store.js";
import { FakeAws, identityOf } from "../../helpers/fake-aws.js";

const immutable: string[] = [];
afterEach(() => {
  for (const p of immutable.splice(0)) execFileSync("chattr", ["-i", p]);
});

async function setup(aws: FakeAws) {
  const dir = await mkdtemp(join(tmpdir(), "keyctl-steps-"));
  const path = join(dir, "credentials");
  const key = aws.addKey("dev");
  const text = `# mine\n[dev]\naws_access_key_id = ${key.accessKeyId}\naws_secret_access_key = ${key.secretAccessKey}\n`;
  await writeFile(path, text, { mode: 0o600 });
  const store = new CredentialsStore(path);
  const events: RotationEvent[] = [];
  const auth = aws.auth("dev", identityOf("arn:aws:iam::111:user/dev"), key.accessKeyId);
  const deps = {
    store,
    journal: new Journal(path),
    auth,
    sts: aws.sts(),
    clock: aws.clock(),
    confirm: async () => false,
    events: (e: RotationEvent) => events.push(e),
  };
  const request: RotationRequest = {
    profile: "dev",
    oldKeyPolicy: "keep",
    yes: false,
    dryRun: false,
    verifyTimeoutMs: 120_000,
  };
  return { dir, path, key, text, store, deps, events, request };
}

async function heldKeys(path: string): Promise<Set<string | undefined>> {
  const doc = CredentialsDocument.parse(await readFile(path, "utf8"));
  return new Set(doc.profileNames().map((p) => doc.get(p, "aws_access_key_id")));
}

describe("rotation steps", () => {
  it("writes the new secret to disk before any other call once CreateAccessKey answered", async () => {
    const aws = new FakeAws();
    const s = await setup(aws);
    let created: string | undefined;
    aws.onCall = async () => {
      if (created) expect((await heldKeys(s.path)).has(created)).toBe(true);
    };
    const iam = s.deps.auth.iam;
    const create = iam.createAccessKey.bind(iam);
    iam.createAccessKey = async (u) => {
      const k = await create(u);
      created = k.accessKeyId;
      return k;
    };
    const result = await rotate(s.request, s.deps);
    expect(result.status).toBe("done");
    expect(aws.log.slice(aws.log.indexOf("CreateAccessKey") + 1)).toEqual(["GetCallerIdentity"]);
  });

  it("a failed write deletes the new key again: IAM and the file are as before", async () => {
    const aws = new FakeAws();
    const s = await setup(aws);
    execFileSync("chattr", ["+i", s.path]);
    immutable.push(s.path);
    const err = await rotate(s.request, s.deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyctlError);
    expect((err as KeyctlError).exitCode).toBe(1);
    expect((err as KeyctlError).message).toMatch(/new key was deleted again; nothing was changed/);
    expect(aws.keys.map((k) => k.accessKeyId)).toEqual([s.key.accessKeyId]);
    expect(await readFile(s.path, "utf8")).toBe(s.text);
    expect((await new Journal(s.path).entries()).size).toBe(0);
  });

  it("when the new key can neither be written nor deleted, its secret goes to a 0600 recovery file", async () => {
    const aws = new FakeAws();
    const s = await setup(aws);
    execFileSync("chattr", ["+i", s.path]);
    immutable.push(s.path);
    aws.failures.set("DeleteAccessKey", new AwsCallError("AccessDenied", "DeleteAccessKey", "no"));
    const err = (await rotate(s.request, s.deps).catch((e: unknown) => e)) as KeyctlError;
    expect(err.exitCode).toBe(3);
    const created = aws.keys.find((k) => k.accessKeyId !== s.key.accessKeyId)!;
    expect(err.message).not.toContain(created.secret);
    const recovery = (await readdir(s.dir)).find((f) => f.startsWith("keyctl-recovery."));
    expect(recovery, err.message).toBeDefined();
    const path = join(s.dir, recovery!);
    expect(err.message).toContain(path);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readFile(path, "utf8")).toContain(created.secret);
  });

  it("a CreateAccessKey whose answer was lost: the key IAM made anyway is found and deleted", async () => {
    const aws = new FakeAws();
    const s = await setup(aws);
    aws.loseCreateAnswer = true;
    const err = (await rotate(s.request, s.deps).catch((e: unknown) => e)) as KeyctlError;
    expect(err.exitCode).toBe(1);
    expect(aws.keys.map((k) => k.accessKeyId)).toEqual([s.key.accessKeyId]);
    expect(await readFile(s.path, "utf8")).toBe(s.text);
  });

  it("a definite refusal of CreateAccessKey deletes nothing, not even a key that appeared meanwhile", async () => {
    const aws = new FakeAws();
    const s = await setup(aws);
    aws.failures.set("CreateAccessKey", new AwsCallError("LimitExceeded", "CreateAccessKey", "quota"));
    let other: StaticCredentials | undefined;
    aws.onCall = async (op) => {
      // Another run's key appears while this CreateAccessKey is refused.
      if (op === "CreateAccessKey") other = aws.addKey("dev");
    };
    const err = (await rotate(s.request, s.deps).catch((e: unknown) => e)) as KeyctlError;
    expect(err.exitCode).toBe(1);
    expect(aws.log).not.toContain("DeleteAccessKey");
    expect(aws.keys.map((k) => k.accessKeyId)).toContain(other?.accessKeyId);
  });

  it("a lost CreateAccessKey answer spares a key some profile of the file holds", async () => {
    const aws = new FakeAws();
    const s = await setup(aws);
    aws.loseCreateAnswer = true;
    const saved = aws.addKey("dev");
    await writeFile(
      s.path,
      `${s.text}[dev-ci]\naws_access_key_id = ${saved.accessKeyId}\naws_secret_access_key = ${saved.secretAccessKey}\n`,
    );
    const err = (await rotate(s.request, s.deps).catch((e: unknown) => e)) as KeyctlError;
    expect(err).toBeInstanceOf(KeyctlError);
    const ids = aws.keys.map((k) => k.accessKeyId);
    expect(ids).toContain(saved.accessKeyId);
    expect(ids).toContain(s.key.accessKeyId);
    expect(ids).toHaveLength(2);
  });

  it("a run that died after CreateAccessKey is cleaned up by the next run, which says so", async () => {
    const aws = new FakeAws();
    const s = await setup(aws);
    await new Journal(s.path).put({
      profile: "dev",
      userName: "dev",
      account: "111",
      keysBefore: [s.key.accessKeyId],
      startedAt: new Date(aws.clockMs).toISOString(),
      createSentAt: new Date(aws.clockMs).toISOString(),
      pid: 999_999_999,
    });
    aws.addKey("dev"); // the key the dead run created; its secret never reached the file
    const result = await rotate(s.request, s.deps);
    expect(result.status).toBe("done");
    expect(result.recoveredKeys).toHaveLength(1);
    expect(s.events.some((e) => e.type === "note" && /interrupted keyctl run/.test(e.message))).toBe(true);
    const held = await heldKeys(s.path);
    for (const k of aws.keys) expect(held.has(k.accessKeyId)).toBe(true);
  });

  it("waits for a propagating key with backoff and succeeds", async () => {
    const aws = new FakeAws();
    const s = await setup(aws);
    aws.propagationMs = 8_000;
    const result = await rotate(s.request, s.deps);
    expect(result.status).toBe("done");
    expect(result.verifiedAfterMs).toBeGreaterThanOrEqual(8_000);
    expect(aws.log.filter((op) => op === "GetCallerIdentity").length).toBeGreaterThan(3);
  });

  it("past the verification bound: exit 3, the old key untouched and kept in -previous", async () => {
    const aws = new FakeAws();
    const s = await setup(aws);
    aws.propagationMs = Number.POSITIVE_INFINITY;
    const result = await rotate({ ...s.request, oldKeyPolicy: "delete", verifyTimeoutMs: 10_000 }, s.deps);
    expect(result.status).toBe("partial");
    expect(result.exitCode).toBe(3);
    expect(aws.log).not.toContain("UpdateAccessKey");
    expect(aws.keys.find((k) => k.accessKeyId === s.key.accessKeyId)?.status).toBe("Active");
    const doc = CredentialsDocument.parse(await readFile(s.path, "utf8"));
    expect(doc.get("dev-previous", "aws_access_key_id")).toBe(s.key.accessKeyId);
  });

  it("--old-key deactivate only after the new key is proven", async () => {
    const aws = new FakeAws();
    const s = await setup(aws);
    const result = await rotate({ ...s.request, oldKeyPolicy: "deactivate" }, s.deps);
    expect(result.oldKey).toBe("deactivated");
    const verify = aws.log.lastIndexOf("GetCallerIdentity");
    expect(aws.log.indexOf("UpdateAccessKey")).toBeGreaterThan(verify);
    expect(aws.keys.find((k) => k.accessKeyId === s.key.accessKeyId)?.status).toBe("Inactive");
  });
});

describe("the clean-up after a run that died (only what it can prove it made)", () => {
  const DEAD_PID = 999_999_999;
  async function died(aws: FakeAws, s: Awaited<ReturnType<typeof setup>>, extra: Partial<JournalEntry> = {}) {
    const at = new Date(aws.clockMs).toISOString();
    await new Journal(s.path).put({
      profile: "dev",
      userName: "dev",
      account: "111",
      keysBefore: [s.key.accessKeyId],
      startedAt: at,
      createSentAt: at,
      pid: DEAD_PID,
      ...extra,
    });
  }
  const warnings = (events: RotationEvent[]) =>
    events.filter((e) => e.type === "warn").map((e) => (e as { message: string }).message);

  it("leaves a key created after the dead call's window alone and prints the command to delete it", async () => {
    const aws = new FakeAws();
    const s = await setup(aws);
    await died(aws, s);
    aws.clockMs += 10 * 60_000; // another machine's key, ten minutes later
    const other = aws.addKey("dev");
    s.deps.confirm = async () => false;
    await rotate(s.request, s.deps).catch(() => {});
    expect(aws.keys.map((k) => k.accessKeyId)).toContain(other.accessKeyId);
    expect(warnings(s.events).join("\n")).toContain(
      `aws iam delete-access-key --user-name dev --access-key-id ${other.accessKeyId}`,
    );
  });

  it("leaves a key inside the window alone when AWS has seen it signing (someone holds its secret)", async () => {
    const aws = new FakeAws();
    const s = await setup(aws);
    await died(aws, s);
    const other = aws.addKey("dev");
    aws.lastUsed.set(other.accessKeyId, new Date(aws.clockMs));
    await rotate(s.request, s.deps).catch(() => {});
    expect(aws.keys.map((k) => k.accessKeyId)).toContain(other.accessKeyId);
    expect(aws.log).not.toContain("DeleteAccessKey");
  });

  it("changes nothing under --dry-run and says what it would remove", async () => {
    const aws = new FakeAws();
    const s = await setup(aws);
    await died(aws, s);
    const stray = aws.addKey("dev");
    const result = await rotate({ ...s.request, dryRun: true }, s.deps);
    expect(result.status).toBe("planned");
    expect(aws.keys.map((k) => k.accessKeyId)).toContain(stray.accessKeyId);
    expect(aws.log).not.toContain("DeleteAccessKey");
    expect((await new Journal(s.path).entries()).has("dev")).toBe(true);
    expect(
      s.events.some(
        (e) => e.type === "note" && e.message.startsWith(`Would remove key ${stray.accessKeyId}`),
      ),
    ).toBe(true);
  });

  it("changes nothing for a profile --older-than skips", async () => {
    const aws = new FakeAws();
    const s = await setup(aws);
    await died(aws, s);
    const stray = aws.addKey("dev");
    const result = await rotate({ ...s.request, olderThanDays: 90 }, s.deps);
    expect(result.status).toBe("skipped");
    expect(aws.keys.map((k) => k.accessKeyId)).toContain(stray.accessKeyId);
    expect(aws.log).not.toContain("DeleteAccessKey");
  });

  it("does not act for another IAM user than the one the profile's key proves", async () => {
    const aws = new FakeAws();
    const s = await setup(aws);
    const victim = aws.addKey("victim");
    await died(aws, s, { userName: "victim", keysBefore: [] });
    await rotate(s.request, s.deps);
    expect(aws.keys.map((k) => k.accessKeyId)).toContain(victim.accessKeyId);
    expect(warnings(s.events).join("\n")).toMatch(/leaves victim's keys alone/);
  });

  it("works for profile names that are JavaScript object members", async () => {
    for (const name of ["__proto__", "constructor", "toString", "my prod.eu"]) {
      const aws = new FakeAws();
      const s = await setup(aws);
      await writeFile(s.path, s.text.replace("[dev]", `[${name}]`));
      const at = new Date(aws.clockMs).toISOString();
      await new Journal(s.path).put({
        profile: name,
        userName: "dev",
        account: "111",
        keysBefore: [s.key.accessKeyId],
        startedAt: at,
        createSentAt: at,
        pid: DEAD_PID,
      });
      const entries = await new Journal(s.path).entries();
      expect([...entries.keys()], name).toEqual([name]);
      const stray = aws.addKey("dev");
      const result = await rotate({ ...s.request, profile: name }, s.deps);
      expect(result.status, name).toBe("done");
      expect(result.recoveredKeys, name).toEqual([stray.accessKeyId]);
      expect((await new Journal(s.path).entries()).size, name).toBe(0);
    }
  });

  it("a kill or power loss leaving the journal as the claim made it (no saved-key note, no removal): the rerun deletes nothing the file holds", async () => {
    const aws = new FakeAws();
    const s = await setup(aws);
    aws.propagationMs = 60 * 60_000; // never accepted in this run: AWS has never seen it signing
    const journal = new Journal(s.path);
    const put = journal.put.bind(journal);
    let claim: string | undefined;
    journal.put = async (entry) => {
      await put(entry);
      claim ??= await readFile(journal.path, "utf8"); // the claim: its only durable write
    };
    const first = await rotate({ ...s.request, verifyTimeoutMs: 5_000 }, { ...s.deps, journal });
    expect(first.exitCode).toBe(3);
    expect(claim).toBeDefined();
    expect(claim).not.toContain("savedKeyId");
    // The crash: the file is as its durable commit left it, the journal as its durable claim left
    // it (the note never written, the removal undone or never made), and its process is gone.
    await writeFile(journal.path, claim!.replace(`"pid": ${process.pid}`, `"pid": ${DEAD_PID}`), {
      mode: 0o600,
    });
    const saved = first.newKeyId!;
    expect((await heldKeys(s.path)).has(saved)).toBe(true);
    aws.propagationMs = 0;
    aws.propagatingUntil.clear();
    // IAM's last-used data lags behind: the rerun's own proof with the saved key is not in it yet.
    aws.onCall = async (op) => {
      if (op === "GetAccessKeyLastUsed") aws.lastUsed.clear();
    };
    const auth = { ...s.deps.auth, signingKeyId: saved };
    const rerun = await rotate(s.request, { ...s.deps, auth, journal: new Journal(s.path) });
    expect(rerun.status).toBe("done");
    expect(rerun.recoveredKeys).toEqual([]);
    // The saved key went to -previous, not to the clean-up: it is still in IAM and in the file.
    expect(aws.keys.map((k) => k.accessKeyId)).toContain(saved);
    expect((await heldKeys(s.path)).has(saved)).toBe(true);
    expect((await new Journal(s.path).entries()).size).toBe(0);
  });

  for (const [what, plant] of [
    ["mode 0644", async (path: string) => chmod(path, 0o644)],
    ["another user's file", async (path: string) => chown(path, 1234, 1234)],
    [
      "a symlink",
      async (path: string) => {
        await rename(path, `${path}.real`);
        await symlink(`${path}.real`, path);
      },
    ],
    ["not a journal", async (path: string) => writeFile(path, '{"entries":[1]}\n', { mode: 0o600 })],
  ] as const) {
    it(`refuses a journal that is ${what}, in one line, and touches no key`, async () => {
      const aws = new FakeAws();
      const s = await setup(aws);
      await died(aws, s, { keysBefore: [] }); // it would claim every key of the user
      await plant(`${s.path}.keyctl-journal`);
      const err = (await rotate(s.request, s.deps).catch((e: unknown) => e)) as KeyctlError;
      expect(err).toBeInstanceOf(KeyctlError);
      expect(err.message).toMatch(/does not trust the rotation journal .* touched no key/);
      expect(err.message).not.toContain("\n");
      expect(aws.log).toEqual([]);
      expect(aws.keys.map((k) => k.accessKeyId)).toEqual([s.key.accessKeyId]);
    });
  }
});

describe("the last proven key", () => {
  it("a rerun after exit 3 proves the current key first and, while it fails, deletes and deactivates nothing (exit 3)", async () => {
    const aws = new FakeAws();
    const s = await setup(aws);
    aws.propagationMs = Number.POSITIVE_INFINITY;
    const first = await rotate({ ...s.request, verifyTimeoutMs: 5_000 }, s.deps);
    expect(first.exitCode).toBe(3);
    aws.log = [];
    const err = (await rotate({ ...s.request, oldKeyPolicy: "delete", verifyTimeoutMs: 5_000 }, s.deps).catch(
      (e: unknown) => e,
    )) as KeyctlError;
    expect(err).toBeInstanceOf(KeyctlError);
    expect(err.exitCode).toBe(3);
    expect(err.message).toMatch(/still not accepted by AWS.*keeps the key in \[dev-previous\]/);
    expect(aws.log).not.toContain("DeleteAccessKey");
    expect(aws.log).not.toContain("UpdateAccessKey");
    expect(aws.log).not.toContain("CreateAccessKey");
    expect(aws.keys.find((k) => k.accessKeyId === s.key.accessKeyId)?.status).toBe("Active");
  });

  it("once the current key works, the rerun rotates normally (the -previous key may then make room)", async () => {
    const aws = new FakeAws();
    const s = await setup(aws);
    aws.propagationMs = 60_000;
    const first = await rotate({ ...s.request, verifyTimeoutMs: 5_000 }, s.deps);
    expect(first.exitCode).toBe(3);
    // Self-service: the rerun signs with the key the first run saved.
    const auth = { ...s.deps.auth, signingKeyId: first.newKeyId! };
    const result = await rotate(s.request, { ...s.deps, auth });
    expect(result.status).toBe("done");
    expect(result.deletedBeforeCreate).toBe(s.key.accessKeyId);
  });

  it("two rotations of one process: the first to end takes no hold of the lock to leave the journal, and nothing is left in it", async () => {
    const aws = new FakeAws();
    const s = await setup(aws);
    const ops = aws.addKey("ops");
    await writeFile(
      s.path,
      `${s.text}\n[ops]\naws_access_key_id = ${ops.accessKeyId}\naws_secret_access_key = ${ops.secretAccessKey}\n`,
    );
    const opsAuth = aws.auth("ops", identityOf("arn:aws:iam::111:user/ops"), ops.accessKeyId);
    // One journal for the batch, as runTargets has; dev ends while ops is still verifying.
    const journal = new Journal(s.path);
    const put = journal.put.bind(journal);
    let opsClaimed!: () => void;
    const opsHasClaimed = new Promise<void>((resolve) => {
      opsClaimed = resolve;
    });
    journal.put = async (entry) => {
      await put(entry);
      if (entry.profile === "ops") opsClaimed();
    };
    let holds = 0;
    const withLock = s.store.withLock.bind(s.store);
    s.store.withLock = (fn) => {
      holds += 1;
      return withLock(fn);
    };
    const sts = s.deps.sts;
    const gated = (until: () => Promise<unknown>, own: string) => ({
      callerIdentity: async (c: StaticCredentials) => {
        if (c.accessKeyId !== own) await until();
        return sts.callerIdentity(c);
      },
    });
    const devRun = rotate(s.request, {
      ...s.deps,
      journal,
      sts: gated(() => opsHasClaimed, s.key.accessKeyId),
    });
    const opsRun = rotate(
      { ...s.request, profile: "ops" },
      { ...s.deps, journal, auth: opsAuth, sts: gated(() => devRun, ops.accessKeyId) },
    );
    const [dev, opsResult] = await Promise.all([devRun, opsRun]);
    expect(dev.status).toBe("done");
    expect(opsResult.status).toBe("done");
    // The two claims and one removal of both entries: dev's went with ops's.
    expect(holds).toBe(3);
    expect((await new Journal(s.path).entries()).size).toBe(0);
  });

  it("a second run while the first is still verifying is refused with the first one's pid", async () => {
    const aws = new FakeAws();
    const s = await setup(aws);
    aws.propagationMs = 8_000;
    let second: unknown;
    aws.onCall = async (op) => {
      // The first run is polling STS with its new key, its journal entry saved.
      if (op === "GetCallerIdentity" && second === undefined && aws.keys.length === 2) {
        second = rotate(s.request, { ...s.deps, journal: new Journal(s.path) }).catch((e: unknown) => e);
        second = await second;
      }
    };
    // The second run runs in this process: make the first one's entry look like another live pid.
    const journal = new Journal(s.path);
    const put = journal.put.bind(journal);
    journal.put = (e) => put({ ...e, pid: process.ppid });
    const first = await rotate(s.request, { ...s.deps, journal });
    expect(first.status).toBe("done");
    expect(second).toBeInstanceOf(KeyctlError);
    expect((second as KeyctlError).message).toContain(
      `Another keyctl (pid ${process.ppid}) is rotating profile dev`,
    );
  });
});

describe("the -previous profile is keyctl's only when it can prove it", () => {
  it("refuses to overwrite a [dev-previous] holding another IAM user's working key, naming a way out", async () => {
    const aws = new FakeAws();
    const s = await setup(aws);
    const bob = aws.addKey("bob");
    const mine = `${s.text}\n[dev-previous]\n# bob's key, my own profile\naws_access_key_id = ${bob.accessKeyId}\naws_secret_access_key = ${bob.secretAccessKey}\n`;
    await writeFile(s.path, mine);
    const err = (await rotate(s.request, s.deps).catch((e: unknown) => e)) as KeyctlError;
    expect(err).toBeInstanceOf(KeyctlError);
    expect(err.message).toMatch(
      /\[dev-previous\] holds a working key of arn:aws:iam::111:user\/bob.*--previous-name/,
    );
    expect(aws.log).not.toContain("CreateAccessKey");
    expect(await readFile(s.path, "utf8")).toBe(mine);

    const result = await rotate({ ...s.request, previousName: "dev-old" }, s.deps);
    expect(result.status).toBe("done");
    const doc = CredentialsDocument.parse(await readFile(s.path, "utf8"));
    expect(doc.get("dev-old", "aws_access_key_id")).toBe(s.key.accessKeyId);
    expect(doc.get("dev-previous", "aws_access_key_id")).toBe(bob.accessKeyId);
  });

  it("rewrites its own [dev-previous] (an older key of dev) keeping the comments in it", async () => {
    const aws = new FakeAws();
    const s = await setup(aws);
    const first = await rotate(s.request, s.deps);
    let text = await readFile(s.path, "utf8");
    text = text.replace("# keyctl: previous key of [dev]\n", "# keyctl: previous key of [dev]\n; my note\n");
    await writeFile(s.path, text);
    const auth = { ...s.deps.auth, signingKeyId: first.newKeyId! };
    const second = await rotate(s.request, { ...s.deps, auth });
    expect(second.status).toBe("done");
    const after = await readFile(s.path, "utf8");
    expect(after).toContain("[dev-previous]\n; my note\n# keyctl: previous key of [dev]\n");
    expect(CredentialsDocument.parse(after).get("dev-previous", "aws_access_key_id")).toBe(first.newKeyId);
  });

  it("overwrites a [dev-previous] whose key AWS no longer accepts (nothing that works is lost)", async () => {
    const aws = new FakeAws();
    const s = await setup(aws);
    await writeFile(
      s.path,
      `${s.text}[dev-previous]\naws_access_key_id = AKIAGONE000000000000\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYGONE000000\n`,
    );
    const result = await rotate(s.request, s.deps);
    expect(result.status).toBe("done");
  });
});

describe("another keyctl finishing a rotation of the same profile meanwhile", () => {
  /** What another run leaves once it has rotated dev to `key`: dev holds it, the old key is in -previous. */
  function rotatedText(s: Awaited<ReturnType<typeof setup>>, key: StaticCredentials): string {
    return `# mine\n[dev]\naws_access_key_id = ${key.accessKeyId}\naws_secret_access_key = ${key.secretAccessKey}\n\n[dev-previous]\naws_access_key_id = ${s.key.accessKeyId}\naws_secret_access_key = ${s.key.secretAccessKey}\n`;
  }

  it("its write landing after this run's check, just before its backup and claim: the key dev now holds is not deleted", async () => {
    const aws = new FakeAws();
    const s = await setup(aws);
    // The other run's new key: IAM lists it before that run's write reaches the file.
    const theirs = aws.addKey("dev");
    const withLock = s.store.withLock.bind(s.store);
    let landed = false;
    // The first hold of the lock is the one that makes the backup and claims the journal entry.
    s.store.withLock = async (fn) => {
      if (!landed) {
        landed = true;
        await writeFile(s.path, rotatedText(s, theirs));
      }
      return withLock(fn);
    };
    const run = rotate(s.request, { ...s.deps, confirm: async () => true });
    await expect(run).rejects.toThrow(/Profile dev changed while keyctl was preparing/);
    expect(landed).toBe(true);
    expect(aws.keys.map((k) => k.accessKeyId)).toContain(theirs.accessKeyId);
    expect(aws.log).not.toContain("DeleteAccessKey");
  });

  it("at the 2-key limit a key of unknown last use wants --yes; a 'y' deletes only a key AWS saw unused", async () => {
    const aws = new FakeAws();
    const s = await setup(aws);
    const other = aws.addKey("dev");
    const questions: string[] = [];
    const yes = async (q: string) => {
      questions.push(q);
      return true;
    };
    aws.failures.set("GetAccessKeyLastUsed", new AwsCallError("AccessDenied", "GetAccessKeyLastUsed", "no"));
    const refused = await rotate(s.request, { ...s.deps, confirm: yes }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(KeyctlError);
    expect((refused as KeyctlError).message).toMatch(/its last use is unknown.*run again with --yes/);
    expect(questions).toEqual([]);
    expect(aws.keys.map((k) => k.accessKeyId)).toContain(other.accessKeyId);
    expect(aws.log).not.toContain("CreateAccessKey");

    aws.failures.delete("GetAccessKeyLastUsed");
    const done = await rotate(s.request, { ...s.deps, confirm: yes });
    expect(done.status).toBe("done");
    expect(questions).toHaveLength(1);
    expect(aws.keys.map((k) => k.accessKeyId)).not.toContain(other.accessKeyId);
  });

  it("before the question at the 2-key limit: no question calls the key dev now holds unused", async () => {
    const aws = new FakeAws();
    const s = await setup(aws);
    let theirs: StaticCredentials | undefined;
    aws.onCall = async (op) => {
      if (op === "ListAccessKeys" && !theirs) {
        theirs = aws.addKey("dev");
        await writeFile(s.path, rotatedText(s, theirs));
      }
    };
    const questions: string[] = [];
    const confirm = async (q: string) => {
      questions.push(q);
      return false;
    };
    await expect(rotate(s.request, { ...s.deps, confirm })).rejects.toThrow(
      /Profile dev changed while keyctl was preparing/,
    );
    expect(theirs).toBeDefined();
    expect(questions).toEqual([]);
    expect(aws.keys.map((k) => k.accessKeyId)).toContain(theirs!.accessKeyId);
  });
});
