// The temp file of an atomic write is private from its first byte, whatever the umask: it holds
// the secrets before the rename makes it the credentials file.
import { mkdtemp, readdir, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { replaceFileAtomic } from "../../../src/store/atomic.js";

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
});
