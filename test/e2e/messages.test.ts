// The words a user reads when something is off: a skip, AWS's own reason for a refusal, a
// credentials path that is not a regular file, a directory that refuses new files, a "backup"
// that is not a credentials file.
import { execFileSync } from "node:child_process";
import { readdir, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { keyOf, makeHome, profileText, readProfile, runCli } from "./cli.js";
import { expectCleanOutput, expectOneProblemLine, useWorld } from "./world.js";

const w = useWorld();

describe("a skipped rotation", () => {
  it("--older-than on a fresh key says skipped and why; an old-enough key is rotated", async () => {
    const key = await w.fx.createUserWithKey("sk");
    const { home, credentials } = await makeHome(profileText("sk", key));
    const skip = await runCli(["-t", "sk", "--older-than", "30"], { home, endpoint: w.endpoint });
    expect(skip.status, skip.stderr).toBe(0);
    expect(skip.stdout).toMatch(
      /Skipped profile sk .*key is 0 day\(s\) old, not older than 30 \(--older-than\)/,
    );
    expect(skip.stdout).not.toMatch(/Rotated profile/);
    expect(keyOf(await readProfile(credentials, "sk"))).toEqual(key);
    const rotate = await runCli(["-t", "sk", "--older-than", "0"], { home, endpoint: w.endpoint });
    expect(rotate.status, rotate.stderr).toBe(0);
    expect(rotate.stdout).toMatch(/Rotated profile sk/);
    expect(rotate.stdout).not.toMatch(/Skipped profile/);
  });
});

describe("AccessDenied", () => {
  it("keeps keyctl's advice and adds AWS's own reason after it", async () => {
    const key = await w.fx.createUserWithKey("denied", { policy: "none" });
    const { home } = await makeHome(profileText("denied", key));
    const run = await runCli(["-t", "denied", "--user", "denied"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(1);
    const line = expectOneProblemLine(run, /AccessDenied\); give the auth profile the keyctl policy/);
    expect(line).toMatch(
      /policies\/ in the README\)\. AWS says: .*not authorized to perform: iam:ListAccessKeys/,
    );
    expectCleanOutput(run, [key.secretAccessKey]);
  });
});

describe("a credentials path that is not a regular file", () => {
  it("a FIFO is refused at once with a clear message instead of blocking (rotation, --list, --restore)", async () => {
    const key = await w.fx.createUserWithKey("ff");
    const { home, credentials } = await makeHome(profileText("ff", key));
    const fifo = join(dirname(credentials), "pipe");
    execFileSync("mkfifo", [fifo]);
    for (const args of [
      ["-c", fifo, "-t", "ff"],
      ["-c", fifo, "--list"],
      ["--restore", fifo, "--yes"],
    ]) {
      const run = await runCli(args, { home, endpoint: w.endpoint, killAfterMs: 15_000 });
      expect(run.signal, `${args.join(" ")} blocked`).toBeNull();
      expect(run.status, run.stderr).toBe(1);
      expectOneProblemLine(run, /pipe is a named pipe \(FIFO\), not a regular file/);
    }
    const dir = await runCli(["-c", dirname(credentials), "--list"], { home, endpoint: w.endpoint });
    expectOneProblemLine(dir, /is a directory, not a credentials file/);
    const ok = await runCli(["--list"], { home, endpoint: w.endpoint });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/ff/);
  });
});

describe("a directory that refuses new files", () => {
  it("an immutable ~/.aws is reported as the directory's problem, not the file's", async () => {
    const key = await w.fx.createUserWithKey("ro");
    const { home } = await makeHome(profileText("ro", key));
    const dir = join(home, ".aws");
    execFileSync("chattr", ["+i", dir]);
    try {
      const run = await runCli(["-t", "ro"], { home, endpoint: w.endpoint });
      expect(run.status, run.stderr).toBe(1);
      expectOneProblemLine(
        run,
        new RegExp(
          `Permission denied creating files in the directory ${dir} \\(while locking ${dir}/credentials\\)`,
        ),
      );
    } finally {
      execFileSync("chattr", ["-i", dir]);
    }
    const fine = await runCli(["-t", "ro"], { home, endpoint: w.endpoint });
    expect(fine.status, fine.stderr).toBe(0);
  });
});

describe("--restore of something that is not a credentials file", () => {
  it("refuses prose, JSON, binary and a file without profiles; a real backup restores", async () => {
    const key = await w.fx.createUserWithKey("rs");
    const { home, credentials } = await makeHome(profileText("rs", key));
    const before = await readFile(credentials, "utf8");
    const dir = dirname(credentials);
    const cases: [string, string | Buffer, RegExp][] = [
      ["notes.txt", "remember to rotate the keys\n", /it has no \[profile\] section/],
      ["keys.json", '{"aws_access_key_id": "AKIA"}\n', /it has no \[profile\] section/],
      [
        "mixed",
        "[x]\nregion = eu-west-1\nthis is prose\n",
        /line 3 is neither a \[section\], a setting nor a comment/,
      ],
      ["blob.bin", Buffer.from([0xff, 0xfe, 0x00, 0x81, 0x90]), /not UTF-8 text/],
      ["empty", "# nothing here\n\n", /it has no \[profile\] section/],
    ];
    for (const [name, body, why] of cases) {
      await writeFile(join(dir, name), body, { mode: 0o600 });
      const run = await runCli(["--restore", name, "--yes"], { home, endpoint: w.endpoint });
      expect(run.status, `${name}: ${run.stderr}`).toBe(1);
      const line = expectOneProblemLine(run, /is not (a credentials file|UTF-8 text)/);
      expect(line).toMatch(why);
      expect(line).toMatch(/nothing was changed/);
      expect(await readFile(credentials, "utf8")).toBe(before);
      await rm(join(dir, name));
    }
    expect((await readdir(dir)).filter((f) => f.includes(".backup."))).toEqual([]);

    const rotate = await runCli(["-t", "rs"], { home, endpoint: w.endpoint });
    expect(rotate.status, rotate.stderr).toBe(0);
    const restore = await runCli(["--restore", "--yes"], { home, endpoint: w.endpoint });
    expect(restore.status, restore.stderr).toBe(0);
    expect(await readFile(credentials, "utf8")).toBe(before);
  });
});

describe("backups ordered by real time", () => {
  it("a trip across time zones never prunes the backup just made; old local-time names go by mtime", async () => {
    const key = await w.fx.createUserWithKey("tz");
    const { home, credentials } = await makeHome(profileText("tz", key));
    const dir = dirname(credentials);
    // A backup an older keyctl wrote far east (local time, no zone), days ago.
    const legacy = join(dir, "credentials.backup.20991231_235959");
    await writeFile(legacy, profileText("tz", key), { mode: 0o600 });
    const daysAgo = new Date(Date.now() - 3 * 86_400_000);
    await utimes(legacy, daysAgo, daysAgo);

    const east = await runCli(["-t", "tz"], {
      home,
      endpoint: w.endpoint,
      env: { TZ: "Pacific/Kiritimati" },
    });
    expect(east.status, east.stderr).toBe(0);
    const beforeWest = await readFile(credentials, "utf8");
    const west = await runCli(["-t", "tz", "--keep-backups", "1"], {
      home,
      endpoint: w.endpoint,
      env: { TZ: "Pacific/Honolulu" },
    });
    expect(west.status, west.stderr).toBe(0);
    const made = /backup\s+(\S+)/.exec(west.stdout)?.[1];
    expect(made, west.stdout).toMatch(/credentials\.backup\.\d{8}_\d{6}Z(?:_\d+)?$/);
    const left = (await readdir(dir)).filter((f) => f.startsWith("credentials.backup."));
    expect(left).toEqual([made!.slice(dir.length + 1)]);
    expect(await readFile(made!, "utf8")).toBe(beforeWest);

    const restore = await runCli(["--restore", "--yes"], { home, endpoint: w.endpoint });
    expect(restore.status, restore.stderr).toBe(0);
    expect(await readFile(credentials, "utf8")).toBe(beforeWest);
  });

  it("--restore picks the newest by time among old local-time names and new UTC names", async () => {
    const key = await w.fx.createUserWithKey("mix");
    const { home, credentials } = await makeHome(profileText("mix", key));
    const dir = dirname(credentials);
    const body = (region: string) => `${profileText("mix", key)}region = ${region}\n`;
    const hourAgo = new Date(Date.now() - 3_600_000);
    const stamp = (d: Date) => `${d.toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "_")}Z`;
    await writeFile(join(dir, `credentials.backup.${stamp(hourAgo)}`), body("utc-hour-ago"), { mode: 0o600 });
    const legacy = join(dir, "credentials.backup.20000101_000000");
    await writeFile(legacy, body("legacy-just-now"), { mode: 0o600 });
    const restore = await runCli(["--restore", "--yes"], { home, endpoint: w.endpoint });
    expect(restore.status, restore.stderr).toBe(0);
    expect(await readFile(credentials, "utf8")).toBe(body("legacy-just-now"));
    // The restore backed up the file it replaced; without that one, the legacy name made two hours
    // ago is older than the UTC one of an hour ago.
    await rm(/saved in (\S+)\.$/m.exec(restore.stdout)![1]!);
    const twoHoursAgo = new Date(Date.now() - 7_200_000);
    await utimes(legacy, twoHoursAgo, twoHoursAgo);
    const again = await runCli(["--restore", "--yes"], { home, endpoint: w.endpoint });
    expect(again.status, again.stderr).toBe(0);
    expect(await readFile(credentials, "utf8")).toBe(body("utc-hour-ago"));
  });
});

describe("-k / --list-keys", () => {
  it("shows the date and the UTC time of last use", async () => {
    const key = await w.fx.createUserWithKey("lk");
    const { home } = await makeHome(profileText("lk", key));
    const run = await runCli(["-k", "-t", "lk"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    const line = run.stdout.split("\n").find((l) => l.includes(key.accessKeyId))!;
    const today = new Date().toISOString().slice(0, 10);
    expect(line).toMatch(new RegExp(`last used ${today} \\d{2}:\\d{2} UTC`));
  });

  it("without a profile lists the profiles and says exactly what to add", async () => {
    const a = await w.fx.createUserWithKey("ka");
    const b = await w.fx.createUserWithKey("kb");
    const { home } = await makeHome(`${profileText("ka", a)}\n${profileText("kb", b)}`);
    const run = await runCli(["-k"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^ {2}ka\s+long-term key/m);
    expect(run.stdout).toMatch(/^ {2}kb\s+long-term key/m);
    expect(run.stderr).toMatch(/add its name: keyctl -k -t PROFILE/);
    expect(w.proxy.calls).toHaveLength(0);
  });
});
