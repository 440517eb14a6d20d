import { appendFile, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CredentialsDocument } from "../../src/ini/document.js";
import { type AccessKeyPair, callerIdentity } from "../harness/fixtures.js";
import { keyOf, makeHome, profileText, readProfile, runCli } from "./cli.js";
import { useWorld } from "./world.js";

const w = useWorld();

async function users(names: string[], policy: "self" | "none" = "self"): Promise<Map<string, AccessKeyPair>> {
  const keys = new Map<string, AccessKeyPair>();
  for (const name of names) keys.set(name, await w.fx.createUserWithKey(name, { policy }));
  return keys;
}

function fileOf(keys: Map<string, AccessKeyPair>, header = "# team keys\n"): string {
  return header + [...keys].map(([name, key]) => profileText(name, key)).join("\n");
}

/** Every key IAM has for these users is held by some profile of the file. */
async function expectNoStrandedKeys(credentials: string, names: string[]): Promise<void> {
  const doc = CredentialsDocument.parse(await readFile(credentials, "utf8"));
  const held = new Set(doc.profileNames().map((p) => doc.get(p, "aws_access_key_id")));
  for (const name of names) {
    for (const k of await w.fx.listKeys(name))
      expect(held.has(k.accessKeyId), `${name} ${k.accessKeyId}`).toBe(true);
  }
}

describe("several targets", () => {
  it("--all rotates every profile with a long-term key, each as itself", async () => {
    const names = Array.from({ length: 12 }, (_, i) => `u${i}`);
    const keys = await users(names);
    const { home, credentials } = await makeHome(
      `${fileOf(keys)}\n[sso-only]\nregion = eu-west-1\n[temp]\naws_access_key_id = ASIATEMP\naws_secret_access_key = Sc7Tvo/hBKqFYY/kv5ZJr3J1TWDtkwtDDb+xHKas\naws_session_token = y\n`,
    );
    const run = await runCli(["--all", "--json"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    const doc = JSON.parse(run.stdout) as {
      results: { profile: string; status: string }[];
      summary: { done: number };
    };
    expect(doc.summary.done).toBe(12);
    expect(doc.results.map((r) => r.profile).sort()).toEqual([...names].sort());
    for (const name of names) {
      const now = keyOf(await readProfile(credentials, name));
      expect(now.accessKeyId).not.toBe(keys.get(name)!.accessKeyId);
      expect(await callerIdentity(w.endpoint, now)).toContain(`:user/${name}`);
      expect(keyOf(await readProfile(credentials, `${name}-previous`))).toEqual(keys.get(name));
    }
    await expectNoStrandedKeys(credentials, names);
  });

  it("-a admin -t x -t y -t z rotates exactly those; an unknown key fails alone and is named", async () => {
    const keys = await users(["x", "y", "z", "w", "ghost"], "none");
    await w.fx.createUser("admin", { policy: "admin" });
    const admin = await w.fx.createKey("admin");
    await w.fx.deleteKey("ghost", keys.get("ghost")!.accessKeyId);
    const { home, credentials } = await makeHome(`${fileOf(keys)}\n${profileText("admin", admin)}`);
    const run = await runCli(["-a", "admin", "-t", "x", "-t", "y", "-t", "ghost", "-t", "z"], {
      home,
      endpoint: w.endpoint,
    });
    // x, y and z rotated: partly done, not "failed, nothing changed".
    expect(run.status).toBe(3);
    expect(run.stdout).toMatch(/ghost\s+✘ failed/);
    expect(run.stdout).toMatch(/No IAM user in this account owns key/);
    for (const name of ["x", "y", "z"]) {
      expect(keyOf(await readProfile(credentials, name)).accessKeyId).not.toBe(keys.get(name)!.accessKeyId);
    }
    expect(keyOf(await readProfile(credentials, "w"))).toEqual(keys.get("w"));
    expect(await readProfile(credentials, "ghost-previous")).toBeUndefined();
    expect(run.stderr + run.stdout).not.toMatch(/\n\s+at /);
  });

  it("--all with concurrency 8 over 40 profiles loses no write and strands no key", async () => {
    const names = Array.from({ length: 40 }, (_, i) => `c${i}`);
    const keys = await users(names);
    const { home, credentials } = await makeHome(fileOf(keys));
    for (let round = 0; round < 2; round++) {
      const run = await runCli(["--all", "--concurrency", "8", "--old-key", "delete"], {
        home,
        endpoint: w.endpoint,
      });
      expect(run.status, run.stderr + run.stdout).toBe(0);
    }
    for (const name of names) {
      const now = keyOf(await readProfile(credentials, name));
      expect(await callerIdentity(w.endpoint, now)).toContain(`:user/${name}`);
      const iam = await w.fx.listKeys(name);
      expect(iam.map((k) => k.accessKeyId)).toEqual([now.accessKeyId]);
    }
  }, 180_000);
});

describe("batches with shared keys and the auth profile among the targets", () => {
  it("--all --yes with two profiles sharing a key rotates it once and updates both", async () => {
    const keys = await users(["sa"]);
    const { home, credentials } = await makeHome(
      `${fileOf(keys)}\n${profileText("sa-laptop", keys.get("sa")!)}`,
    );
    const run = await runCli(["--all", "--yes", "--old-key", "delete"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr + run.stdout).toBe(0);
    const now = keyOf(await readProfile(credentials, "sa"));
    expect(keyOf(await readProfile(credentials, "sa-laptop"))).toEqual(now);
    expect(await callerIdentity(w.endpoint, now)).toContain(":user/sa");
    expect((await w.fx.listKeys("sa")).map((k) => k.accessKeyId)).toEqual([now.accessKeyId]);
  });

  it("-a admin -t a -t b -t admin --old-key delete: admin goes last, every rotation succeeds", async () => {
    const keys = await users(["ba", "bb"], "none");
    await w.fx.createUser("admin", { policy: "admin" });
    const admin = await w.fx.createKey("admin");
    const { home, credentials } = await makeHome(`${fileOf(keys)}\n${profileText("admin", admin)}`);
    const run = await runCli(["-a", "admin", "-t", "admin", "-t", "ba", "-t", "bb", "--old-key", "delete"], {
      home,
      endpoint: w.endpoint,
    });
    expect(run.status, run.stderr + run.stdout).toBe(0);
    for (const name of ["ba", "bb", "admin"]) {
      const now = keyOf(await readProfile(credentials, name));
      expect(await callerIdentity(w.endpoint, now)).toContain(`:user/${name}`);
    }
    const adminCalls = w.proxy.calls.filter((c) => c.accessKeyId === admin.accessKeyId);
    const lastOldAdmin = Math.max(...adminCalls.map((c) => c.at));
    const otherCreates = w.proxy.calls.filter(
      (c) => c.action === "CreateAccessKey" && c.params.UserName !== "admin",
    );
    for (const c of otherCreates) expect(c.at).toBeLessThanOrEqual(lastOldAdmin);
  });
});

describe("age-based runs", () => {
  it("--older-than 30 on fresh keys changes nothing and says so; --older-than 0 rotates all", async () => {
    const keys = await users(["a1", "a2"]);
    const { home, credentials } = await makeHome(fileOf(keys));
    const before = await readFile(credentials, "utf8");
    const skip = await runCli(["--all", "--older-than", "30"], { home, endpoint: w.endpoint });
    expect(skip.status, skip.stderr).toBe(0);
    expect(skip.stdout).toMatch(/a1\s+– skipped/);
    expect(await readFile(credentials, "utf8")).toBe(before);
    expect(w.proxy.calls.some((c) => c.action === "CreateAccessKey")).toBe(false);
    const all = await runCli(["--all", "--older-than", "0"], { home, endpoint: w.endpoint });
    expect(all.status, all.stderr).toBe(0);
    for (const name of ["a1", "a2"]) {
      expect(keyOf(await readProfile(credentials, name)).accessKeyId).not.toBe(keys.get(name)!.accessKeyId);
    }
  });
});

describe("finishing a rotation", () => {
  it("--finish retires the old key, drops -previous and keeps the current key working", async () => {
    const keys = await users(["fin"]);
    const { home, credentials } = await makeHome(fileOf(keys));
    expect((await runCli(["-t", "fin"], { home, endpoint: w.endpoint })).status).toBe(0);
    const current = keyOf(await readProfile(credentials, "fin"));
    const finish = await runCli(["--finish", "-t", "fin", "--yes"], { home, endpoint: w.endpoint });
    expect(finish.status, finish.stderr).toBe(0);
    expect((await w.fx.listKeys("fin")).map((k) => k.accessKeyId)).toEqual([current.accessKeyId]);
    expect(await readProfile(credentials, "fin-previous")).toBeUndefined();
    expect(await callerIdentity(w.endpoint, current)).toContain(":user/fin");
  });

  it("--finish refuses to retire a key another profile still holds", async () => {
    const keys = await users(["sh"]);
    const { home, credentials } = await makeHome(fileOf(keys));
    expect((await runCli(["-t", "sh"], { home, endpoint: w.endpoint })).status).toBe(0);
    // A profile added later still uses the old key.
    await appendFile(credentials, `\n${profileText("sh-copy", keys.get("sh")!)}`);
    const finish = await runCli(["--finish", "-t", "sh", "--yes"], { home, endpoint: w.endpoint });
    expect(finish.status).toBe(1);
    expect(finish.stderr).toMatch(/still used by profile sh-copy/);
    expect((await w.fx.listKeys("sh")).map((k) => k.accessKeyId)).toContain(keys.get("sh")!.accessKeyId);
    expect(await readProfile(credentials, "sh-previous")).toBeDefined();
  });

  it("profiles sharing the key need --yes (or a terminal) to be updated; without, nothing changes", async () => {
    const keys = await users(["dup0"]);
    const { home, credentials } = await makeHome(
      `${fileOf(keys)}\n${profileText("dup0-ci", keys.get("dup0")!)}`,
    );
    const before = await readFile(credentials, "utf8");
    const run = await runCli(["-t", "dup0"], { home, endpoint: w.endpoint });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/dup0-ci .*--yes/);
    expect(await readFile(credentials, "utf8")).toBe(before);
    expect((await w.fx.listKeys("dup0")).map((k) => k.accessKeyId)).toEqual([keys.get("dup0")!.accessKeyId]);
  });

  it("a rotation with --yes updates profiles sharing the key in the same write", async () => {
    const keys = await users(["dup"]);
    const { home, credentials } = await makeHome(
      `${fileOf(keys)}\n${profileText("dup-ci", keys.get("dup")!)}`,
    );
    const run = await runCli(["-t", "dup", "--yes"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    expect(keyOf(await readProfile(credentials, "dup-ci"))).toEqual(
      keyOf(await readProfile(credentials, "dup")),
    );
  });

  it("--old-key deactivate and delete leave the old key Inactive or gone", async () => {
    const keys = await users(["od1", "od2"]);
    const { home } = await makeHome(fileOf(keys));
    expect(
      (await runCli(["-t", "od1", "--old-key", "deactivate"], { home, endpoint: w.endpoint })).status,
    ).toBe(0);
    expect((await runCli(["-t", "od2", "--old-key", "delete"], { home, endpoint: w.endpoint })).status).toBe(
      0,
    );
    const od1 = await w.fx.listKeys("od1");
    expect(od1.find((k) => k.accessKeyId === keys.get("od1")!.accessKeyId)?.status).toBe("Inactive");
    expect((await w.fx.listKeys("od2")).some((k) => k.accessKeyId === keys.get("od2")!.accessKeyId)).toBe(
      false,
    );
  });
});

describe("restore and backups", () => {
  it("--restore --yes after a rotation gives back the previous file exactly and keeps the replaced one", async () => {
    const keys = await users(["rs"]);
    const { home, credentials } = await makeHome(fileOf(keys, "# restore me\r\n"));
    const original = await readFile(credentials, "utf8");
    expect((await runCli(["-t", "rs"], { home, endpoint: w.endpoint })).status).toBe(0);
    const rotated = await readFile(credentials, "utf8");
    const restore = await runCli(["--restore", "--yes"], { home, endpoint: w.endpoint });
    expect(restore.status, restore.stderr).toBe(0);
    expect(restore.stderr).toMatch(/rs: key .* → /);
    expect(await readFile(credentials, "utf8")).toBe(original);
    const dir = join(home, ".aws");
    const backups = (await readdir(dir)).filter((f) => f.startsWith("credentials.backup."));
    const contents = await Promise.all(backups.map((b) => readFile(join(dir, b), "utf8")));
    expect(contents).toContain(rotated);
  });

  it("--restore without --yes and without a terminal fails at once naming --yes", async () => {
    const keys = await users(["rn"]);
    const { home, credentials } = await makeHome(fileOf(keys));
    expect((await runCli(["-t", "rn"], { home, endpoint: w.endpoint })).status).toBe(0);
    const rotated = await readFile(credentials, "utf8");
    const restore = await runCli(["--restore"], { home, endpoint: w.endpoint });
    expect(restore.status).toBe(2);
    expect(restore.stderr).toMatch(/--yes/);
    expect(await readFile(credentials, "utf8")).toBe(rotated);
  });

  it("--keep-backups 2 over four rotations leaves two backups", async () => {
    const keys = await users(["kb"]);
    const { home } = await makeHome(fileOf(keys));
    for (let i = 0; i < 4; i++) {
      const run = await runCli(["-t", "kb", "--keep-backups", "2"], { home, endpoint: w.endpoint });
      expect(run.status, run.stderr).toBe(0);
    }
    const backups = (await readdir(join(home, ".aws"))).filter((f) => f.startsWith("credentials.backup."));
    expect(backups).toHaveLength(2);
  });
});

describe("audit", () => {
  it("-k --older-than filters and --json gives one document with last use", async () => {
    const keys = await users(["au"]);
    const { home } = await makeHome(fileOf(keys));
    const fresh = await runCli(["-k", "-t", "au", "--older-than", "30", "--json"], {
      home,
      endpoint: w.endpoint,
    });
    expect(fresh.status, fresh.stderr).toBe(0);
    expect((JSON.parse(fresh.stdout) as { keys: unknown[] }).keys).toHaveLength(0);
    const all = await runCli(["-k", "-t", "au", "--json"], { home, endpoint: w.endpoint });
    const doc = JSON.parse(all.stdout) as {
      keys: { accessKeyId: string; marker: string; lastUsedDate: string | null }[];
    };
    expect(doc.keys).toHaveLength(1);
    expect(doc.keys[0]).toMatchObject({ accessKeyId: keys.get("au")!.accessKeyId, marker: "CURRENT" });
    expect(Object.keys(doc.keys[0]!)).toContain("lastUsedDate");
  });
});
