// The reader behind every read of the credentials file: one reused buffer, the text decoded only
// when the bytes changed. What it gives must always be the file as it is now.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NotUtf8, TextFileReader } from "../../../src/store/textfile.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "keyctl-textfile-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("TextFileReader", () => {
  it("sees a change that keeps the file's size, and a file that grew past the size it was told", async () => {
    const path = join(dir, "same-size");
    const reader = new TextFileReader();
    await writeFile(path, "[a]\nx = 1\n");
    expect(reader.read(path, 10).text).toBe("[a]\nx = 1\n");
    await writeFile(path, "[a]\nx = 2\n");
    expect(reader.read(path, 10).text).toBe("[a]\nx = 2\n");
    const big = `[b]\n${"y = 3\n".repeat(5000)}`;
    await writeFile(path, big);
    expect(reader.read(path, 10).text).toBe(big);
    expect(reader.holds(path, Buffer.from(big))).toBe(true);
    await writeFile(path, big.replace("y = 3", "y = 4"));
    expect(reader.holds(path, Buffer.from(big))).toBe(false);
    expect(reader.holds(join(dir, "missing"), Buffer.from(big))).toBe(false);
  });

  it("keeps a byte order mark, gives the exact bytes, and refuses bytes that are not UTF-8", async () => {
    const path = join(dir, "bom");
    const reader = new TextFileReader();
    await writeFile(path, "\uFEFF[a]\nk = é\n");
    const read = reader.read(path);
    expect(read.text).toBe("\uFEFF[a]\nk = é\n");
    expect(reader.bytesOf(read.text).equals(Buffer.from("\uFEFF[a]\nk = é\n"))).toBe(true);
    await writeFile(path, Buffer.from([0x5b, 0x61, 0x5d, 0x0a, 0xff, 0x0a]));
    expect(() => reader.read(path)).toThrow(NotUtf8);
  });

  it("reads different files one after another each whole through the one reused buffer (none shows a longer one's tail)", async () => {
    const reader = new TextFileReader();
    const texts = Array.from({ length: 8 }, (_, i) => `[p${i}]\n${`k${i} = ${i}\n`.repeat(20000 + i)}`);
    const paths = texts.map((_, i) => join(dir, `overlap-${i}`));
    await Promise.all(paths.map((p, i) => writeFile(p, texts[i]!)));
    // One read first, so that the reused buffer exists and is big enough for every file.
    await writeFile(join(dir, "warm"), "x".repeat(1_000_000));
    reader.read(join(dir, "warm"));
    const read = paths.map((p) => reader.read(p, 1000));
    // Compared by equality, not printed: a diff of megabytes of text would take minutes.
    expect(read.map((r, i) => r.text === texts[i])).toEqual(texts.map(() => true));
  });
});
