// Batches as a person watching them sees them: the auth key rotated last whoever holds it, Ctrl-C
// that starts nothing new and reports every profile, a table that lines up and says what happened.
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import type { AccessKeyPair } from "../harness/fixtures.js";
import { callerIdentity } from "../harness/fixtures.js";
import { motoEnv } from "../harness/moto.js";
import { cliPath, keyOf, makeHome, profileText, readProfile, runCli } from "./cli.js";
import { useWorld } from "./world.js";

const w = useWorld();

async function users(names: string[], policy: "self" | "none" = "self"): Promise<Map<string, AccessKeyPair>> {
  const keys = new Map<string, AccessKeyPair>();
  for (const name of names) keys.set(name, await w.fx.createUserWithKey(name, { policy }));
  return keys;
}

const fileOf = (keys: Map<string, AccessKeyPair>) =>
  [...keys].map(([name, key]) => profileText(name, key)).join("\n");

describe("the auth key in a batch", () => {
  it("another profile holding the auth profile's key is rotated after all others", async () => {
    const keys = await users(["bx", "by"], "none");
    await w.fx.createUser("admin", { policy: "admin" });
    const admin = await w.fx.createKey("admin");
    // [laptop] holds admin's key under another name, and comes first.
    const { home, credentials } = await makeHome(
      `${profileText("laptop", admin)}\n${fileOf(keys)}\n${profileText("admin", admin)}`,
    );
    const run = await runCli(
      [
        "-a",
        "admin",
        "-t",
        "laptop",
        "-t",
        "bx",
        "-t",
        "by",
        "--old-key",
        "delete",
        "--yes",
        "--concurrency",
        "1",
      ],
      { home, endpoint: w.endpoint },
    );
    expect(run.status, run.stderr + run.stdout).toBe(0);
    for (const name of ["bx", "by", "laptop", "admin"]) {
      const now = keyOf(await readProfile(credentials, name));
      expect(await callerIdentity(w.endpoint, now)).toContain(
        name === "laptop" ? ":user/admin" : `:user/${name}`,
      );
    }
    const creates = w.proxy.calls.filter((c) => c.action === "CreateAccessKey" && c.status === 200);
    expect(creates.map((c) => c.params.UserName)).toEqual(["bx", "by", "admin"]);
    // The table keeps the order the user gave.
    const rows = run.stdout.split("\n").filter((l) => /✔/.test(l));
    expect(rows.map((l) => l.split(/\s+/)[0])).toEqual(["laptop", "bx", "by"]);
  });
});

describe("Ctrl-C in a batch", () => {
  it("starts no new rotation, lets the one under way finish, and names every profile's state", async () => {
    const names = ["c1", "c2", "c3", "c4", "c5"];
    const keys = await users(names);
    const { home, credentials } = await makeHome(fileOf(keys));
    w.proxy.setLatency(150);
    const child = spawn(process.execPath, [cliPath(), "--all", "--concurrency", "1"], {
      env: { PATH: process.env.PATH ?? "", HOME: home, NO_COLOR: "1", ...motoEnv(w.endpoint) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    const created = () => w.proxy.calls.filter((c) => c.action === "CreateAccessKey");
    for (let i = 0; i < 1000 && created().length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(created()).toHaveLength(1);
    child.kill("SIGINT");
    const code = await exited;
    w.proxy.setLatency(0);
    expect(code, stderr + stdout).toBe(130);
    expect(stderr).toMatch(/no new rotation starts/);
    expect(created(), "a rotation started after Ctrl-C").toHaveLength(1);
    expect(stdout).toMatch(/^c1\s+✔ done /m);
    for (const name of names.slice(1))
      expect(stdout).toMatch(new RegExp(`^${name}\\s+○ not started\\s+stopped by Ctrl-C`, "m"));
    expect(stdout).toMatch(/1 rotated, 4 not started \(of 5 profile\(s\)\)\./);
    expect(stderr).toMatch(/not started: c2, c3, c4, c5\. Run the same command again/);
    const now = keyOf(await readProfile(credentials, "c1"));
    expect(now.accessKeyId).not.toBe(keys.get("c1")!.accessKeyId);
    expect(await callerIdentity(w.endpoint, now)).toContain(":user/c1");
    for (const name of names.slice(1))
      expect(keyOf(await readProfile(credentials, name))).toEqual(keys.get(name));
  });
});

describe("Ctrl-C in a batch, a rotation still preparing", () => {
  it("stops before it changes anything and is reported as not started", async () => {
    const names = ["p1", "p2", "p3"];
    const keys = await users(names);
    const { home, credentials } = await makeHome(fileOf(keys));
    // p2 is still reading its keys when Ctrl-C comes; p1 is creating its new key. (Self-service
    // lists the signer's own keys, without a user name: the listing is picked by its signer.)
    w.gate.inject({
      action: "ListAccessKeys",
      fault: "delay",
      ms: 2_500,
      times: 1,
      signer: keys.get("p2")!.accessKeyId,
    });
    w.gate.inject({
      action: "CreateAccessKey",
      fault: "delay",
      ms: 500,
      times: 1,
      params: { UserName: "p1" },
    });
    const child = spawn(process.execPath, [cliPath(), "--all", "--concurrency", "2"], {
      env: { PATH: process.env.PATH ?? "", HOME: home, NO_COLOR: "1", ...motoEnv(w.endpoint) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    const creating = () => w.gate.calls.filter((c) => c.action === "CreateAccessKey");
    for (let i = 0; i < 1000 && creating().length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(creating().map((c) => c.params.UserName)).toEqual(["p1"]);
    child.kill("SIGINT");
    const code = await exited;
    expect(code, stderr + stdout).toBe(130);
    expect(
      creating().map((c) => c.params.UserName),
      "p2 created a key after Ctrl-C",
    ).toEqual(["p1"]);
    expect(stdout).toMatch(/^p1\s+✔ done /m);
    expect(stdout).toMatch(/^p2\s+○ not started\s+stopped by Ctrl-C/m);
    expect(stdout).toMatch(/^p3\s+○ not started/m);
    expect(stderr).not.toMatch(/^p2: rotating…/m);
    for (const name of ["p2", "p3"])
      expect(keyOf(await readProfile(credentials, name))).toEqual(keys.get(name));
    expect((await w.fx.listKeys("p2")).map((k) => k.accessKeyId)).toEqual([keys.get("p2")!.accessKeyId]);
    // Its journal entry is gone: the next run starts clean and rotates it.
    const again = await runCli(["-t", "p2"], { home, endpoint: w.endpoint });
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/Removed key|Another keyctl/);
  });
});

describe("the batch table and summary", () => {
  it("lines up with short names, says what a dry run and a skip did, and shows rotating… only for real work", async () => {
    const keys = await users(["a", "b"]);
    const { home, credentials } = await makeHome(fileOf(keys));
    const before = await readFile(credentials, "utf8");

    const dry = await runCli(["--all", "--dry-run"], { home, endpoint: w.endpoint });
    expect(dry.status, dry.stderr).toBe(0);
    const lines = dry.stdout.split("\n").filter((l) => l.trim() !== "");
    const header = lines.find((l) => l.startsWith("profile"))!;
    const rows = lines.filter((l) => /^[ab] /.test(l));
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      expect(row.indexOf("·"), row).toBe(header.indexOf("result"));
      expect(row.indexOf("would rotate"), row).toBe(header.indexOf("details"));
    }
    expect(dry.stdout).toMatch(/Dry run: 2 would be rotated \(of 2 profile\(s\)\)\. Nothing was changed\./);
    expect(dry.stdout).not.toMatch(/All \d+ profile\(s\) handled/);
    expect(dry.stderr).not.toMatch(/rotating…/);

    const skip = await runCli(["--all", "--older-than", "30"], { home, endpoint: w.endpoint });
    expect(skip.status, skip.stderr).toBe(0);
    expect(skip.stdout).toMatch(/^a\s+– skipped\s+key is 0 day\(s\) old, not older than 30$/m);
    expect(skip.stdout).not.toMatch(/skipped\s+skipped/);
    expect(skip.stdout).toMatch(/2 skipped \(of 2 profile\(s\)\)\. Nothing was changed\./);
    expect(skip.stderr).not.toMatch(/rotating…/);
    expect(await readFile(credentials, "utf8")).toBe(before);

    const real = await runCli(["--all"], { home, endpoint: w.endpoint });
    expect(real.status, real.stderr).toBe(0);
    expect(real.stderr).toMatch(/^a: rotating…$/m);
    expect(real.stdout).toMatch(/2 rotated \(of 2 profile\(s\)\)\./);
    expect(real.stdout).toMatch(
      /Backup of the file as it was before this run: \S+credentials\.backup\.\d{8}_\d{6}Z/,
    );
    expect(real.stderr).toMatch(/Retire them once nothing uses them: keyctl --finish -t a -t b$/m);
    const backup = /before this run: (\S+)/.exec(real.stdout)![1]!;
    expect(await readFile(backup, "utf8")).toBe(before);
  });
});
