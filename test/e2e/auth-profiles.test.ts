// The auth profile may be any kind the AWS SDK resolves; here an assume-role profile that lives
// only in AWS_CONFIG_FILE (role_arn + source_profile), rotating another user's key as an admin.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CreateRoleCommand, PutRolePolicyCommand, PutUserPolicyCommand } from "@aws-sdk/client-iam";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AccessKeyPair, callerIdentity, policyDocument } from "../harness/fixtures.js";
import { type ForwardProxy, startForwardProxy } from "../harness/forward-proxy.js";
import { motoEnv } from "../harness/moto.js";
import { cliPath, keyOf, makeHome, profileText, readProfile, runCli } from "./cli.js";
import { canIsolate, isolatedEnv, RELAY_URL, runIsolated } from "./netns.js";
import { useWorld } from "./world.js";

const w = useWorld();
let proxy: ForwardProxy;
beforeAll(async () => {
  proxy = await startForwardProxy();
});
afterAll(async () => {
  await proxy?.close();
});

/** dev's key to rotate; ops, who may only assume key-rotator, the role that may do the IAM work. */
async function rotatorRole(): Promise<{ dev: AccessKeyPair; ops: AccessKeyPair }> {
  const dev = await w.fx.createUserWithKey("dev", { policy: "none" });
  const ops = await w.fx.createUserWithKey("ops", { policy: "none" });
  await w.fx.withAuthOff(async (iam) => {
    await iam.send(
      new CreateRoleCommand({
        RoleName: "key-rotator",
        AssumeRolePolicyDocument: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            {
              Effect: "Allow",
              Principal: { AWS: "arn:aws:iam::123456789012:user/ops" },
              Action: "sts:AssumeRole",
            },
          ],
        }),
      }),
    );
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: "key-rotator",
        PolicyName: "rotate",
        PolicyDocument: policyDocument([
          "iam:ListAccessKeys",
          "iam:CreateAccessKey",
          "iam:UpdateAccessKey",
          "iam:DeleteAccessKey",
          "iam:GetAccessKeyLastUsed",
          "iam:ListUsers",
        ]),
      }),
    );
  });
  // ops may only assume the role; the role does the IAM work.
  await w.fx.withAuthOff(async (iam) => {
    await iam.send(
      new PutUserPolicyCommand({
        UserName: "ops",
        PolicyName: "assume",
        PolicyDocument: policyDocument(["sts:AssumeRole"]),
      }),
    );
  });
  return { dev, ops };
}

/** A home whose credentials file holds dev and ops, and whose config file the rotator profile. */
async function rotatorHome(dev: AccessKeyPair, ops: AccessKeyPair) {
  const { home, credentials } = await makeHome(`${profileText("dev", dev)}\n${profileText("ops", ops)}`);
  const config = join(home, ".aws", "config");
  await writeFile(
    config,
    "[profile rotator]\nrole_arn = arn:aws:iam::123456789012:role/key-rotator\nsource_profile = ops\n",
  );
  return { home, credentials, config };
}

describe("auth profiles the SDK resolves", () => {
  it("an assume-role profile from the config file rotates another user's key", async () => {
    const { dev, ops } = await rotatorRole();
    const { home, credentials, config } = await rotatorHome(dev, ops);
    const run = await runCli(["-a", "rotator", "-t", "dev", "--old-key", "deactivate"], {
      home,
      endpoint: w.endpoint,
      env: { AWS_CONFIG_FILE: config },
    });
    expect(run.status, run.stderr).toBe(0);
    const now = keyOf(await readProfile(credentials, "dev"));
    expect(await callerIdentity(w.endpoint, now)).toContain(":user/dev");
    expect(w.proxy.calls.some((c) => c.action === "AssumeRole" && c.accessKeyId === ops.accessKeyId)).toBe(
      true,
    );
    const create = w.proxy.calls.find((c) => c.action === "CreateAccessKey");
    expect(create?.accessKeyId).not.toBe(ops.accessKeyId);
    expect(create?.accessKeyId?.startsWith("ASIA")).toBe(true);
  });

  it("an assume-role the source profile may not make is reported as AssumeRole failing", async () => {
    const dev = await w.fx.createUserWithKey("dev", { policy: "none" });
    const ops = await w.fx.createUserWithKey("ops", { policy: "none" });
    const { home, credentials, config } = await rotatorHome(dev, ops);
    const before = await readFile(credentials, "utf8");
    const run = await runCli(["-a", "rotator", "-t", "dev"], {
      home,
      endpoint: w.endpoint,
      env: { AWS_CONFIG_FILE: config },
    });
    expect(run.status).toBe(1);
    const errors = run.stderr.split("\n").filter((l) => l.startsWith("keyctl:"));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/AssumeRole/);
    expect(errors[0]).not.toMatch(/GetCallerIdentity/);
    expect(w.proxy.calls.some((c) => c.action === "AssumeRole")).toBe(true);
    expect(await readFile(credentials, "utf8")).toBe(before);
  });

  // In the loopback-only namespace (netns.ts), so that a provider ignoring the settings fails there.
  it.skipIf(!canIsolate())(
    "through HTTP_PROXY every request passes the proxy, the role's AssumeRole too",
    async () => {
      const { dev, ops } = await rotatorRole();
      const { home, credentials, config } = await rotatorHome(dev, ops);
      const seen = proxy.requests.length;
      const run = await runIsolated([cliPath(), "-a", "rotator", "-t", "dev", "--old-key", "delete"], {
        target: proxy.url,
        env: { ...isolatedEnv(home), ...motoEnv(w.endpoint), AWS_CONFIG_FILE: config, HTTP_PROXY: RELAY_URL },
      });
      expect(run.status, run.stderr).toBe(0);
      expect(keyOf(await readProfile(credentials, "dev")).accessKeyId).not.toBe(dev.accessKeyId);
      const actions = w.gate.calls.map((c) => c.action);
      expect(actions).toContain("AssumeRole");
      expect(actions).toContain("CreateAccessKey");
      const mine = proxy.requests.slice(seen);
      expect(mine.length).toBe(w.gate.calls.length);
      expect(mine.every((r) => r.kind === "http" && r.target.startsWith(`${w.gate.url}/`))).toBe(true);
    },
  );

  it.skipIf(!canIsolate())(
    "NO_PROXY=* sends the role's AssumeRole and every other request straight to the endpoint",
    async () => {
      const { dev, ops } = await rotatorRole();
      const { home, credentials, config } = await rotatorHome(dev, ops);
      const seen = proxy.requests.length;
      // Nothing listens at port 9 in the namespace: a request sent to the proxy fails.
      const run = await runIsolated([cliPath(), "-a", "rotator", "-t", "dev"], {
        target: w.endpoint,
        env: {
          ...isolatedEnv(home),
          ...motoEnv(RELAY_URL),
          AWS_CONFIG_FILE: config,
          HTTP_PROXY: "http://127.0.0.1:9",
          NO_PROXY: "*",
        },
      });
      expect(run.status, run.stderr).toBe(0);
      expect(keyOf(await readProfile(credentials, "dev")).accessKeyId).not.toBe(dev.accessKeyId);
      expect(w.gate.calls.map((c) => c.action)).toContain("AssumeRole");
      expect(proxy.requests.slice(seen)).toEqual([]);
    },
  );
});
