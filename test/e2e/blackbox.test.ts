// Found by trying the built CLI as users do: set-ups the AWS CLI accepts (keys only in the config
// file), keys held anywhere on the machine, terminals that go away, networks that hang or refuse,
// and two machines sharing one IAM user.
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CredentialsDocument } from "../../src/ini/document.js";
import { callerIdentity } from "../harness/fixtures.js";
import { motoEnv } from "../harness/moto.js";
import { cliPath, keyOf, makeHome, profileText, readProfile, runCli } from "./cli.js";
import { arnOf, expectCleanOutput, expectOneProblemLine, keyIds, useWorld } from "./world.js";

const w = useWorld();

/** A HOME whose ~/.aws holds only a config file (no credentials file), as `aws configure` can leave it. */
async function configOnlyHome(config: string): Promise<{ home: string; config: string }> {
  const home = await mkdtemp(join(tmpdir(), "keyctl-e2e-"));
  await mkdir(join(home, ".aws"));
  const path = join(home, ".aws", "config");
  await writeFile(path, config, { mode: 0o600 });
  return { home, config: path };
}

function configProfileText(name: string, key: { accessKeyId: string; secretAccessKey: string }): string {
  return `[profile ${name}]\naws_access_key_id = ${key.accessKeyId}\naws_secret_access_key = ${key.secretAccessKey}\n`;
}

async function configKey(path: string, name: string) {
  return keyOf(CredentialsDocument.parse(await readFile(path, "utf8"), "config").profile(name));
}

describe("keys only in ~/.aws/config", () => {
  it("with no credentials file, --list shows the config profile and -t rotates it", async () => {
    const x = await w.fx.createUserWithKey("x");
    const { home, config } = await configOnlyHome(
      `[default]\nregion = eu-west-1\n\n${configProfileText("x", x)}`,
    );

    const list = await runCli(["--list"], { home, endpoint: w.endpoint });
    expect(list.status, list.stderr).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`x\\s+long-term key\\s+${x.accessKeyId}`));

    const run = await runCli(["-t", "x"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    const now = await configKey(config, "x");
    expect(now.accessKeyId).not.toBe(x.accessKeyId);
    expect(await callerIdentity(w.endpoint, now)).toBe(arnOf("x"));
    expectCleanOutput(run, [x.secretAccessKey, now.secretAccessKey]);
  });
});

describe("a config-file key at the 2-key limit", () => {
  it("its own [profile P-previous] key goes without asking, as for the credentials file", async () => {
    const older = await w.fx.createUserWithKey("x");
    const current = await w.fx.createKey("x");
    const { home, config } = await configOnlyHome(
      `${configProfileText("x", current)}\n[profile x-previous]\n# keyctl: previous key of [x]\naws_access_key_id = ${older.accessKeyId}\naws_secret_access_key = ${older.secretAccessKey}\n`,
    );
    const run = await runCli(["-t", "x"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    const now = await configKey(config, "x");
    expect(await keyIds(w.fx, "x")).toEqual([current.accessKeyId, now.accessKeyId].sort());
    expect((await configKey(config, "x-previous")).accessKeyId).toBe(current.accessKeyId);
  });

  it("a key that a profile of the credentials file holds is in use: refused, even with --yes", async () => {
    const held = await w.fx.createUserWithKey("x");
    const current = await w.fx.createKey("x");
    const { home } = await makeHome(profileText("other", held));
    await writeFile(join(home, ".aws", "config"), configProfileText("x", current));
    const run = await runCli(["-t", "x", "--yes"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`${held.accessKeyId}.*profile other`));
    expect(await keyIds(w.fx, "x")).toEqual([held.accessKeyId, current.accessKeyId].sort());
  });

  it("the same in a batch: a run of two keeps the key the credentials file holds", async () => {
    const held = await w.fx.createUserWithKey("x");
    const current = await w.fx.createKey("x");
    const ops = await w.fx.createUserWithKey("ops");
    const { home } = await makeHome(
      `${profileText("ops", ops)}\n${profileText("other", held).replace("[other]", "[other]\n# held")}`,
    );
    await writeFile(join(home, ".aws", "config"), configProfileText("x", current));
    const run = await runCli(["-t", "ops", "-t", "x", "--yes"], { home, endpoint: w.endpoint });
    expect(run.stderr).toMatch(new RegExp(`${held.accessKeyId}.*profile other`));
    expect(await keyIds(w.fx, "x")).toContain(held.accessKeyId);
  });
});

describe("--history of a config-file key", () => {
  it("the rotation of a [profile P] key is recorded next to the credentials file and --history shows it", async () => {
    const ops = await w.fx.createUserWithKey("ops");
    const x = await w.fx.createUserWithKey("x");
    const { home } = await makeHome(profileText("ops", ops));
    await writeFile(join(home, ".aws", "config"), configProfileText("x", x));
    const rotateOps = await runCli(["-t", "ops"], { home, endpoint: w.endpoint });
    expect(rotateOps.status, rotateOps.stderr).toBe(0);
    const run = await runCli(["-t", "x"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    const now = await configKey(join(home, ".aws", "config"), "x");

    const history = await runCli(["--history"], { home, endpoint: w.endpoint });
    expect(history.status, history.stderr).toBe(0);
    expect(history.stdout).toMatch(/ ops ops@\d+ +rotate \(done/);
    expect(history.stdout).toContain(`${x.accessKeyId} → ${now.accessKeyId}`);
    expect(history.stdout).toMatch(/ x x@\d+ +rotate \(done/);
  });
});

// Python opens a pseudo-terminal and closes its master side before keyctl starts: every write to
// stdout/stderr then fails with EIO, as after the terminal window or ssh session went away (without
// making it keyctl's controlling terminal, so no SIGHUP comes with it). Prints keyctl's exit code.
const GONE_TERMINAL = [
  "import os, pty, subprocess, sys",
  "m, s = pty.openpty()",
  "os.close(m)",
  "print(subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=s, stderr=s).returncode)",
].join("\n");

describe("a terminal that went away", () => {
  it("EIO on every write to stdout/stderr does not stop the rotation", async () => {
    const key = await w.fx.createUserWithKey("eio");
    const { home, credentials } = await makeHome(profileText("eio", key));
    const child = spawn("python3", ["-c", GONE_TERMINAL, process.execPath, cliPath(), "-t", "eio"], {
      env: { PATH: process.env.PATH ?? "", HOME: home, ...motoEnv(w.endpoint) },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    await new Promise((resolve) => child.on("close", resolve));
    expect(out.trim()).toBe("0");
    const now = keyOf(await readProfile(credentials, "eio"));
    expect(now.accessKeyId).not.toBe(key.accessKeyId);
    expect(await callerIdentity(w.endpoint, now)).toBe(arnOf("eio"));
  });
});

describe("an old key that a [profile y] of the config file holds", () => {
  async function sharedWithConfig() {
    const key = await w.fx.createUserWithKey("p");
    const { home, credentials } = await makeHome(profileText("p", key));
    await writeFile(
      join(home, ".aws", "config"),
      `[profile y]\nregion = eu-west-1\n${configProfileText("y", key).split("\n").slice(1).join("\n")}`,
    );
    return { key, home, credentials };
  }
  const statusOf = async (id: string) => (await w.fx.listKeys("p")).find((k) => k.accessKeyId === id)?.status;

  it.each(["deactivate", "delete"])(
    "--old-key %s rotates but keeps it, naming the profile",
    async (policy) => {
      const { key, home } = await sharedWithConfig();
      const run = await runCli(["-t", "p", "--old-key", policy], { home, endpoint: w.endpoint });
      expect(run.status, run.stderr).toBe(3);
      expect(run.stderr).toMatch(
        new RegExp(`${key.accessKeyId} was not retired .*profile y of the AWS config file`),
      );
      expect(await statusOf(key.accessKeyId)).toBe("Active");
      expect(await callerIdentity(w.endpoint, key)).toBe(arnOf("p"));
    },
  );

  it("--finish and --finish-after keep it, naming the profile", async () => {
    const { key, home } = await sharedWithConfig();
    const rotate = await runCli(["-t", "p"], { home, endpoint: w.endpoint });
    expect(rotate.status, rotate.stderr).toBe(0);
    const finish = await runCli(["--finish", "-t", "p", "--yes"], { home, endpoint: w.endpoint });
    expect(finish.status, finish.stderr).toBe(1);
    expect(finish.stderr).toMatch(
      new RegExp(`${key.accessKeyId} is still used by profile y of the AWS config file`),
    );
    const staged = await runCli(["--finish-after", "1", "-t", "p", "--yes"], { home, endpoint: w.endpoint });
    expect(staged.stderr).toMatch(
      new RegExp(`${key.accessKeyId} is still used by profile y of the AWS config file`),
    );
    expect(await statusOf(key.accessKeyId)).toBe("Active");
    expect(await callerIdentity(w.endpoint, key)).toBe(arnOf("p"));
  });
});

describe("a section header with stray spaces", () => {
  // The AWS CLI keeps section names verbatim: `[default ]` is not profile default for it either
  // ("The config profile (default) could not be found"), so keyctl does not guess; it says what it found.
  it.each([
    ["[default ]", "default"],
    ["[ dev]", "dev"],
  ])("%s: -t %s names the section found and what to write", async (header, name) => {
    const key = await w.fx.createUserWithKey("spaced");
    const text = profileText("x", key).replace("[x]", header);
    const { home, credentials } = await makeHome(text);
    const run = await runCli(["-t", name], { home, endpoint: w.endpoint });
    expect(run.status).toBe(1);
    const line = expectOneProblemLine(run);
    expect(line).toContain(`Profile ${name} is not in ${credentials}`);
    expect(line).toContain(`${header}`);
    expect(line).toContain(`write it as [${name}]`);
    expect(await readFile(credentials, "utf8")).toBe(text);
  });

  it("a profile that is simply missing keeps the short message", async () => {
    const key = await w.fx.createUserWithKey("spaced");
    const { home } = await makeHome(profileText("dev", key));
    const run = await runCli(["-t", "prod"], { home, endpoint: w.endpoint });
    expect(expectOneProblemLine(run)).toMatch(/Profile prod is not in .*; see keyctl --list\.$/);
  });
});

/** A proxy that accepts connections and never answers: a network that hangs. */
async function hungProxy(): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => sockets.length,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

describe("a proxy that never answers", () => {
  it("an IAM call that hangs is one timeout too: the SDK's retries share its bound", async () => {
    const key = await w.fx.createUserWithKey("hung-iam");
    const { home } = await makeHome(profileText("hung-iam", key));
    w.gate.inject({ action: "ListAccessKeys", fault: "hang" });
    const run = await runCli(["-k", "-t", "hung-iam"], {
      home,
      endpoint: w.endpoint,
      env: { KEYCTL_CALL_TIMEOUT_MS: "1500" },
    });
    expect(run.status, run.stderr).toBe(1);
    expectOneProblemLine(run, /ListAccessKeys.*no answer within 2 s/);
    expect(w.gate.calls.filter((c) => c.action === "ListAccessKeys")).toHaveLength(1);
  });

  it("keyctl gives up after one call timeout, as its message says, without retrying the hung call", async () => {
    const key = await w.fx.createUserWithKey("hung");
    const { home, credentials } = await makeHome(profileText("hung", key));
    const before = await readFile(credentials, "utf8");
    const proxy = await hungProxy();
    try {
      const started = Date.now();
      const run = await runCli(["-t", "hung"], {
        home,
        endpoint: w.endpoint,
        env: { HTTP_PROXY: proxy.url, KEYCTL_CALL_TIMEOUT_MS: "1500" },
      });
      const took = Date.now() - started;
      expect(run.status, run.stderr).toBe(1);
      expectOneProblemLine(run, /no answer within 2 s/);
      // One attempt per call, not the SDK's three: the wait is the one call timeout the message names.
      // Two calls are in flight at once (STS, and the self-service key listing that overlaps it).
      expect(proxy.connections(), run.stderr).toBeLessThanOrEqual(2);
      expect(took).toBeLessThan(2 * 1_500);
      expect(took).toBeGreaterThanOrEqual(1_500);
      expect(await readFile(credentials, "utf8")).toBe(before);
    } finally {
      await proxy.close();
    }
  });
});

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

describe("settings that point nowhere", () => {
  it("a dead proxy: the one line names the proxy (without its password) and HTTP_PROXY/NO_PROXY", async () => {
    const key = await w.fx.createUserWithKey("dead-proxy");
    const { home } = await makeHome(profileText("dead-proxy", key));
    const port = await closedPort();
    const run = await runCli(["-t", "dead-proxy"], {
      home,
      endpoint: w.endpoint,
      env: { HTTP_PROXY: `http://corp-user:S3cret-proxy-pw@127.0.0.1:${port}` },
    });
    expect(run.status).toBe(1);
    const line = expectOneProblemLine(run);
    expect(line).toContain(`proxy http://127.0.0.1:${port}`);
    expect(line).toMatch(/HTTP_PROXY.*NO_PROXY/);
    expect(`${run.stdout}${run.stderr}`).not.toContain("S3cret-proxy-pw");
    expect(line, "the password is in the URL keyctl was given").not.toContain("corp-user:");
    expect(w.gate.calls).toHaveLength(0);
  });

  it.each([
    ["AWS_REGION", { AWS_REGION: "us east" }],
    ["AWS_DEFAULT_REGION", { AWS_DEFAULT_REGION: "eu_west!" }],
  ])("a malformed %s is a bad region setting, not a network problem", async (variable, env) => {
    const key = await w.fx.createUserWithKey("bad-region");
    const { home } = await makeHome(profileText("bad-region", key));
    const run = await runCli(["-t", "bad-region"], { home, endpoint: w.endpoint, env });
    expect(run.status).toBe(1);
    const line = expectOneProblemLine(run, new RegExp(`${variable}=.* is not an AWS region`));
    expect(line).not.toMatch(/reach AWS|network/i);
    expect(w.gate.calls).toHaveLength(0);
  });

  it("a malformed region in the config profile names the profile and the file", async () => {
    const key = await w.fx.createUserWithKey("bad-region");
    const { home } = await makeHome(profileText("bad-region", key));
    await writeFile(join(home, ".aws", "config"), "[profile bad-region]\nregion = us east 1\n");
    const run = await runCli(["-t", "bad-region"], { home, endpoint: w.endpoint });
    expect(run.status).toBe(1);
    expectOneProblemLine(run, /region = us east 1 .*bad-region.* is not an AWS region/);
    expect(w.gate.calls).toHaveLength(0);
  });
});

describe("bad input gets one clear line", () => {
  it("~/.aws/config that is a directory: named as the config file, with what to do", async () => {
    const key = await w.fx.createUserWithKey("cfgdir");
    const { home } = await makeHome(profileText("cfgdir", key));
    await mkdir(join(home, ".aws", "config"));
    for (const args of [["--list"], ["-t", "cfgdir"]]) {
      const run = await runCli(args, { home, endpoint: w.endpoint });
      expect(run.status).toBe(1);
      const line = expectOneProblemLine(run, new RegExp(`${join(home, ".aws", "config")} is a directory`));
      expect(line).toContain("AWS config file");
      expect(line).toContain("AWS_CONFIG_FILE");
      expect(line).not.toContain("credentials file");
    }
  });

  it.each([
    [["-t", ""], /empty profile name/],
    [["-a", "", "-t", "x"], /empty profile name/],
    [["--verify-timeout", "abc", "-t", "x"], /--verify-timeout takes a whole number .*, not 'abc'/],
    [["--foo"], /^keyctl: Unknown option --foo; see keyctl --help\.$/],
  ])("%j", async (args, pattern) => {
    const key = await w.fx.createUserWithKey("x");
    const { home } = await makeHome(profileText("x", key));
    const run = await runCli(args, { home, endpoint: w.endpoint });
    expect(run.status).toBe(2);
    expect(run.stderr.trim().split("\n"), run.stderr).toHaveLength(1);
    expectOneProblemLine(run, pattern);
    expect(w.gate.calls).toHaveLength(0);
  });
});

describe("two machines, one IAM user", () => {
  it("B deletes A's new key with --yes; A's next run says plainly what happened and what to do", async () => {
    const alice = await w.fx.createUserWithKey("alice");
    const a = await makeHome(profileText("alice", alice));
    const b = await makeHome(profileText("alice", alice));

    const onA = await runCli(["-t", "alice"], { home: a.home, endpoint: w.endpoint });
    expect(onA.status, onA.stderr).toBe(0);
    const keyA = keyOf(await readProfile(a.credentials, "alice"));

    const onB = await runCli(["-t", "alice", "--yes"], { home: b.home, endpoint: w.endpoint });
    expect(onB.status, onB.stderr).toBe(0);
    expect(await keyIds(w.fx, "alice")).not.toContain(keyA.accessKeyId);
    // --yes answered the question; the output still says which key went and when it was last used.
    expect(onB.stderr).toMatch(
      new RegExp(`Deleted key ${keyA.accessKeyId} .*no profile on this machine held it; .*last used \\d{4}-`),
    );

    const again = await runCli(["-t", "alice"], { home: a.home, endpoint: w.endpoint });
    expect(again.status).toBe(1);
    expectOneProblemLine(again);
    const all = again.stderr;
    expect(all).not.toMatch(/never seen working|not been seen working/);
    expect(all).toMatch(new RegExp(`${keyA.accessKeyId}.*(deleted|refused).*IAM`));
    expect(all).toMatch(/another machine or tool/);
    expect(all).toMatch(new RegExp(`${alice.accessKeyId}.*alice-previous.*still works`));
    expectCleanOutput(again, [alice.secretAccessKey, keyA.secretAccessKey]);

    // B retires the original key too: A has no working key left, and is told so.
    const finish = await runCli(["--finish", "-t", "alice", "--yes"], { home: b.home, endpoint: w.endpoint });
    expect(finish.status, finish.stderr).toBe(0);
    const last = await runCli(["-t", "alice"], { home: a.home, endpoint: w.endpoint });
    expect(last.status).toBe(1);
    expectOneProblemLine(last, new RegExp(`${alice.accessKeyId} in \\[alice-previous\\] is refused too`));
    expect(last.stderr).toMatch(/get a new key/);
  }, 120_000);
});
