// Fault matrix, file steps: lock → backup → journal → (CreateAccessKey) → new file → (compensation:
// delete the new key, else a recovery file). A full disk (a tiny tmpfs filled to leave exactly N
// free pages) and immutable files (chattr +i; the tests run as root, so chmod would not stop a write).
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, statfs, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./cli.js";
import { runWithFaults, type Scenario, scenario } from "./faults.js";
import { keyIds, useWorld } from "./world.js";

const w = useWorld();
let mnt: string;
let caseNo = 0;

beforeAll(async () => {
  mnt = await mkdtemp(join(tmpdir(), "keyctl-e2e-tmpfs-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs", mnt]);
});
afterAll(async () => {
  if (!mnt) return;
  try {
    execFileSync("umount", [mnt]);
  } catch {
    execFileSync("umount", ["-l", mnt]);
  }
  await rmdir(mnt);
});

const FILLER = () => join(mnt, "filler");

/** Fills the tmpfs so that exactly `pages` pages (4 KiB) stay free. */
async function leaveFree(pages: number): Promise<void> {
  await rm(FILLER(), { force: true });
  const s = await statfs(mnt);
  await writeFile(FILLER(), Buffer.alloc((s.bavail - pages) * s.bsize));
  expect((await statfs(mnt)).bavail).toBe(pages);
}

async function onTmpfs(): Promise<Scenario> {
  await rm(FILLER(), { force: true });
  const dir = join(mnt, `case${++caseNo}`);
  await mkdir(dir);
  return scenario(w, { credentialsPath: join(dir, "credentials") });
}

const created = () => w.proxy.calls.filter((c) => c.action === "CreateAccessKey" && c.status === 200);

describe("full disk", () => {
  it("no room for the backup: exit 1 before any key is created", async () => {
    const s = await onTmpfs();
    await leaveFree(0);
    const { run } = await runWithFaults(w, s, ["-t", "alice"], { exit: 1 });
    expect(run.stderr).toMatch(/No space left.*backup/);
    expect(created()).toEqual([]);
  });

  it("room for the backup but not the journal: exit 1 before any key is created", async () => {
    const s = await onTmpfs();
    await leaveFree(1);
    const { run } = await runWithFaults(w, s, ["-t", "alice"], { exit: 1 });
    expect(run.stderr).toMatch(/No space left.*journal/);
    expect(created()).toEqual([]);
  });

  it("no room for the new file: the new key is deleted again, exit 1, the old file intact", async () => {
    const s = await onTmpfs();
    await leaveFree(2);
    const { run } = await runWithFaults(w, s, ["-t", "alice"], { exit: 1 });
    expect(run.stderr).toMatch(/No space left/);
    expect(run.stderr).toMatch(/deleted again/);
    expect(created()).toHaveLength(1);
    const deleted = w.proxy.calls
      .filter((c) => c.action === "DeleteAccessKey")
      .map((c) => c.params.AccessKeyId);
    expect(deleted).toHaveLength(1);
    expect(deleted[0]).not.toBe(s.alice.accessKeyId);
    expect(await keyIds(w.fx, "alice")).toEqual([s.alice.accessKeyId]);
    const leftovers = (await readdir(join(mnt, `case${caseNo}`))).filter((f) => f.includes(".tmp"));
    expect(leftovers, "no temp file left behind").toEqual([]);
  });

  it("no room for the new file and the new key cannot be deleted: its secret goes to a 0600 recovery file, exit 3; the next run cleans up", async () => {
    const s = await onTmpfs();
    await leaveFree(2);
    w.gate.inject({ action: "DeleteAccessKey", fault: "500" });
    const { run, outcome } = await runWithFaults(w, s, ["-t", "alice"], { exit: 3 });
    expect(outcome.file).toBe("old");
    expect(outcome.recoveryFiles).toHaveLength(1);
    const recovery = outcome.recoveryFiles[0]!;
    expect(recovery.startsWith(join(s.home, ".aws"))).toBe(true);
    const stranded = (await keyIds(w.fx, "alice")).filter((id) => id !== s.alice.accessKeyId);
    expect(stranded).toHaveLength(1);
    expect(await readFile(recovery, "utf8")).toContain(stranded[0]);
    expect(run.stderr).toContain(recovery);

    w.gate.reset();
    await rm(FILLER());
    const rerun = await runCli([...s.fileArgs, "-t", "alice"], { home: s.home, endpoint: w.endpoint });
    expect(rerun.status, rerun.stderr).toBe(0);
    expect(rerun.stderr).toContain(`Removed key ${stranded[0]}`);
    expect(await keyIds(w.fx, "alice")).not.toContain(stranded[0]);
  });

  it("three free pages are enough (the cases above fail for the reason they name)", async () => {
    const s = await onTmpfs();
    await leaveFree(3);
    const { outcome } = await runWithFaults(w, s, ["-t", "alice"], { exit: 0 });
    expect(outcome.file).toBe("new");
  });
});

describe("immutable files (chattr +i)", () => {
  async function withImmutable<T>(paths: string[], fn: () => Promise<T>): Promise<T> {
    for (const p of paths) execFileSync("chattr", ["+i", p]);
    try {
      return await fn();
    } finally {
      for (const p of paths) execFileSync("chattr", ["-i", p]);
    }
  }

  it("the credentials file: the new key is deleted again, exit 1, the message names the immutable flag", async () => {
    const s = await scenario(w);
    const { run } = await withImmutable([s.credentials], () =>
      runWithFaults(w, s, ["-t", "alice"], { exit: 1 }),
    );
    expect(run.stderr).toMatch(/immutable/);
    expect(run.stderr).toMatch(/deleted again/);
    expect(created()).toHaveLength(1);
    expect(await keyIds(w.fx, "alice")).toEqual([s.alice.accessKeyId]);
  });

  it("the directory (no lock, no backup possible): exit 1 before any key is created", async () => {
    const s = await scenario(w);
    const started = Date.now();
    const { run } = await withImmutable([join(s.home, ".aws")], () =>
      runWithFaults(w, s, ["-t", "alice"], { exit: 1 }),
    );
    expect(run.stderr).toMatch(/Permission denied|not permitted/);
    expect(created()).toEqual([]);
    // A lock that can never be taken (EPERM, not "held by another keyctl") is no reason to wait.
    expect(Date.now() - started, "waited for a lock that cannot be created").toBeLessThan(15_000);
  });

  it("at the 2-key limit, the directory: exit 1 and the -previous key is still there (nothing changed)", async () => {
    const s = await scenario(w, { previous: true });
    const { run } = await withImmutable([join(s.home, ".aws")], () =>
      runWithFaults(w, s, ["-t", "alice"], { exit: 1 }),
    );
    expect(await keyIds(w.fx, "alice")).toEqual(s.before.keys.alice);
    expect(w.proxy.calls.filter((c) => c.action === "DeleteAccessKey")).toEqual([]);
    expect(run.stderr).not.toMatch(/Deleted key/);
  });

  it("at the 2-key limit, the credentials file: exit 1, the message says the -previous key went to make room", async () => {
    const s = await scenario(w, { previous: true });
    const { run } = await withImmutable([s.credentials], () =>
      runWithFaults(w, s, ["-t", "alice"], { exit: 1, madeRoom: s.previous!.accessKeyId }),
    );
    expect(run.stderr).toMatch(/deleted again; profile alice is unchanged; only key/);
    expect(await keyIds(w.fx, "alice")).toEqual([s.alice.accessKeyId]);
  });

  it("the journal: exit 1 before any key is created", async () => {
    const s = await scenario(w);
    const journal = `${s.credentials}.keyctl-journal`;
    await writeFile(journal, '{"version":1,"entries":{}}\n', { mode: 0o600 });
    const { run } = await withImmutable([journal], () => runWithFaults(w, s, ["-t", "alice"], { exit: 1 }));
    expect(run.stderr).toMatch(/journal/);
    expect(created()).toEqual([]);
    await rm(journal);
  });

  it("the credentials file and the new key cannot be deleted: recovery file next to it, exit 3; the next run cleans up", async () => {
    const s = await scenario(w);
    w.gate.inject({ action: "DeleteAccessKey", fault: "drop" });
    const { run, outcome } = await withImmutable([s.credentials], () =>
      runWithFaults(w, s, ["-t", "alice"], { exit: 3 }),
    );
    expect(outcome.recoveryFiles).toHaveLength(1);
    expect(outcome.recoveryFiles[0]!.startsWith(join(s.home, ".aws"))).toBe(true);
    expect(run.stderr).toMatch(/keyctl-recovery/);
    const stranded = (await keyIds(w.fx, "alice")).filter((id) => id !== s.alice.accessKeyId);
    expect(stranded).toHaveLength(1);

    w.gate.reset();
    const rerun = await runCli(["-t", "alice"], { home: s.home, endpoint: w.endpoint });
    expect(rerun.status, rerun.stderr).toBe(0);
    expect(rerun.stderr).toContain(`Removed key ${stranded[0]}`);
    expect(await keyIds(w.fx, "alice")).not.toContain(stranded[0]);
  });
});
