// The temp file of an atomic write is private from its first byte, whatever the umask: it holds
// the secrets before the rename makes it the credentials file.
import { mkdtemp, readdir, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { replaceFileAtomic, writeNewPrivateFile } from "../../../src/store/atomic.js";
import { TEMP_FILE, tempFilesIn } from "../../helpers/fsx.js";

describe("replaceFileAtomic", () => {
  it("writes through a 0600 temp file even under umask 000, and leaves none behind", async () => {
    const dir = await mkdtemp(join(tmpdir(), "keyctl-atomic-"));
    const target = join(dir, "credentials");
    await writeFile(target, "old\n", { mode: 0o644 });
    const previous = process.umask(0);
    const seen: number[] = [];
    try {
      await replaceFileAtomic(target, Buffer.from("new\n"), async () => {
        const temps = (await readdir(dir)).filter((f) => f.endsWith(".tmp"));
        expect(temps).toHaveLength(1);
        seen.push((await stat(join(dir, temps[0]!))).mode & 0o777);
      });
    } finally {
      process.umask(previous);
    }
    expect(seen).toEqual([0o600]);
    expect((await stat(target)).mode & 0o777).toBe(0o600);
    expect((await readdir(dir)).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("the shared temp-name pattern sees the temp file while it exists, with this process's pid", async () => {
    const dir = await mkdtemp(join(tmpdir(), "keyctl-atomic-"));
    const target = join(dir, "credentials");
    await writeFile(target, "old\n", { mode: 0o600 });
    const midWrite: string[] = [];
    await replaceFileAtomic(target, Buffer.from("new\n"), async () => {
      midWrite.push(...(await tempFilesIn(dir)));
    });
    expect(midWrite).toHaveLength(1);
    expect(Number(TEMP_FILE.exec(midWrite[0]!)?.[1])).toBe(process.pid);
    expect(await tempFilesIn(dir)).toEqual([]);
  });

  it("a killed writer's leftover matches the pattern too (backups and new files use the same names)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "keyctl-atomic-"));
    // The name another process made: same shape, other pid.
    await writeFile(join(dir, ".credentials.backup.20261202_181500.keyctl-4242-mz0k1a2b3c.tmp"), "x");
    await writeNewPrivateFile(join(dir, "fresh"), Buffer.from("y"));
    expect(await tempFilesIn(dir)).toEqual([
      ".credentials.backup.20261202_181500.keyctl-4242-mz0k1a2b3c.tmp",
    ]);
  });
});
