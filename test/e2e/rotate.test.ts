import { lstat, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { callerIdentity, createFixtures, type Fixtures } from "../harness/fixtures.js";
import { type MotoServer, startMoto } from "../harness/moto.js";
import { type FaultProxy, startProxy } from "../harness/proxy.js";
import { keyOf, makeHome, profileText, readProfile, runCli } from "./cli.js";

let moto: MotoServer;
let proxy: FaultProxy;
let fx: Fixtures;

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startProxy(moto.url);
  fx = createFixtures(moto.url, { proxy });
});
afterAll(async () => {
  await proxy?.close();
  await moto?.stop();
});
beforeEach(async () => {
  await moto.reset();
  proxy.reset();
});

describe("self-service rotation", () => {
  it("rotates the key, keeps the old one in -previous and leaves the rest of the file byte-identical", async () => {
    const key = await fx.createUserWithKey("alice");
    const before = `# my comment\r\n[other]\r\naws_access_key_id=AKIAOTHER\r\naws_secret_access_key=x\r\n\r\n${profileText("alice", key, "region = eu-west-1\n").replaceAll("\n", "\r\n")}; trailing`;
    const { home, credentials } = await makeHome(before);
    const run = await runCli(["-t", "alice"], { home, endpoint: proxy.url });
    expect(run.stderr).not.toMatch(/at .*\.mjs:\d+/);
    expect(run.status, run.stderr).toBe(0);
    const next = keyOf(await readProfile(credentials, "alice"));
    expect(next.accessKeyId).not.toBe(key.accessKeyId);
    expect(await callerIdentity(proxy.url, next)).toBe("arn:aws:iam::123456789012:user/alice");
    const prev = await readProfile(credentials, "alice-previous");
    expect(keyOf(prev)).toEqual(key);
    expect(prev?.get("region")).toBe("eu-west-1");
    const after = await readFile(credentials, "utf8");
    expect(
      after.startsWith(
        "# my comment\r\n[other]\r\naws_access_key_id=AKIAOTHER\r\naws_secret_access_key=x\r\n\r\n[alice]\r\n",
      ),
    ).toBe(true);
    expect(after).toContain("; trailing");
    expect(after).not.toMatch(/[^\r]\n/);
    expect((await stat(credentials)).mode & 0o777).toBe(0o600);
    const backups = (await readdir(join(home, ".aws"))).filter((f) => f.startsWith("credentials.backup."));
    expect(backups).toHaveLength(1);
    expect(await readFile(join(home, ".aws", backups[0]!), "utf8")).toBe(before);
    expect((await lstat(join(home, ".aws", backups[0]!))).mode & 0o777).toBe(0o600);
    expect(run.stdout + run.stderr).not.toContain(key.secretAccessKey);
    expect(run.stdout + run.stderr).not.toContain(next.secretAccessKey);
    const keys = await fx.listKeys("alice");
    expect(keys.map((k) => k.accessKeyId).sort()).toEqual([key.accessKeyId, next.accessKeyId].sort());
  });
});
