// The key lifecycle run unattended: rotate when old, deactivate the old key once unused, delete it
// later; the hand-off to other places a key lives; the history. Days pass through KEYCTL_NOW.
import { execFileSync } from "node:child_process";
import { chmod, mkdtemp, readFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { callerIdentity } from "../harness/fixtures.js";
import { keyOf, makeHome, profileText, readProfile, runCli } from "./cli.js";
import { ACCOUNT, arnOf, createUsers, expectCleanOutput, keyIds, secretsIn, useWorld } from "./world.js";

const w = useWorld();
const DAY = 86_400_000;
const DAILY = ["--all", "--older-than", "90", "--finish-after", "7", "--yes"];

async function createDateOf(user: string, id: string): Promise<number> {
  const k = (await w.fx.listKeys(user)).find((x) => x.accessKeyId === id);
  if (!k) throw new Error(`no key ${id}`);
  return k.createDate.getTime();
}

function at(ms: number) {
  return { KEYCTL_NOW: new Date(ms).toISOString() };
}

function lastUsedXml(user: string, date: Date, service: string, region: string): string {
  return `<GetAccessKeyLastUsedResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><GetAccessKeyLastUsedResult><AccessKeyLastUsed><LastUsedDate>${date.toISOString()}</LastUsedDate><ServiceName>${service}</ServiceName><Region>${region}</Region></AccessKeyLastUsed><UserName>${user}</UserName></GetAccessKeyLastUsedResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetAccessKeyLastUsedResponse>`;
}

/** Rotates alice on "day 91" of her first key and returns the keys and the rotation's real time. */
async function rotatedAlice() {
  const { alice: first } = await createUsers(w.fx, { alice: "self" });
  const { home, credentials } = await makeHome(profileText("alice", first));
  const born = await createDateOf("alice", first.accessKeyId);
  const day = (n: number) => ({ home, endpoint: w.endpoint, env: at(born + n * DAY) });

  const young = await runCli(DAILY, day(89));
  expect(young.status, young.stderr).toBe(0);
  expect(keyOf(await readProfile(credentials, "alice"))).toEqual(first);

  const due = await runCli(DAILY, day(91));
  expect(due.status, due.stderr).toBe(0);
  const second = keyOf(await readProfile(credentials, "alice"));
  expect(second.accessKeyId).not.toBe(first.accessKeyId);
  expect(keyOf(await readProfile(credentials, "alice-previous"))).toEqual(first);
  expect(await callerIdentity(w.proxy.url, first), "the old key stays active at first").toBe(arnOf("alice"));
  // IAM dates the new key in real time: the days after the rotation count from its CreateDate.
  const rotated = await createDateOf("alice", second.accessKeyId);
  return { home, credentials, first, second, rotated };
}

describe("--finish-after: staged retirement, run daily", () => {
  it("rotates after 90 days, deactivates the old key after 7 unused days, deletes it 7 days later", async () => {
    const { home, credentials, first, second, rotated } = await rotatedAlice();
    const day = (n: number) => ({ home, endpoint: w.endpoint, env: at(rotated + n * DAY) });

    const waiting = await runCli(DAILY, day(6));
    expect(waiting.status, waiting.stderr).toBe(0);
    expect(waiting.stdout).toMatch(
      new RegExp(`${first.accessKeyId} unused since the rotation; deactivated in 1 day`),
    );
    expect((await w.fx.listKeys("alice")).map((k) => k.status)).toEqual(["Active", "Active"]);

    const deactivate = await runCli(DAILY, day(7.1));
    expect(deactivate.status, deactivate.stderr).toBe(0);
    expect(deactivate.stdout).toMatch(new RegExp(`${first.accessKeyId} deactivated`));
    const keys = await w.fx.listKeys("alice");
    expect(keys.find((k) => k.accessKeyId === first.accessKeyId)?.status).toBe("Inactive");
    expect(keys.find((k) => k.accessKeyId === second.accessKeyId)?.status).toBe("Active");
    await expect(callerIdentity(w.proxy.url, first), "AWS refuses the deactivated key").rejects.toThrow();
    const marked = await readFile(credentials, "utf8");
    expect(marked).toMatch(
      new RegExp(
        `\\[alice-previous\\]\\n(?:# keyctl: previous key of \\[alice\\]\\n)?# keyctl: deactivated ${new Date(rotated + 7.1 * DAY).toISOString().slice(0, 13)}`,
      ),
    );
    // The deactivation was signed by the current key, which therefore was proven first.
    const update = w.proxy.calls.find((c) => c.action === "UpdateAccessKey");
    expect(update?.accessKeyId).toBe(second.accessKeyId);
    expect(
      w.gate.calls.findIndex((c) => c.action === "GetCallerIdentity" && c.signer === second.accessKeyId),
    ).toBeLessThan(w.gate.calls.findIndex((c) => c.action === "UpdateAccessKey"));

    const notYet = await runCli(DAILY, day(13));
    expect(notYet.status, notYet.stderr).toBe(0);
    expect(await keyIds(w.fx, "alice")).toEqual([first.accessKeyId, second.accessKeyId].sort());
    expect(notYet.stdout).toMatch(/deleted in 2 day/);

    const remove = await runCli(DAILY, day(14.2));
    expect(remove.status, remove.stderr).toBe(0);
    expect(await keyIds(w.fx, "alice")).toEqual([second.accessKeyId]);
    expect(await readProfile(credentials, "alice-previous")).toBeUndefined();
    expect(keyOf(await readProfile(credentials, "alice"))).toEqual(second);
    expect(await callerIdentity(w.proxy.url, second)).toBe(arnOf("alice"));
    for (const run of [waiting, deactivate, notYet, remove])
      expectCleanOutput(run, [first.secretAccessKey, second.secretAccessKey]);

    // The auditor's record: rotation, deactivation, deletion; key ids, never a secret.
    const history = await runCli(["--history", "--json"], { home, endpoint: w.endpoint });
    expect(history.status, history.stderr).toBe(0);
    const doc = JSON.parse(history.stdout) as { historyFile: string; entries: Record<string, unknown>[] };
    expect(doc.entries.map((e) => [e.action, e.oldKeyId, e.exitCode])).toEqual([
      ["rotate", first.accessKeyId, 0],
      ["deactivate", first.accessKeyId, 0],
      ["delete", first.accessKeyId, 0],
    ]);
    expect(doc.entries[0]).toMatchObject({
      profile: "alice",
      user: "alice",
      account: ACCOUNT,
      newKeyId: second.accessKeyId,
    });
    expect(doc.historyFile).toBe(`${credentials}.keyctl-history.jsonl`);
    expect((await stat(doc.historyFile)).mode & 0o777).toBe(0o600);
    const raw = await readFile(doc.historyFile, "utf8");
    expect(raw).toContain(second.accessKeyId);
    for (const s of [first.secretAccessKey, second.secretAccessKey]) expect(raw.includes(s)).toBe(false);
  });

  it("a use of the old key after the rotation stops the clock and names the service and region", async () => {
    const { home, first, rotated } = await rotatedAlice();
    w.gate.inject({
      action: "GetAccessKeyLastUsed",
      params: { AccessKeyId: first.accessKeyId },
      fault: "respond",
      body: lastUsedXml("alice", new Date(rotated + 3 * DAY), "s3", "eu-west-1"),
    });
    const run = await runCli(DAILY, { home, endpoint: w.endpoint, env: at(rotated + 8 * DAY) });
    expect(run.status, run.stderr).toBe(1);
    expect(`${run.stdout}\n${run.stderr}`).toMatch(
      new RegExp(
        `${first.accessKeyId} was used on ${new Date(rotated + 3 * DAY).toISOString()} \\(s3, eu-west-1\\)`,
      ),
    );
    expect(run.stderr).toContain("keyctl --finish -t alice");
    expect(await callerIdentity(w.proxy.url, first), "the old key stays active").toBe(arnOf("alice"));
    expect(
      w.proxy.calls.filter((c) => c.action === "UpdateAccessKey" || c.action === "DeleteAccessKey"),
    ).toEqual([]);
    // Months later the current key is due, but rotating would delete the old key (still in use)
    // to make room under IAM's 2-key limit: the rotation waits for the old key to be retired.
    const seen = w.gate.calls.length;
    const due = await runCli(DAILY, { home, endpoint: w.endpoint, env: at(rotated + 95 * DAY) });
    expect(due.status, due.stderr).toBe(1);
    expect(due.stderr).toMatch(
      new RegExp(
        `alice: not rotated yet: the old key ${first.accessKeyId} in \\[alice-previous\\] is not retired`,
      ),
    );
    const calls = w.gate.calls.slice(seen).map((c) => c.action);
    expect(calls).toContain("GetAccessKeyLastUsed");
    expect(calls.filter((a) => a === "CreateAccessKey" || a === "DeleteAccessKey")).toEqual([]);
    expect(await callerIdentity(w.proxy.url, first)).toBe(arnOf("alice"));
  });

  it("never retires the old key while the current key is refused by AWS", async () => {
    const { home, first, second, rotated } = await rotatedAlice();
    w.gate.inject({
      action: "GetCallerIdentity",
      signer: second.accessKeyId,
      fault: "respond",
      status: 403,
      body: `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error><RequestId>r</RequestId></ErrorResponse>`,
    });
    const run = await runCli(DAILY, { home, endpoint: w.endpoint, env: at(rotated + 30 * DAY) });
    expect(run.status, run.stderr).toBe(1);
    // Self-service: the refusal comes as the session signs in with that very key.
    expect(`${run.stdout}\n${run.stderr}`).toMatch(/alice .*failed .*InvalidClientTokenId/);
    expect((await w.fx.listKeys("alice")).every((k) => k.status === "Active")).toBe(true);
    expect(await callerIdentity(w.proxy.url, first)).toBe(arnOf("alice"));
  });

  it("an old key deactivated by hand is deleted DAYS after keyctl first sees it inactive", async () => {
    const { home, credentials, first, second, rotated } = await rotatedAlice();
    await w.fx.setKeyStatus("alice", first.accessKeyId, "Inactive");
    const seen = await runCli(DAILY, { home, endpoint: w.endpoint, env: at(rotated + 20 * DAY) });
    expect(seen.status, seen.stderr).toBe(0);
    expect(seen.stdout).toMatch(/is inactive; deleted in 7 day/);
    expect(await keyIds(w.fx, "alice")).toEqual([first.accessKeyId, second.accessKeyId].sort());
    expect(await readFile(credentials, "utf8")).toContain(
      `# keyctl: deactivated ${new Date(rotated + 20 * DAY).toISOString().slice(0, 13)}`,
    );
    const later = await runCli(DAILY, { home, endpoint: w.endpoint, env: at(rotated + 27.1 * DAY) });
    expect(later.status, later.stderr).toBe(0);
    expect(await keyIds(w.fx, "alice")).toEqual([second.accessKeyId]);
  });

  it("--finish with --finish-after takes the staged path instead of retiring at once", async () => {
    const { home, first, second, rotated } = await rotatedAlice();
    const run = await runCli(["--finish", "-t", "alice", "--finish-after", "7", "--json"], {
      home,
      endpoint: w.endpoint,
      env: at(rotated + 2 * DAY),
    });
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      profile: "alice",
      status: "waiting",
      oldKeyId: first.accessKeyId,
      currentKeyId: second.accessKeyId,
      next: { step: "deactivate", due: new Date(rotated + 7 * DAY).toISOString() },
    });
    expect(await callerIdentity(w.proxy.url, first)).toBe(arnOf("alice"));
  });

  it("a deactivation whose date cannot be noted exits 3; the next run notes it and deletes later, never sooner", async () => {
    const { home, credentials, first, second, rotated } = await rotatedAlice();
    execFileSync("chattr", ["+i", credentials]);
    let stuck: Awaited<ReturnType<typeof runCli>>;
    try {
      stuck = await runCli(DAILY, { home, endpoint: w.endpoint, env: at(rotated + 8 * DAY) });
    } finally {
      execFileSync("chattr", ["-i", credentials]);
    }
    expect(stuck.status, stuck.stderr).toBe(3);
    expect(`${stuck.stdout}\n${stuck.stderr}`).toMatch(/deactivated, but the date could not be noted/);
    expect((await w.fx.listKeys("alice")).find((k) => k.accessKeyId === first.accessKeyId)?.status).toBe(
      "Inactive",
    );
    const next = await runCli(DAILY, { home, endpoint: w.endpoint, env: at(rotated + 9 * DAY) });
    expect(next.status, next.stderr).toBe(0);
    expect(next.stdout).toMatch(/is inactive; deleted in 7 day/);
    const early = await runCli(DAILY, { home, endpoint: w.endpoint, env: at(rotated + 15.5 * DAY) });
    expect(early.status, early.stderr).toBe(0);
    expect(await keyIds(w.fx, "alice"), "not deleted 7 days after the unnoted deactivation").toHaveLength(2);
    const late = await runCli(DAILY, { home, endpoint: w.endpoint, env: at(rotated + 16.1 * DAY) });
    expect(late.status, late.stderr).toBe(0);
    expect(await keyIds(w.fx, "alice")).toEqual([second.accessKeyId]);
  });

  it("refuses 0 days: AWS reports last use hours late", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const { home } = await makeHome(profileText("alice", alice));
    const run = await runCli(["-t", "alice", "--finish-after", "0"], { home, endpoint: w.endpoint });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/--finish-after takes a whole number of at least 1/);
  });
});

describe("--then: handing the new key on", () => {
  it("runs with the new key in its environment, never in argv, and its output masked", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const { home, credentials } = await makeHome(profileText("alice", alice));
    const out = await mkdtemp(join(tmpdir(), "keyctl-hook-"));
    const hook = [
      `printf %s "$AWS_ACCESS_KEY_ID" > ${out}/id`,
      `printf %s "$AWS_SECRET_ACCESS_KEY" > ${out}/secret`,
      `printf %s "$KEYCTL_PROFILE $KEYCTL_USER $KEYCTL_OLD_ACCESS_KEY_ID" > ${out}/who`,
      `cat /proc/$$/cmdline > ${out}/shell-cmdline`,
      `cat /proc/$PPID/cmdline > ${out}/keyctl-cmdline`,
      // The secret split over two writes still gets masked.
      `printf 'got %s' "$(printf %s "$AWS_SECRET_ACCESS_KEY" | cut -c1-20)"; sleep 0.2; printf '%s done\\n' "$(printf %s "$AWS_SECRET_ACCESS_KEY" | cut -c21-)"`,
    ].join(" && ");
    const run = await runCli(["-t", "alice", "--old-key", "delete", "--then", hook], {
      home,
      endpoint: w.endpoint,
    });
    expect(run.status, run.stderr).toBe(0);
    const next = keyOf(await readProfile(credentials, "alice"));
    expect(await readFile(join(out, "id"), "utf8")).toBe(next.accessKeyId);
    expect(await readFile(join(out, "secret"), "utf8")).toBe(next.secretAccessKey);
    expect(await readFile(join(out, "who"), "utf8")).toBe(`alice alice ${alice.accessKeyId}`);
    const shell = await readFile(join(out, "shell-cmdline"), "utf8");
    expect(shell.split("\0").slice(0, 2)).toEqual(["/bin/sh", "-c"]);
    expect(shell, "the command text is in argv").toContain("AWS_SECRET_ACCESS_KEY");
    for (const f of ["shell-cmdline", "keyctl-cmdline"]) {
      expect((await readFile(join(out, f), "utf8")).includes(next.secretAccessKey), `secret in ${f}`).toBe(
        false,
      );
    }
    expect(run.stderr).toContain("got **** done");
    expectCleanOutput(run, [alice.secretAccessKey, next.secretAccessKey]);
    expect(await keyIds(w.fx, "alice"), "the hand-off came before the old key went").toEqual([
      next.accessKeyId,
    ]);
  });

  it("a failing hand-off keeps the old key active (even with --old-key delete), exits 3 and says how to rerun it", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const { home, credentials } = await makeHome(profileText("alice", alice));
    const run = await runCli(["-t", "alice", "--old-key", "delete", "--then", "echo no token >&2; exit 4"], {
      home,
      endpoint: w.endpoint,
    });
    expect(run.status, run.stderr).toBe(3);
    const next = keyOf(await readProfile(credentials, "alice"));
    expect(run.stderr).toContain("no token");
    expect(run.stderr).toMatch(/handing it on failed: it exited with status 4/);
    expect(await callerIdentity(w.proxy.url, alice), "the old key still works").toBe(arnOf("alice"));
    expect(await keyIds(w.fx, "alice")).toEqual([alice.accessKeyId, next.accessKeyId].sort());
    const rerun = /(keyctl --handoff-only -t alice --then '[^']*')/.exec(run.stderr)?.[1];
    expect(rerun, run.stderr).toBe("keyctl --handoff-only -t alice --then 'echo no token >&2; exit 4'");
    expectCleanOutput(run, secretsIn(await readFile(credentials, "utf8")));

    // The rerun hands on the key now in the profile.
    const out = await mkdtemp(join(tmpdir(), "keyctl-hook-"));
    const again = await runCli(
      ["--handoff-only", "-t", "alice", "--then", `printf %s "$AWS_ACCESS_KEY_ID" > ${out}/id`],
      {
        home,
        endpoint: w.endpoint,
      },
    );
    expect(again.status, again.stderr).toBe(0);
    expect(await readFile(join(out, "id"), "utf8")).toBe(next.accessKeyId);
  });

  it("a hand-off that outlives --then-timeout is stopped and keeps the old key", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const { home } = await makeHome(profileText("alice", alice));
    const run = await runCli(
      ["-t", "alice", "--old-key", "deactivate", "--then", "sleep 30", "--then-timeout", "1"],
      {
        home,
        endpoint: w.endpoint,
      },
    );
    expect(run.status, run.stderr).toBe(3);
    expect(run.stderr).toMatch(/did not finish within 1 s/);
    expect(await callerIdentity(w.proxy.url, alice)).toBe(arnOf("alice"));
  });

  it("reads 'then' from [keyctl profile P] of the AWS config file", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const { home } = await makeHome(profileText("alice", alice));
    const out = await mkdtemp(join(tmpdir(), "keyctl-hook-"));
    const config = join(home, ".aws", "config");
    const { writeFile } = await import("node:fs/promises");
    await writeFile(config, `[keyctl profile alice]\nthen = printf %s "$KEYCTL_PROFILE" > ${out}/who\n`, {
      mode: 0o600,
    });
    const run = await runCli(["-t", "alice"], {
      home,
      endpoint: w.endpoint,
      env: { AWS_CONFIG_FILE: config },
    });
    expect(run.status, run.stderr).toBe(0);
    expect(await readFile(join(out, "who"), "utf8")).toBe("alice");

    await chmod(config, 0o666);
    const loose = await runCli(["-t", "alice"], {
      home,
      endpoint: w.endpoint,
      env: { AWS_CONFIG_FILE: config },
    });
    expect(loose.status).toBe(1);
    expect(loose.stderr).toMatch(/others can change the file/);
  });
});

describe("--history", () => {
  it("refuses a history file others can write, and does not append to it", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const { home, credentials } = await makeHome(profileText("alice", alice));
    const first = await runCli(["-t", "alice"], { home, endpoint: w.endpoint });
    expect(first.status, first.stderr).toBe(0);
    const file = `${credentials}.keyctl-history.jsonl`;
    const shown = await runCli(["--history", "-t", "alice"], { home, endpoint: w.endpoint });
    expect(shown.status, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/alice alice@\d+ {2}rotate \(done, exit 0\)/);

    await chmod(file, 0o644);
    const before = await readFile(file, "utf8");
    const refused = await runCli(["--history"], { home, endpoint: w.endpoint });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/keyctl: .*keyctl-history\.jsonl is not a private file of yours/);
    const second = await runCli(["-t", "alice"], { home, endpoint: w.endpoint });
    expect(second.status, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/not recorded in the history/);
    expect(await readFile(file, "utf8")).toBe(before);
  });
});
