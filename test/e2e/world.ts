/**
 * Shared setup and checks of the end-to-end suite. Each test file calls `useWorld()` once: it starts
 * its own moto + fault proxy + gate (see gate.ts) and resets them before every test, so files run in
 * parallel. The checks below are what a user would notice: the file, the keys in IAM, whether the old
 * key still signs, the exit code and the words on the terminal.
 */
import { lstat, readdir, readFile, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  IAMClient,
  PutUserPolicyCommand,
} from "@aws-sdk/client-iam";
import { afterAll, beforeAll, beforeEach, expect } from "vitest";
import { CredentialsDocument } from "../../src/ini/document.js";
import { backupPrefix } from "../../src/store/backups.js";
import {
  type AccessKeyPair,
  callerIdentity,
  createFixtures,
  type Fixtures,
  type PolicyKind,
  policyDocument,
  SELF_ACTIONS,
} from "../harness/fixtures.js";
import { MOTO_ACCOUNT_ID, type MotoServer, startMoto } from "../harness/moto.js";
import { type FaultProxy, startProxy } from "../harness/proxy.js";
import type { CliRun } from "./cli.js";
import { type Gate, startGate } from "./gate.js";

export interface World {
  moto: MotoServer;
  proxy: FaultProxy;
  gate: Gate;
  fx: Fixtures;
  /** Where the CLI under test sends its calls: the gate, in front of the proxy, in front of moto. */
  endpoint: string;
}

export function useWorld(): World {
  const world = {} as World;
  beforeAll(async () => {
    world.moto = await startMoto();
    world.proxy = await startProxy(world.moto.url);
    world.gate = await startGate(world.proxy.url);
    world.fx = createFixtures(world.moto.url, { proxy: world.proxy });
    world.endpoint = world.gate.url;
  });
  afterAll(async () => {
    await world.gate?.close();
    await world.proxy?.close();
    await world.moto?.stop();
  });
  beforeEach(async () => {
    await world.moto.reset();
    world.proxy.reset();
    world.gate.reset();
  });
  return world;
}

export const ACCOUNT = MOTO_ACCOUNT_ID;
export const arnOf = (user: string, account = ACCOUNT) => `arn:aws:iam::${account}:user/${user}`;

export async function createUsers<K extends string>(
  fx: Fixtures,
  users: Record<K, PolicyKind>,
): Promise<Record<K, AccessKeyPair>> {
  const keys = {} as Record<K, AccessKeyPair>;
  for (const name of Object.keys(users) as K[])
    keys[name] = await fx.createUserWithKey(name, { policy: users[name] });
  return keys;
}

export async function keyIds(fx: Fixtures, user: string): Promise<string[]> {
  return (await fx.listKeys(user)).map((k) => k.accessKeyId).sort();
}

export function parseFile(text: string): CredentialsDocument {
  return CredentialsDocument.parse(text);
}

/** Every secret in a credentials text (to prove none of them is printed). */
export function secretsIn(text: string): string[] {
  const doc = parseFile(text);
  return doc
    .profileNames()
    .map((p) => doc.get(p, "aws_secret_access_key"))
    .filter((s): s is string => s !== undefined && s.length > 0);
}

/** Key id → profiles holding it, over every profile of the file (`*-previous` included). */
export function holders(text: string): Map<string, string[]> {
  const doc = parseFile(text);
  const map = new Map<string, string[]>();
  for (const p of doc.profileNames()) {
    const id = doc.get(p, "aws_access_key_id");
    if (id) map.set(id, [...(map.get(id) ?? []), p]);
  }
  return map;
}

/** Absolute paths of the recovery files the output names. */
export function recoveryFilesNamed(run: CliRun): string[] {
  return [...`${run.stdout}\n${run.stderr}`.matchAll(/(\/[^\s;,()]*keyctl-recovery[^\s;,()]*)/g)].map((m) =>
    m[1]!.replace(/[.]$/, ""),
  );
}

/** The backups keyctl wrote next to `credentials`. */
export async function backupsOf(credentials: string): Promise<string[]> {
  const dir = dirname(credentials);
  return (await readdir(dir)).filter((f) => f.startsWith(backupPrefix(credentials))).map((f) => join(dir, f));
}

/** No stack trace, no "bug" report, and none of these secrets, on either stream. */
export function expectCleanOutput(run: CliRun, secrets: readonly string[]): void {
  const all = `${run.stdout}\n${run.stderr}`;
  expect(all, "stack trace in the output").not.toMatch(/\n\s+at /);
  expect(all).not.toMatch(/unexpected error|This is a bug/);
  for (const s of secrets) expect(all.includes(s), "a secret access key was printed").toBe(false);
}

/** A failure: exactly one `keyctl:` line says what went wrong. */
export function expectOneProblemLine(run: CliRun, pattern?: RegExp): string {
  const lines = run.stderr.split("\n").filter((l) => l.startsWith("keyctl:"));
  expect(lines, run.stderr).toHaveLength(1);
  if (pattern) expect(lines[0]).toMatch(pattern);
  return lines[0]!;
}

export interface Before {
  readonly credentials: string;
  readonly text: string;
  readonly profile: string;
  readonly oldKey: AccessKeyPair;
  /** IAM user → key ids, before the run. */
  readonly keys: Record<string, string[]>;
}

export async function snapshot(
  fx: Fixtures,
  credentials: string,
  profile: string,
  users: readonly string[],
): Promise<Before> {
  const text = await readFile(credentials, "utf8");
  const doc = parseFile(text);
  const oldKey = {
    accessKeyId: doc.get(profile, "aws_access_key_id") ?? "",
    secretAccessKey: doc.get(profile, "aws_secret_access_key") ?? "",
  };
  const keys: Record<string, string[]> = {};
  for (const u of users) keys[u] = await keyIds(fx, u);
  return { credentials, text, profile, oldKey, keys };
}

export interface Outcome {
  /** "old": the file is byte-identical to before; "new": the complete rotated version. */
  readonly file: "old" | "new";
  readonly text: string;
  readonly newKey?: AccessKeyPair;
  readonly recoveryFiles: string[];
}

/**
 * The safety contract after any run, whatever went wrong:
 * - the file is the old bytes or the complete new version (new key in the profile, the old key and
 *   the profile's other settings in `<profile>-previous`, every other profile unchanged), mode 0600;
 * - every key IAM has for `users` is held by a profile of the file, or sits in a 0600 recovery file
 *   that the output names;
 * - exit 1 means nothing changed (file bytes and keys); 0/1/3 only; no stack trace, no secret printed;
 * - the old key still signs, unless the run finished (exit 0) with `--old-key deactivate|delete`.
 */
export async function expectSafeOutcome(
  w: World,
  before: Before,
  run: CliRun,
  options: {
    users: readonly string[];
    oldKeyRetired?: boolean;
    /** A key that may go without asking at the 2-key limit; exit 1 must then say it is gone. */
    madeRoom?: string;
  } = { users: [] },
): Promise<Outcome> {
  expect(run.signal, run.stderr).toBeNull();
  expect([0, 1, 3], `exit ${run.status}: ${run.stderr}`).toContain(run.status);
  const text = await readFile(before.credentials, "utf8");
  const recoveryFiles = recoveryFilesNamed(run);
  expectCleanOutput(run, [
    ...secretsIn(before.text),
    ...secretsIn(text),
    ...(await recoverySecrets(recoveryFiles)),
  ]);
  expect((await stat(before.credentials)).mode & 0o777).toBe(0o600);

  let outcome: Outcome;
  if (text === before.text) {
    outcome = { file: "old", text, recoveryFiles };
  } else {
    const was = parseFile(before.text);
    const now = parseFile(text);
    const p = before.profile;
    const newKey = {
      accessKeyId: now.get(p, "aws_access_key_id") ?? "",
      secretAccessKey: now.get(p, "aws_secret_access_key") ?? "",
    };
    expect(newKey.accessKeyId, "the profile got a new key").not.toBe(before.oldKey.accessKeyId);
    expect(newKey.accessKeyId).toMatch(/^AKIA/);
    expect(newKey.secretAccessKey.length).toBeGreaterThan(10);
    const prev = now.profile(`${p}-previous`);
    const old = new Map(was.profile(p));
    expect(prev && Object.fromEntries(prev), "-previous holds the old key and settings").toEqual(
      Object.fromEntries(old),
    );
    const rest = new Map(now.profile(p));
    for (const k of ["aws_access_key_id", "aws_secret_access_key"]) {
      rest.delete(k);
      old.delete(k);
    }
    expect(Object.fromEntries(rest), "the profile keeps its other settings").toEqual(Object.fromEntries(old));
    for (const other of was.profileNames()) {
      if (other === p || other === `${p}-previous`) continue;
      expect(now.profile(other), `profile ${other} unchanged`).toEqual(was.profile(other));
    }
    expect(new Set(now.profileNames())).toEqual(new Set([...was.profileNames(), `${p}-previous`]));
    outcome = { file: "new", text, newKey, recoveryFiles };
  }

  const held = holders(text);
  const recovered = new Set<string>();
  for (const path of recoveryFiles) {
    expect((await lstat(path)).mode & 0o777, `${path} is private`).toBe(0o600);
    for (const [id] of holders(await readFile(path, "utf8"))) recovered.add(id);
  }
  for (const user of options.users) {
    for (const id of await keyIds(w.fx, user)) {
      expect(held.has(id) || recovered.has(id), `key ${id} of ${user} is stranded: ${run.stderr}`).toBe(true);
    }
  }

  if (run.status === 1) {
    expect(outcome.file, "exit 1 but the file changed").toBe("old");
    for (const user of options.users) {
      const now = await keyIds(w.fx, user);
      const expected = before.keys[user] ?? [];
      if (options.madeRoom && expected.includes(options.madeRoom) && !now.includes(options.madeRoom)) {
        expect(run.stderr, "exit 1 after making room must say which key went").toMatch(
          new RegExp(`keyctl: .*${options.madeRoom}`),
        );
        expect(now, `exit 1 but ${user}'s keys changed`).toEqual(
          expected.filter((id) => id !== options.madeRoom),
        );
      } else {
        expect(now, `exit 1 but ${user}'s keys changed`).toEqual(expected);
      }
    }
  }
  if (run.status === 3) expect(run.stderr.trim().length, "exit 3 explains what is left").toBeGreaterThan(0);

  if (!(run.status === 0 && options.oldKeyRetired)) {
    expect(await callerIdentity(w.proxy.url, before.oldKey), "the old key still works").toMatch(/:user\//);
  }
  return outcome;
}

async function recoverySecrets(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) out.push(...secretsIn(await readFile(p, "utf8").catch(() => "")));
  return out;
}

/** Calls of the rotation that changed something in IAM. */
export function mutatingCalls(w: World) {
  return w.proxy.calls.filter((c) =>
    ["CreateAccessKey", "DeleteAccessKey", "UpdateAccessKey"].includes(c.action),
  );
}

/** An IAM user with a key in another moto account (moto picks the account from this header). */
export async function createUserInAccount(w: World, name: string, account: string): Promise<AccessKeyPair> {
  return w.fx.withAuthOff(async () => {
    const client = new IAMClient({
      region: "us-east-1",
      endpoint: w.moto.url,
      credentials: { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "moto-auth-off-dummy" },
    });
    client.middlewareStack.add(
      (next) => async (args) => {
        (args.request as { headers: Record<string, string> }).headers["x-moto-account-id"] = account;
        return next(args);
      },
      { step: "build", name: "motoAccount" },
    );
    try {
      await client.send(new CreateUserCommand({ UserName: name }));
      await client.send(
        new PutUserPolicyCommand({
          UserName: name,
          PolicyName: "self",
          PolicyDocument: policyDocument(SELF_ACTIONS),
        }),
      );
      const out = await client.send(new CreateAccessKeyCommand({ UserName: name }));
      return { accessKeyId: out.AccessKey!.AccessKeyId!, secretAccessKey: out.AccessKey!.SecretAccessKey! };
    } finally {
      client.destroy();
    }
  });
}
