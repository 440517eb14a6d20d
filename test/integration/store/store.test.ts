// The credentials store against a real file system, real child processes and real failures:
// everything under a fresh temp directory (HOME points there for children); the real ~/.aws is
// never touched. Needs root for tmpfs mounts and chattr (skipped with a reason otherwise).
import { type ChildProcessByStdio, spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import {
  chmod,
  chown,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  unlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeyctlError } from "../../../src/errors.js";
import { CredentialsDocument } from "../../../src/ini/document.js";
import { CredentialsStore } from "../../../src/store/store.js";
import { bundleStoreChild } from "../../helpers/bundle.js";
import { BIG, bigBody, flipEdit, originalText } from "../../helpers/flip.js";
import {
  backupsIn,
  fillDisk,
  modeOf,
  run,
  runNode,
  sleep,
  TEMP_FILE,
  tempFilesIn,
  tryRun,
} from "../../helpers/fsx.js";

const SAMPLE = [
  "# my credentials",
  "[default]",
  "aws_access_key_id = AKIADEFAULTOLD",
  "aws_secret_access_key = secret;with-semicolon",
  "",
  "; work account",
  "[work]",
  "aws_access_key_id=AKIAWORK",
  "aws_secret_access_key=worksecret # inline",
  "region = eu-west-1",
].join("\r\n");

let root: string;
let childScript: string;
let dirCounter = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "keyctl-store-it-"));
  childScript = await bundleStoreChild(root);
});

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

/** A fresh directory (a stand-in HOME) with a credentials file in it. */
async function freshHome(text = SAMPLE, mode = 0o600): Promise<{ dir: string; file: string }> {
  const dir = join(root, `home-${++dirCounter}`);
  await mkdir(dir, { recursive: true });
  const file = join(dir, "credentials");
  await writeFile(file, text, { mode });
  await chmod(file, mode);
  return { dir, file };
}

function childEnv(home: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    HOME: home,
    AWS_SHARED_CREDENTIALS_FILE: join(home, "credentials"),
    AWS_CONFIG_FILE: join(home, "config"),
    AWS_EC2_METADATA_DISABLED: "true",
    NO_COLOR: "1",
  };
}

const setKey = (id: string) => (doc: CredentialsDocument) => doc.set("default", "aws_access_key_id", id);

async function rejection(p: Promise<unknown>): Promise<KeyctlError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "expected the promise to reject").toBeInstanceOf(KeyctlError);
  const k = err as KeyctlError;
  expect(k.message).not.toMatch(/\n/);
  return k;
}

describe("atomic write, modes and backups", () => {
  it("tightens a 0644 file to 0600, backs up the exact old bytes (0600) and leaves no temp file", async () => {
    const { dir, file } = await freshHome(SAMPLE, 0o644);
    const store = new CredentialsStore(file);
    const result = await store.update(setKey("AKIADEFAULTNEW"));

    expect(result.changed).toBe(true);
    expect(result.tightenedFrom).toBe(0o644);
    expect(await readFile(file, "utf8")).toBe(SAMPLE.replace("AKIADEFAULTOLD", "AKIADEFAULTNEW"));
    expect(await modeOf(file)).toBe(0o600);
    expect(result.backupPath).toMatch(/\/credentials\.backup\.\d{8}_\d{6}Z$/);
    expect(await readFile(result.backupPath!, "utf8")).toBe(SAMPLE);
    expect(await modeOf(result.backupPath!)).toBe(0o600);
    expect(await tempFilesIn(dir)).toEqual([]);
    expect(existsSync(`${file}.lock`)).toBe(false);
  });

  it("makes one backup per store, and two stores in the same second make two distinct backups", async () => {
    const { dir, file } = await freshHome();
    const now = () => new Date(Date.UTC(2030, 0, 2, 3, 4, 5));
    const first = new CredentialsStore(file, { now });
    const r1 = await first.update(setKey("AKIAONE"));
    const r1b = await first.update(setKey("AKIAONEB"));
    expect(r1b.backupPath).toBeUndefined();
    const afterFirst = await readFile(file, "utf8");
    const second = new CredentialsStore(file, { now });
    const r2 = await second.update(setKey("AKIATWO"));

    expect(r1.backupPath).toBe(`${file}.backup.20300102_030405Z`);
    expect(r2.backupPath).toBe(`${file}.backup.20300102_030405Z_2`);
    expect(await backupsIn(dir)).toEqual([
      "credentials.backup.20300102_030405Z",
      "credentials.backup.20300102_030405Z_2",
    ]);
    expect(await readFile(r1.backupPath!, "utf8")).toBe(SAMPLE);
    expect(await readFile(r2.backupPath!, "utf8")).toBe(afterFirst);
    expect(await modeOf(r2.backupPath!)).toBe(0o600);
  });

  it("writes nothing and makes no backup when the edit changes nothing on a 0600 file", async () => {
    const { dir, file } = await freshHome();
    const before = await stat(file);
    const result = await new CredentialsStore(file).update(() => undefined);
    expect(result).toEqual({ value: undefined, changed: false });
    expect((await stat(file)).ino).toBe(before.ino);
    expect(await backupsIn(dir)).toEqual([]);
  });

  it("keeps a byte order mark, CRLF endings and a missing final newline byte for byte", async () => {
    const text = `\uFEFF${SAMPLE}`;
    const { file } = await freshHome(text);
    const result = await new CredentialsStore(file).update((doc) => {
      doc.set("work", "aws_access_key_id", "AKIAWORKNEW");
      doc.set("work", "output", "json");
    });
    // The new key goes in place; the new setting follows the last line in CRLF, the file still ends bare.
    expect(await readFile(file, "utf8")).toBe(
      `${text.replace("aws_access_key_id=AKIAWORK\r", "aws_access_key_id=AKIAWORKNEW\r")}\r\noutput = json`,
    );
    expect(await readFile(result.backupPath!)).toEqual(Buffer.from(text, "utf8"));
  });

  it("re-applies the edit when another program changes the file while keyctl prepares, losing neither change", async () => {
    const { file } = await freshHome();
    const edited = `${SAMPLE}\r\n[editor]\r\nadded = yes\r\n`;
    let calls = 0;
    const result = await new CredentialsStore(file).update((doc) => {
      calls++;
      doc.set("default", "aws_access_key_id", "AKIAKEYCTL");
      // An editor that ignores keyctl's lock saves the file while keyctl prepares its write.
      if (calls === 1) writeFileSync(file, edited);
    });
    expect(calls).toBe(2);
    const doc = CredentialsDocument.parse(await readFile(file, "utf8"));
    expect(doc.get("default", "aws_access_key_id")).toBe("AKIAKEYCTL");
    expect(doc.get("editor", "added")).toBe("yes");
    // The backup holds what keyctl replaced: restoring it loses only keyctl's change.
    expect(result.backupPath, "the backup is reported").toBeDefined();
    expect(await readFile(result.backupPath!, "utf8")).toBe(edited);
  });

  it("re-applies the edit when the file changes again during the locked write, losing no change", async () => {
    const { file } = await freshHome();
    const first = `${SAMPLE}\r\n[editor]\r\nadded = yes\r\n`;
    let calls = 0;
    const result = await new CredentialsStore(file).update((doc) => {
      calls++;
      doc.set("default", "aws_access_key_id", "AKIAKEYCTL");
      if (calls === 1) writeFileSync(file, first);
      // The second application is the one under the lock: this save races its rename.
      if (calls === 2) writeFileSync(file, `${first}[later]\r\nadded = too\r\n`);
    });
    expect(calls).toBe(3);
    const doc = CredentialsDocument.parse(await readFile(file, "utf8"));
    expect(doc.get("default", "aws_access_key_id")).toBe("AKIAKEYCTL");
    expect(doc.get("editor", "added")).toBe("yes");
    expect(doc.get("later", "added")).toBe("too");
    expect(result.backupPath, "the backup made on an earlier attempt is reported").toBeDefined();
    expect(await readFile(result.backupPath!, "utf8")).toBe(first);
  });

  it("an unchanged file is parsed and edited once, ahead of the lock, and the edit's value is returned", async () => {
    const { file } = await freshHome();
    let calls = 0;
    let lockedWhileEditing: boolean | undefined;
    const result = await new CredentialsStore(file).update((doc) => {
      calls++;
      lockedWhileEditing = existsSync(`${file}.lock`);
      doc.set("default", "aws_access_key_id", "AKIAKEYCTL");
      return "value";
    });
    expect(calls).toBe(1);
    expect(lockedWhileEditing, "the edit runs before the lock is taken").toBe(false);
    expect(result.value).toBe("value");
    expect(result.changed).toBe(true);
    expect(CredentialsDocument.parse(await readFile(file, "utf8")).get("default", "aws_access_key_id")).toBe(
      "AKIAKEYCTL",
    );
  });

  it("reads of an unchanged file share one parse; a same-size change with the old mtime is still seen", async () => {
    const { file } = await freshHome();
    const store = new CredentialsStore(file);
    const first = await store.read();
    expect((await store.read()).doc, "an unchanged file is not parsed again").toBe(first.doc);
    const before = await stat(file);
    // Another program swaps one key id for one of the same length and puts the mtime back.
    writeFileSync(file, SAMPLE.replace("AKIADEFAULTOLD", "AKIADEFAULTNEW"));
    await utimes(file, before.atime, before.mtime);
    const again = await store.read();
    expect(again.doc.get("default", "aws_access_key_id")).toBe("AKIADEFAULTNEW");
    await store.update((doc) => doc.set("default", "aws_access_key_id", "AKIAKEYCTL"));
    expect((await store.read()).doc.get("default", "aws_access_key_id")).toBe("AKIAKEYCTL");
  });

  it("an edit that throws writes nothing: no change, no backup, no temp, no lock left", async () => {
    const { dir, file } = await freshHome();
    const failing = new CredentialsStore(file).update(() => {
      throw new KeyctlError("refused by the edit");
    });
    await expect(failing).rejects.toThrow("refused by the edit");
    expect(await readFile(file, "utf8")).toBe(SAMPLE);
    expect((await readdir(dir)).sort()).toEqual(["credentials"]);
  });

  it("removes temp files that killed writers left (dead pids only) on the next update", async () => {
    const { dir, file } = await freshHome();
    const dead = await runNode(["-e", "process.stdout.write(String(process.pid))"], process.env);
    const deadPid = Number(dead.stdout);
    const leftovers = [
      `.credentials.keyctl-${deadPid}-0123456789ab.tmp`,
      `.credentials.backup.20300102_030405.keyctl-${deadPid}-0123456789ab.tmp`,
      `.credentials.backup.20300102_030405Z_2.keyctl-${deadPid}-0123456789ab.tmp`,
    ];
    const kept = [
      `.credentials.keyctl-${process.pid}-0123456789ab.tmp`, // a live process: not ours to remove
      `.credentials.work.keyctl-${deadPid}-0123456789ab.tmp`, // another file's temp
      "notes.tmp",
    ];
    for (const name of [...leftovers, ...kept])
      await writeFile(join(dir, name), "secret copy", { mode: 0o600 });

    await new CredentialsStore(file).update(setKey("AKIASWEPT"));

    const names = await readdir(dir);
    for (const name of leftovers) expect(names).not.toContain(name);
    for (const name of kept) expect(names).toContain(name);
  });

  it("keeps the owner of a file that belongs to another user", async () => {
    const { file } = await freshHome();
    await chown(file, 1234, 2345);
    await new CredentialsStore(file).update(setKey("AKIAOWNED"));
    const st = await stat(file);
    expect([st.uid, st.gid]).toEqual([1234, 2345]);
    expect(st.mode & 0o777).toBe(0o600);
  });
});

describe("symlinked credentials file", () => {
  it("stays a symlink; the target gets the new content; the backup sits next to the link", async () => {
    const { dir } = await freshHome();
    const realDir = join(dir, "dotfiles");
    await mkdir(realDir);
    const target = join(realDir, "aws-credentials");
    await writeFile(target, SAMPLE, { mode: 0o600 });
    const link = join(dir, "linked-credentials");
    await symlink("dotfiles/aws-credentials", link);

    const result = await new CredentialsStore(link).update(setKey("AKIAVIALINK"));

    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readlink(link)).toBe("dotfiles/aws-credentials");
    expect(await readFile(target, "utf8")).toBe(SAMPLE.replace("AKIADEFAULTOLD", "AKIAVIALINK"));
    expect(await modeOf(target)).toBe(0o600);
    expect(result.backupPath!.startsWith(`${link}.backup.`)).toBe(true);
    expect(await readFile(result.backupPath!, "utf8")).toBe(SAMPLE);
    expect(await tempFilesIn(dir)).toEqual([]);
    expect(await tempFilesIn(realDir)).toEqual([]);
    expect(existsSync(`${target}.lock`)).toBe(false);
  });
});

describe("crash safety (SIGKILL during writes)", () => {
  const KILLS_PER_LANE = 100;
  const LANES = 2;
  // Writer start-up takes ~50-150 ms, the first update (with its backup) ~40 ms, each later one ~20 ms:
  // a kill at a uniform time in this window after "ready" lands in every phase of a write. On a
  // loaded machine (other test files run in parallel) writes take longer, so the window is at least
  // what the first two writes of an unkilled writer take here and now.
  const KILL_WINDOW_MS = 110;

  /** Milliseconds from a writer's "ready" to its second completed write, on this machine now. */
  async function twoWritesMs(file: string, dir: string): Promise<number> {
    const child = spawn(process.execPath, [childScript, "flip", file], {
      env: childEnv(dir),
      stdio: ["ignore", "pipe", "ignore"],
    });
    const closed = new Promise((resolve) => child.on("close", resolve));
    let readyAt = 0;
    let writes = 0;
    const took = await new Promise<number>((resolve) => {
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        if (d.includes("ready")) readyAt = performance.now();
        writes += d.split("w\n").length - 1;
        if (writes >= 2) resolve(performance.now() - readyAt);
      });
      void closed.then(() => resolve(Number.POSITIVE_INFINITY));
    });
    child.kill("SIGKILL");
    await closed;
    await rm(`${file}.lock`, { recursive: true, force: true });
    return took;
  }

  it(`the file is always the old or a complete new version, over ${KILLS_PER_LANE * LANES} kills`, async () => {
    const original = originalText();
    const versionOf = (tag: "A" | "B") => {
      const doc = CredentialsDocument.parse(original);
      doc.putSection(BIG, bigBody(tag));
      return doc.toString();
    };
    const A = versionOf("A");
    const B = versionOf("B");
    // The writer's edit maps A to B and B to A exactly, so any complete write is one of the three.
    const check = CredentialsDocument.parse(A);
    flipEdit(check);
    expect(check.toString()).toBe(B);
    const allowed = new Map([
      [original, "O"],
      [A, "A"],
      [B, "B"],
    ]);

    const stats = {
      kills: 0,
      killsAfterAWrite: 0,
      writes: 0,
      seen: { O: 0, A: 0, B: 0 } as Record<string, number>,
      strayTemps: 0,
      strayBackupTemps: 0,
    };
    const problems: string[] = [];
    const calibration = await freshHome(original);
    const windowMs = Math.max(
      KILL_WINDOW_MS,
      Math.ceil(await twoWritesMs(calibration.file, calibration.dir)),
    );
    expect(windowMs, "an unkilled writer never finished two writes").toBeLessThan(Number.POSITIVE_INFINITY);

    const lane = async (n: number) => {
      const { dir, file } = await freshHome(original);
      const killed = new Set<number>();
      for (let k = 0; k < KILLS_PER_LANE; k++) {
        const child = spawn(process.execPath, [childScript, "flip", file], {
          env: childEnv(dir),
          stdio: ["ignore", "pipe", "pipe"],
        });
        // Kills take turns waiting for 0, 1 or 2 completed writes first, so they land in every phase
        // (start-up, the first write with its backup, later writes) however loaded the machine is.
        const afterWrites = k % 3;
        const outcome = await killAtRandom(child, afterWrites, afterWrites === 0 ? windowMs : windowMs / 2);
        if (outcome.signal !== "SIGKILL") {
          problems.push(
            `lane ${n}: writer ended by itself (${outcome.code}): ${outcome.stderr.slice(0, 300)}`,
          );
          break;
        }
        killed.add(child.pid!);
        stats.kills++;
        stats.writes += outcome.writes;
        if (outcome.writes > 0) stats.killsAfterAWrite++;

        const content = await readFile(file, "utf8");
        const tag = allowed.get(content);
        if (!tag) problems.push(`lane ${n} kill ${k}: file is none of O/A/B (${content.length} chars)`);
        else stats.seen[tag]!++;
        if (
          CredentialsDocument.parse(content).get("default", "aws_access_key_id") !== "AKIAORIGINALDEFAULT"
        ) {
          problems.push(`lane ${n} kill ${k}: [default] does not read back`);
        }
        if ((await modeOf(file)) !== 0o600) problems.push(`lane ${n} kill ${k}: mode ${await modeOf(file)}`);

        for (const name of await tempFilesIn(dir)) {
          const pid = Number(TEMP_FILE.exec(name)![1]);
          if (!killed.has(pid)) problems.push(`lane ${n} kill ${k}: temp file of a live writer? ${name}`);
          if (pid === child.pid) stats[name.includes(".backup.") ? "strayBackupTemps" : "strayTemps"]++;
        }
        for (const name of await backupsIn(dir)) {
          const backup = await readFile(join(dir, name), "utf8");
          if (!allowed.has(backup)) {
            problems.push(
              `lane ${n} kill ${k}: backup ${name} is not a complete file (${backup.length} chars)`,
            );
          }
          await unlink(join(dir, name));
        }
        // The lock a killed writer leaves goes stale only after 2 s; clear it instead of waiting.
        await rm(`${file}.lock`, { recursive: true, force: true });
      }
      // One ordinary update afterwards: it succeeds and leaves no temp file from the crashes behind.
      await new CredentialsStore(file).update(flipEdit);
      const after = await tempFilesIn(dir);
      if (after.length > 0)
        problems.push(`lane ${n}: stale temp files after a successful update: ${after.join(", ")}`);
      expect(allowed.has(await readFile(file, "utf8"))).toBe(true);
    };

    await Promise.all(Array.from({ length: LANES }, (_, i) => lane(i)));
    console.info(`crash test: kill window ${windowMs} ms, ${JSON.stringify(stats)}`);
    expect(problems).toEqual([]);
    expect(stats.kills).toBe(KILLS_PER_LANE * LANES);
    // The kills must have landed among the writes, not only before the first one.
    // (B on disk means that writer had finished two writes; the stats line shows the spread.)
    expect(stats.seen.A).toBeGreaterThan(0);
    expect(stats.seen.B).toBeGreaterThan(0);
  }, 240_000);
});

/** Waits for the writer's "ready" and `afterWrites` completed writes, lets it run a random 0..maxMs, then SIGKILLs it. */
async function killAtRandom(
  child: ChildProcessByStdio<null, Readable, Readable>,
  afterWrites: number,
  maxMs: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; writes: number; stderr: string }> {
  let writes = 0;
  let stderr = "";
  let ready!: () => void;
  const isReady = new Promise<void>((r) => {
    ready = r;
  });
  let sawReady = false;
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    if (d.includes("ready")) sawReady = true;
    writes += d.split("w\n").length - 1;
    if (sawReady && writes >= afterWrites) ready();
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal })),
  );
  const first = await Promise.race([
    isReady.then(() => "ready" as const),
    exited.then(() => "exited" as const),
  ]);
  if (first === "ready") {
    await sleep(Math.random() * maxMs);
    child.kill("SIGKILL");
  }
  const { code, signal } = await exited;
  return { code, signal, writes, stderr };
}

describe("lock", () => {
  it("three processes updating the same file concurrently lose no update", async () => {
    const { dir, file } = await freshHome(`${SAMPLE}\r\n[shared]\r\nseed = 1\r\n`);
    const COUNT = 25;
    const writers = ["a", "b", "c"];
    const results = await Promise.all(
      writers.map((who) => runNode([childScript, "add", file, who, String(COUNT)], childEnv(dir), 60_000)),
    );
    for (const r of results) expect(r.stderr).toBe("");
    for (const r of results) expect(r.stdout.trim()).toBe("done");

    const doc = CredentialsDocument.parse(await readFile(file, "utf8"));
    for (const who of writers) {
      for (let i = 0; i < COUNT; i++) {
        expect(doc.get(`sec-${who}`, `k${i}`), `sec-${who} k${i}`).toBe(`v${i}`);
        expect(doc.get("shared", `${who}_${i}`), `shared ${who}_${i}`).toBe(`${who}${i}`);
      }
    }
    expect(doc.get("default", "aws_access_key_id")).toBe("AKIADEFAULTOLD");
    expect(await tempFilesIn(dir)).toEqual([]);
    expect(existsSync(`${file}.lock`)).toBe(false);
  }, 60_000);

  it("waits for a live holder instead of breaking its lock", async () => {
    const { dir, file } = await freshHome();
    const holder = spawn(process.execPath, [childScript, "hold", file, "1500"], {
      env: childEnv(dir),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const holderDone = new Promise((r) => holder.on("close", r));
    await new Promise<void>((resolve, reject) => {
      holder.stdout.setEncoding("utf8").on("data", (d: string) => d.includes("locked") && resolve());
      holder.on("close", (code) => reject(new Error(`holder exited ${code}`)));
    });
    const started = Date.now();
    await new CredentialsStore(file, { staleLockMs: 5_000, lockWaitMs: 20_000 }).update(setKey("AKIAAFTER"));
    expect(Date.now() - started).toBeGreaterThan(900);
    expect(CredentialsDocument.parse(await readFile(file, "utf8")).get("default", "aws_access_key_id")).toBe(
      "AKIAAFTER",
    );
    await holderDone;
  });

  it("gives up after lockWaitMs with a message that says another keyctl is updating the file", async () => {
    const { dir, file } = await freshHome();
    const holder = spawn(process.execPath, [childScript, "hold", file, "3000"], {
      env: childEnv(dir),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const holderDone = new Promise((r) => holder.on("close", r));
    await new Promise<void>((resolve) =>
      holder.stdout.setEncoding("utf8").on("data", (d: string) => d.includes("locked") && resolve()),
    );
    const err = await rejection(
      new CredentialsStore(file, { staleLockMs: 10_000, lockWaitMs: 400 }).update(setKey("AKIANOPE")),
    );
    expect(err.message).toContain(file);
    expect(err.message).toMatch(/another keyctl/i);
    expect(await readFile(file, "utf8")).toBe(SAMPLE);
    holder.kill("SIGKILL");
    await holderDone;
  });

  it("takes over a lock left behind by a dead process once it is stale", async () => {
    const { dir, file } = await freshHome();
    const lock = `${file}.lock`;

    // Left long ago: taken over at once.
    await mkdir(lock);
    const old = new Date(Date.now() - 60_000);
    await utimes(lock, old, old);
    let started = Date.now();
    await new CredentialsStore(file, { staleLockMs: 2_000, lockWaitMs: 10_000 }).update(setKey("AKIASTALE1"));
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(existsSync(lock)).toBe(false);

    // Left just now by a process that died: taken over after the stale time, not before.
    await mkdir(lock);
    started = Date.now();
    await new CredentialsStore(file, { staleLockMs: 2_000, lockWaitMs: 10_000 }).update(setKey("AKIASTALE2"));
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(1_900);
    expect(waited).toBeLessThan(8_000);
    expect(CredentialsDocument.parse(await readFile(file, "utf8")).get("default", "aws_access_key_id")).toBe(
      "AKIASTALE2",
    );
    expect(existsSync(lock)).toBe(false);
    expect(await tempFilesIn(dir)).toEqual([]);
  });
});

/** A tiny tmpfs of our own (root only); undefined with the reason when this machine cannot. */
async function mountTmpfs(name: string, size = "64k"): Promise<{ mnt: string } | { skip: string }> {
  const mnt = join(root, name);
  await mkdir(mnt, { recursive: true });
  const r = tryRun("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0755`, "tmpfs", mnt]);
  if (!r.ok) return { skip: `cannot mount a tmpfs here (${r.error}); run as root` };
  mounted.push(mnt);
  return { mnt };
}

const mounted: string[] = [];
afterAll(() => {
  for (const mnt of mounted.reverse()) {
    if (!tryRun("umount", [mnt]).ok) tryRun("umount", ["-l", mnt]);
  }
});

describe("full disk", () => {
  it("fails with a one-line message about space when even the backup cannot be written", async (ctx) => {
    const m = await mountTmpfs("full-1");
    if ("skip" in m) return ctx.skip(m.skip);
    const file = join(m.mnt, "credentials");
    await writeFile(file, SAMPLE, { mode: 0o600 });
    fillDisk(join(m.mnt, "filler"));

    const err = await rejection(new CredentialsStore(file).update(setKey("AKIAFULL")));
    expect(err.message).toContain(file);
    expect(err.message).toMatch(/space/i);
    expect(await readFile(file, "utf8")).toBe(SAMPLE);
    expect(await tempFilesIn(m.mnt)).toEqual([]);
    expect(await backupsIn(m.mnt), "no empty or partial backup is left").toEqual([]);
    expect(existsSync(`${file}.lock`)).toBe(false);
  });

  it("fails cleanly when the backup fits but the new file does not", async (ctx) => {
    const m = await mountTmpfs("full-2");
    if ("skip" in m) return ctx.skip(m.skip);
    const file = join(m.mnt, "credentials");
    const text = `${SAMPLE}\r\n${"# padding padding padding padding padding padding padding\r\n".repeat(100)}`;
    await writeFile(file, text, { mode: 0o600 });
    // Room for exactly one more copy of the file: the backup.
    const ballast = join(m.mnt, "ballast");
    await writeFile(ballast, Buffer.alloc(text.length));
    fillDisk(join(m.mnt, "filler"));
    await unlink(ballast);

    const err = await rejection(new CredentialsStore(file).update(setKey("AKIAFULLTOO")));
    expect(err.message).toContain(file);
    expect(err.message).toMatch(/space/i);
    expect(await readFile(file, "utf8")).toBe(text);
    expect(await tempFilesIn(m.mnt)).toEqual([]);
    for (const b of await backupsIn(m.mnt)) expect(await readFile(join(m.mnt, b), "utf8")).toBe(text);
  });

  it("fails cleanly when a store that already made its backup meets a full disk", async (ctx) => {
    const m = await mountTmpfs("full-3");
    if ("skip" in m) return ctx.skip(m.skip);
    const file = join(m.mnt, "credentials");
    await writeFile(file, SAMPLE, { mode: 0o600 });
    const store = new CredentialsStore(file);
    await store.update(setKey("AKIAFIRST"));
    const before = await readFile(file);
    fillDisk(join(m.mnt, "filler"));

    const err = await rejection(store.update((doc) => doc.putSection("bigger", bigBody("A", 200))));
    expect(err.message).toContain(file);
    expect(err.message).toMatch(/space/i);
    expect(await readFile(file)).toEqual(before);
    expect(await tempFilesIn(m.mnt)).toEqual([]);
  });
});

describe("unwritable file", () => {
  const places = [
    { name: "the temp directory's file system", tmpfs: false },
    { name: "tmpfs", tmpfs: true },
  ];
  for (const place of places) {
    it(`an immutable file (chattr +i) on ${place.name}: one-line error naming it, untouched`, async (ctx) => {
      let dir: string;
      if (place.tmpfs) {
        const m = await mountTmpfs("immutable");
        if ("skip" in m) return ctx.skip(m.skip);
        dir = m.mnt;
      } else {
        dir = (await freshHome()).dir;
      }
      const file = join(dir, "credentials");
      await writeFile(file, SAMPLE, { mode: 0o600 });
      const probe = tryRun("chattr", ["+i", file]);
      if (!probe.ok) return ctx.skip(`chattr +i is not supported on ${place.name}: ${probe.error}`);
      try {
        const err = await rejection(new CredentialsStore(file).update(setKey("AKIAIMMUTABLE")));
        expect(err.message).toContain(file);
        expect(err.message).toMatch(/permission denied|immutable/i);
        expect(err.message).toMatch(/unchanged/i);
        expect(await readFile(file, "utf8")).toBe(SAMPLE);
        expect(await tempFilesIn(dir)).toEqual([]);
        expect(existsSync(`${file}.lock`)).toBe(false);
      } finally {
        run("chattr", ["-i", file]);
      }
    });
  }

  it("an immutable directory: fails at once with a permission error naming the file, untouched", async (ctx) => {
    const { dir, file } = await freshHome();
    const probe = tryRun("chattr", ["+i", dir]);
    if (!probe.ok) return ctx.skip(`chattr +i is not supported here: ${probe.error}`);
    try {
      const started = Date.now();
      const err = await rejection(new CredentialsStore(file).update(setKey("AKIAIMMUTABLEDIR")));
      expect(Date.now() - started, "fails at once, not after the lock wait").toBeLessThan(3_000);
      expect(err.message).toContain(file);
      expect(err.message).toMatch(/permission denied/i);
      expect(await readFile(file, "utf8")).toBe(SAMPLE);
      expect(await readdir(dir)).toEqual(["credentials"]);
    } finally {
      run("chattr", ["-i", dir]);
    }
  });

  it("a read-only file system: clear error naming the file, untouched; reading still works", async (ctx) => {
    const m = await mountTmpfs("readonly");
    if ("skip" in m) return ctx.skip(m.skip);
    const file = join(m.mnt, "credentials");
    await writeFile(file, SAMPLE, { mode: 0o600 });
    run("mount", ["-o", "remount,ro", m.mnt]);
    try {
      const store = new CredentialsStore(file);
      expect((await store.read()).doc.get("work", "region")).toBe("eu-west-1");
      const started = Date.now();
      const err = await rejection(store.update(setKey("AKIARO")));
      expect(Date.now() - started, "fails at once, not after the lock wait").toBeLessThan(3_000);
      expect(err.message).toContain(file);
      expect(err.message).toMatch(/read-only/i);
      expect(err.message).toMatch(/--credentials/);
      expect(await readFile(file, "utf8")).toBe(SAMPLE);
      expect(await readdir(m.mnt)).toEqual(["credentials"]);
    } finally {
      run("mount", ["-o", "remount,rw", m.mnt]);
    }
  });
});

describe("missing file or directory", () => {
  for (const missing of ["no-such-file", "no-such-dir/credentials"]) {
    it(`${missing}: read and update fail naming the path and how to point elsewhere`, async () => {
      const { dir } = await freshHome();
      const path = join(dir, missing);
      for (const attempt of [
        () => new CredentialsStore(path).read(),
        () => new CredentialsStore(path).update(setKey("AKIAX")),
      ]) {
        const err = await rejection(attempt());
        expect(err.message).toContain(path);
        expect(err.message).toMatch(/--credentials/);
        expect(err.exitCode).toBe(1);
      }
      expect(existsSync(path)).toBe(false);
    });
  }
});

describe("keyctl --list (the built CLI)", () => {
  const cli = new URL("../../../dist/keyctl.mjs", import.meta.url).pathname;
  const LISTED = [
    "[default]",
    "aws_access_key_id = AKIADEFAULT1",
    "aws_secret_access_key = s",
    "[zeta]",
    "aws_access_key_id = ASIATEMP",
    "aws_secret_access_key = s",
    "aws_session_token = t",
    "[default-previous]",
    "# keyctl: previous key of [default]",
    "aws_access_key_id = AKIAOLD",
    "aws_secret_access_key = s",
    "[alpha]",
    "region = eu-west-1",
    "",
  ].join("\n");

  beforeAll(() => {
    if (!existsSync(cli))
      run(process.execPath, [new URL("../../../scripts/build.mjs", import.meta.url).pathname]);
  });

  it("prints the profiles in file order without *-previous, each with its kind", async () => {
    const { dir, file } = await freshHome(LISTED);
    const r = await runNode([cli, "--list", "-c", file], childEnv(dir));
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines.map((l) => l.trim().split(/\s+/)[0])).toEqual(["default", "zeta", "alpha"]);
    expect(lines[0]).toMatch(/long-term/);
    expect(lines[0]).toContain("AKIADEFAULT1");
    expect(lines[1]).toMatch(/temporary/);
    expect(lines[2]).toMatch(/no key/);
    expect(r.stdout).not.toContain("previous");
    expect(r.stdout).not.toMatch(/\bs\b|\bt\b$/m);
  });

  it("--json prints exactly one JSON document on stdout", async () => {
    const { dir, file } = await freshHome(LISTED);
    const r = await runNode([cli, "--list", "--json", "-c", file], childEnv(dir));
    expect(r.code).toBe(0);
    const parsed = JSON.parse(r.stdout) as { profiles: { name: string; kind: string }[] };
    expect(parsed.profiles.map((p) => [p.name, p.kind])).toEqual([
      ["default", "long-term"],
      ["zeta", "temporary"],
      ["alpha", "none"],
    ]);
  });

  it("reads AWS_SHARED_CREDENTIALS_FILE when no -c is given", async () => {
    const { dir } = await freshHome(LISTED);
    const r = await runNode([cli, "--list"], childEnv(dir));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("alpha");
  });

  it("a missing file: exit 1, one line on stderr, no stack trace, nothing on stdout", async () => {
    const { dir } = await freshHome();
    const missing = join(dir, "nope", "credentials");
    const r = await runNode([cli, "--list", "-c", missing], childEnv(dir));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(missing);
    expect(lines[0]).toMatch(/--credentials/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
