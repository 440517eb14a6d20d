// `keyctl --help` and `keyctl --list` must never load the AWS SDK: they run here from a copy of the
// build whose SDK chunks were deleted, so loading one would fail the command.
import { spawnSync } from "node:child_process";
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const DIST = resolve(import.meta.dirname, "../../dist");
let dir: string;
let removed: string[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "keyctl-startup-"));
  await cp(DIST, join(dir, "dist"), { recursive: true });
  const chunks = join(dir, "dist", "chunks");
  removed = [];
  for (const name of await readdir(chunks)) {
    const text = await readFile(join(chunks, name), "utf8");
    if (/STSClient|IAMClient|@aws-sdk|credential-provider/.test(text)) {
      await rm(join(chunks, name));
      removed.push(name);
    }
  }
  await writeFile(
    join(dir, "credentials"),
    "# c\n[a]\naws_access_key_id = AKIAA\naws_secret_access_key = s\n",
    {
      mode: 0o600,
    },
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function run(args: string[]) {
  return spawnSync(process.execPath, [join(dir, "dist", "keyctl.mjs"), ...args], {
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "", HOME: dir },
  });
}

describe("start-up without the AWS SDK", () => {
  it("the build really has SDK chunks to remove", () => {
    expect(removed.length).toBeGreaterThan(3);
  });

  it("--help, --version and --list run with every SDK chunk gone", () => {
    expect(run(["--help"]).status).toBe(0);
    expect(run(["--version"]).status).toBe(0);
    const list = run(["--list", "-c", join(dir, "credentials")]);
    expect(list.stderr).toBe(`Profiles in ${join(dir, "credentials")}:\n`);
    expect(list.stdout).toContain("a  long-term key  AKIAA");
    expect(list.status).toBe(0);
  });

  it("a command that needs AWS does load them (so the check above can fail)", () => {
    const rotate = run(["-t", "a", "-c", join(dir, "credentials")]);
    expect(rotate.status).not.toBe(0);
    expect(rotate.stderr).toMatch(/keyctl: /);
  });
});
