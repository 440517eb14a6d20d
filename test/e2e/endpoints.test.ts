// Endpoints configured only in the config file (endpoint_url, a services section), for the IAM and
// STS clients and for the inner STS call of a web-identity auth profile. Every run is inside a
// network namespace with only loopback: a request that ignored the configuration and went to a real
// AWS endpoint fails there instead of leaving the machine.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CreateRoleCommand, PutRolePolicyCommand } from "@aws-sdk/client-iam";
import { AssumeRoleCommand, type Credentials as StsCredentials } from "@aws-sdk/client-sts";
import { describe, expect, it } from "vitest";
import { ADMIN_ACTIONS, policyDocument, stsClient } from "../harness/fixtures.js";
import { cliPath, keyOf, makeHome, profileText, readProfile } from "./cli.js";
import { canIsolate, RELAY_URL, runIsolated } from "./netns.js";
import { ACCOUNT, useWorld } from "./world.js";

const w = useWorld();
const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/ci-rotator`;

/** STS's answer to AssumeRoleWithWebIdentity, carrying `c`. */
function webIdentityAnswer(c: StsCredentials): string {
  return [
    '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">',
    "<AssumeRoleWithWebIdentityResult><Credentials>",
    `<AccessKeyId>${c.AccessKeyId}</AccessKeyId><SecretAccessKey>${c.SecretAccessKey}</SecretAccessKey>`,
    `<SessionToken>${c.SessionToken}</SessionToken><Expiration>${c.Expiration?.toISOString()}</Expiration>`,
    "</Credentials><AssumedRoleUser>",
    `<Arn>arn:aws:sts::${ACCOUNT}:assumed-role/ci-rotator/ci</Arn><AssumedRoleId>AROA:ci</AssumedRoleId>`,
    "</AssumedRoleUser></AssumeRoleWithWebIdentityResult>",
    "<ResponseMetadata><RequestId>web-identity</RequestId></ResponseMetadata>",
    "</AssumeRoleWithWebIdentityResponse>",
  ].join("");
}

/** The CLI in the namespace, with no endpoint in the environment: only the files configure one. */
function keyctl(args: readonly string[], home: string) {
  return runIsolated([cliPath(), ...args], {
    target: w.endpoint,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: home,
      NO_COLOR: "1",
      AWS_EC2_METADATA_DISABLED: "true",
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      KEYCTL_CALL_TIMEOUT_MS: "5000",
      AWS_MAX_ATTEMPTS: "1",
    },
  });
}

describe.skipIf(!canIsolate())("endpoints from the config file (network namespace, loopback only)", () => {
  it("with no endpoint configured the run cannot leave the namespace and changes nothing", async () => {
    const key = await w.fx.createUserWithKey("nowhere");
    const { home, credentials } = await makeHome(profileText("nowhere", key));
    const before = await readFile(credentials, "utf8");
    const run = await keyctl(["-t", "nowhere"], home);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/GetCallerIdentity/);
    expect(w.gate.calls).toEqual([]);
    expect(await readFile(credentials, "utf8")).toBe(before);
  });

  it("the profile's endpoint_url sends every call of the rotation there", async () => {
    const key = await w.fx.createUserWithKey("local");
    const { home, credentials } = await makeHome(profileText("local", key));
    await writeFile(join(home, ".aws", "config"), `[profile local]\nendpoint_url = ${RELAY_URL}\n`);
    const run = await keyctl(["-t", "local", "--old-key", "delete"], home);
    expect(run.status, run.stderr).toBe(0);
    expect(keyOf(await readProfile(credentials, "local")).accessKeyId).not.toBe(key.accessKeyId);
    expect(w.gate.calls.map((c) => c.action)).toEqual(
      expect.arrayContaining(["GetCallerIdentity", "CreateAccessKey", "DeleteAccessKey"]),
    );
  });

  it("a services section names IAM's and STS's endpoints", async () => {
    const key = await w.fx.createUserWithKey("svc");
    const { home, credentials } = await makeHome(profileText("svc", key));
    await writeFile(
      join(home, ".aws", "config"),
      `[profile svc]\nservices = local\n\n[services local]\niam =\n  endpoint_url = ${RELAY_URL}\nsts =\n  endpoint_url = ${RELAY_URL}\n`,
    );
    const run = await keyctl(["-t", "svc"], home);
    expect(run.status, run.stderr).toBe(0);
    expect(keyOf(await readProfile(credentials, "svc")).accessKeyId).not.toBe(key.accessKeyId);
    expect(w.gate.calls.map((c) => c.action)).toContain("CreateAccessKey");
  });

  it("a web-identity auth profile's AssumeRoleWithWebIdentity goes to its endpoint_url too", async () => {
    const dev = await w.fx.createUserWithKey("dev", { policy: "none" });
    // moto answers an unsigned AssumeRoleWithWebIdentity with a 500 while its auth is on; the gate
    // answers it with a session of the role that moto made (AssumeRole, auth off), which then signs
    // keyctl's IAM calls with auth on.
    const session = await w.fx.withAuthOff(async (iam) => {
      await iam.send(
        new CreateRoleCommand({
          RoleName: "ci-rotator",
          AssumeRolePolicyDocument: policyDocument(["sts:AssumeRoleWithWebIdentity"]),
        }),
      );
      await iam.send(
        new PutRolePolicyCommand({
          RoleName: "ci-rotator",
          PolicyName: "rotate",
          PolicyDocument: policyDocument(ADMIN_ACTIONS),
        }),
      );
      const sts = stsClient(w.moto.url);
      try {
        const out = await sts.send(
          new AssumeRoleCommand({ RoleArn: ROLE_ARN, RoleSessionName: "ci", DurationSeconds: 900 }),
        );
        return out.Credentials!;
      } finally {
        sts.destroy();
      }
    });
    w.gate.inject({
      action: "AssumeRoleWithWebIdentity",
      fault: "respond",
      body: webIdentityAnswer(session),
    });
    const { home, credentials } = await makeHome(profileText("dev", dev));
    const token = join(home, "ci-token");
    await writeFile(token, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjaSJ9.c2lnbmF0dXJl");
    await writeFile(
      join(home, ".aws", "config"),
      `[profile ci]\nrole_arn = ${ROLE_ARN}\nweb_identity_token_file = ${token}\nendpoint_url = ${RELAY_URL}\n\n[profile dev]\nendpoint_url = ${RELAY_URL}\n`,
    );
    const run = await keyctl(["-a", "ci", "-t", "dev"], home);
    expect(run.status, run.stderr).toBe(0);
    expect(keyOf(await readProfile(credentials, "dev")).accessKeyId).not.toBe(dev.accessKeyId);
    const actions = w.gate.calls.map((c) => c.action);
    expect(actions).toContain("AssumeRoleWithWebIdentity");
    expect(actions).toContain("CreateAccessKey");
  });
});
