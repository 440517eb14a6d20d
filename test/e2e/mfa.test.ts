// MFA on the auth profile (credentials file or AWS_CONFIG_FILE), and no region configured anywhere.
//
// Moto's GetSessionToken hands out a fixed key that moto's own authentication does not know, so the
// runs that use an MFA session turn moto's auth off for their duration (the proxy still records which
// key signed each call, which is what these tests are about) and back on to check the new key.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { callerIdentity } from "../harness/fixtures.js";
import { keyOf, makeHome, profileText, readProfile, runCli } from "./cli.js";
import {
  ACCOUNT,
  arnOf,
  createUsers,
  expectCleanOutput,
  mutatingCalls,
  secretsIn,
  useWorld,
} from "./world.js";

const w = useWorld();
const SERIAL = `arn:aws:iam::${ACCOUNT}:mfa/admin`;

afterEach(async () => {
  await w.moto.setAuth(true);
});

/** The admin profile, with `mfa_serial` either in the credentials file or in AWS_CONFIG_FILE. */
async function setup(where: "credentials" | "config") {
  const { admin, alice } = await createUsers(w.fx, { admin: "admin", alice: "none" });
  const mfaLine = `mfa_serial = ${SERIAL}\n`;
  const text = `${profileText("admin", admin, where === "credentials" ? mfaLine : "")}\n${profileText("alice", alice)}`;
  const { home, credentials } = await makeHome(text);
  const env: Record<string, string> = {};
  if (where === "config") {
    const config = join(home, "aws-config");
    await writeFile(config, `[default]\noutput = json\n\n[profile admin]\n${mfaLine}`);
    env.AWS_CONFIG_FILE = config;
  }
  return { admin, alice, home, credentials, env, text };
}

describe("an auth profile with mfa_serial", () => {
  for (const where of ["credentials", "config"] as const) {
    it(`(${where} file) without --mfa-code and without a terminal: exit 2 naming --mfa-code, no IAM call`, async () => {
      const s = await setup(where);
      const run = await runCli(["-a", "admin", "-t", "alice"], {
        home: s.home,
        endpoint: w.endpoint,
        env: s.env,
      });
      expect(run.status, run.stderr).toBe(2);
      const lines = run.stderr.split("\n").filter((l) => l.startsWith("keyctl:"));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/--mfa-code/);
      expect(w.proxy.calls.filter((c) => c.service === "iam")).toEqual([]);
      expect(w.proxy.calls.some((c) => c.action === "GetSessionToken")).toBe(false);
      expectCleanOutput(run, secretsIn(s.text));
    });

    it(`(${where} file) with --mfa-code: a GetSessionToken session signs the IAM calls`, async () => {
      const s = await setup(where);
      await w.moto.setAuth(false);
      const run = await runCli(["-a", "admin", "-t", "alice", "--mfa-code", "123456"], {
        home: s.home,
        endpoint: w.endpoint,
        env: s.env,
      });
      await w.moto.setAuth(true);
      expect(run.status, run.stderr).toBe(0);
      const session = w.proxy.calls.filter((c) => c.action === "GetSessionToken");
      expect(session).toHaveLength(1);
      expect(session[0]!.accessKeyId).toBe(s.admin.accessKeyId);
      expect(session[0]!.params).toMatchObject({ SerialNumber: SERIAL, TokenCode: "123456" });
      const iam = w.proxy.calls.filter((c) => c.service === "iam");
      expect(iam.map((c) => c.action)).toContain("CreateAccessKey");
      for (const c of iam) {
        expect(c.accessKeyId, `${c.action} signed by the session, not the long-term key`).not.toBe(
          s.admin.accessKeyId,
        );
        expect(c.at).toBeGreaterThanOrEqual(session[0]!.at);
      }
      const next = keyOf(await readProfile(s.credentials, "alice"));
      expect(await callerIdentity(w.proxy.url, next)).toBe(arnOf("alice"));
      expect(keyOf(await readProfile(s.credentials, "admin"))).toEqual(s.admin);
      expectCleanOutput(run, secretsIn(s.text));
    });
  }

  it("a piped MFA code is used like --mfa-code; one that is not 6 digits is refused before any call", async () => {
    const s = await setup("credentials");
    const refused = await runCli(["-a", "admin", "-t", "alice"], {
      home: s.home,
      endpoint: w.endpoint,
      input: "12345\n",
    });
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/6 digits.*--mfa-code/);
    expect(w.proxy.calls.some((c) => c.action === "GetSessionToken")).toBe(false);
    expect(mutatingCalls(w)).toEqual([]);

    await w.moto.setAuth(false);
    const run = await runCli(["-a", "admin", "-t", "alice"], {
      home: s.home,
      endpoint: w.endpoint,
      input: "246810\n",
    });
    await w.moto.setAuth(true);
    expect(run.status, run.stderr).toBe(0);
    const session = w.proxy.calls.filter((c) => c.action === "GetSessionToken");
    expect(session.map((c) => c.params)).toEqual([expect.objectContaining({ TokenCode: "246810" })]);
  });

  it("self-service with mfa_serial on the target: the session rotates, -previous keeps mfa_serial", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const serial = `arn:aws:iam::${ACCOUNT}:mfa/alice`;
    const { home, credentials } = await makeHome(profileText("alice", alice, `mfa_serial = ${serial}\n`));
    const refused = await runCli(["-t", "alice"], { home, endpoint: w.endpoint });
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/--mfa-code/);
    expect(mutatingCalls(w)).toEqual([]);

    await w.moto.setAuth(false);
    const run = await runCli(["-t", "alice", "--mfa-code", "654321"], { home, endpoint: w.endpoint });
    await w.moto.setAuth(true);
    expect(run.status, run.stderr).toBe(0);
    const create = w.proxy.calls.find((c) => c.action === "CreateAccessKey");
    expect(create?.accessKeyId).not.toBe(alice.accessKeyId);
    const now = await readProfile(credentials, "alice");
    expect(now?.get("mfa_serial")).toBe(serial);
    expect((await readProfile(credentials, "alice-previous"))?.get("mfa_serial")).toBe(serial);
    expect(await callerIdentity(w.proxy.url, keyOf(now))).toBe(arnOf("alice"));
  });
});

describe("no region configured anywhere", () => {
  it("rotates, signing IAM and STS for the partition's region (us-east-1)", async () => {
    const { admin, alice } = await createUsers(w.fx, { admin: "admin", alice: "none" });
    const { home, credentials } = await makeHome(
      `${profileText("admin", admin)}\n${profileText("alice", alice)}`,
    );
    // runCli passes no AWS_REGION / AWS_DEFAULT_REGION, HOME has no config file, no profile has region.
    const run = await runCli(["-a", "admin", "-t", "alice"], {
      home,
      endpoint: w.endpoint,
      env: { AWS_CONFIG_FILE: join(home, "no-such-config") },
    });
    expect(run.status, run.stderr).toBe(0);
    const next = keyOf(await readProfile(credentials, "alice"));
    expect(await callerIdentity(w.proxy.url, next)).toBe(arnOf("alice"));
    expect(w.gate.calls.length).toBeGreaterThan(0);
    for (const c of w.gate.calls) expect(c.region, c.action).toBe("us-east-1");
  });
});
