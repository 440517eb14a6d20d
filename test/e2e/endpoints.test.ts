// Endpoints configured only in the config file (endpoint_url, a services section), for the IAM and
// STS clients and for the inner STS call of a web-identity auth profile. Every run is inside a
// network namespace with only loopback: a request that ignored the configuration and went to a real
// AWS endpoint fails there instead of leaving the machine.
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { CreateRoleCommand, PutRolePolicyCommand } from "@aws-sdk/client-iam";
import { AssumeRoleCommand, type Credentials as StsCredentials } from "@aws-sdk/client-sts";
import { describe, expect, it } from "vitest";
import { ADMIN_ACTIONS, policyDocument, stsClient } from "../harness/fixtures.js";
import { cliPath, keyOf, makeHome, profileText, readProfile } from "./cli.js";
import { canIsolate, isolatedEnv, RELAY_URL, runIsolated } from "./netns.js";
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

/** A run that cannot reach its endpoint fails within seconds. */
const QUICK = { KEYCTL_CALL_TIMEOUT_MS: "5000", AWS_MAX_ATTEMPTS: "1" };

/** The CLI in the namespace, its relay reaching the gate. */
function keyctl(args: readonly string[], home: string) {
  return runIsolated([cliPath(), ...args], { target: w.endpoint, env: { ...isolatedEnv(home), ...QUICK } });
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

  it("an SSO auth profile's portal call goes to its sso_region's portal, through the proxy", async () => {
    const dev = await w.fx.createUserWithKey("dev");
    const { home, credentials } = await makeHome(profileText("dev", dev));
    const startUrl = "https://corp.awsapps.com/start";
    const cache = join(home, ".aws", "sso", "cache");
    await mkdir(cache, { recursive: true });
    await writeFile(
      join(cache, `${createHash("sha1").update(startUrl).digest("hex")}.json`),
      JSON.stringify({
        startUrl,
        region: "eu-west-1",
        accessToken: "aoa-sso-access-token-for-the-test",
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      }),
    );
    await writeFile(
      join(home, ".aws", "config"),
      `[profile corp]\nsso_start_url = ${startUrl}\nsso_region = eu-west-1\nsso_account_id = 123456789012\nsso_role_name = KeyRotator\n`,
    );
    const before = await readFile(credentials, "utf8");
    const router = await startRouter(w.endpoint);
    try {
      // IAM and STS at the relayed endpoint, directly; everything else through the proxy, which
      // notes where a tunnel was asked for and refuses it (nothing leaves the machine).
      const run = await runIsolated([cliPath(), "-a", "corp", "-t", "dev"], {
        target: router.url,
        env: {
          ...isolatedEnv(home),
          ...QUICK,
          AWS_REGION: "us-east-2",
          AWS_ENDPOINT_URL_IAM: RELAY_URL,
          AWS_ENDPOINT_URL_STS: RELAY_URL,
          HTTPS_PROXY: RELAY_URL,
          NO_PROXY: "127.0.0.1",
        },
      });
      expect(run.status, run.stderr).toBe(1);
      // The failing call is the provider's, named as such (not the GetCallerIdentity it served).
      expect(run.stderr.split("\n").filter((l) => l.startsWith("keyctl:"))).toEqual([
        expect.stringMatching(/auth profile's credentials \(SSO GetRoleCredentials\)/),
      ]);
      expect(router.tunnels).toEqual(["portal.sso.eu-west-1.amazonaws.com:443"]);
      expect(router.federation).toEqual([]);
      expect(await readFile(credentials, "utf8")).toBe(before);
    } finally {
      await router.close();
    }
  });
});

/**
 * What the namespace's relay reaches in the SSO test: IAM and STS requests go on to `target`; a
 * request for the SSO portal's path is noted and refused; a CONNECT (the proxy's side) is noted
 * and refused, so no tunnel ever leaves the machine.
 */
async function startRouter(target: string) {
  const tunnels: string[] = [];
  const federation: string[] = [];
  const server = createServer((req, res) => {
    if (req.url?.startsWith("/federation/")) {
      federation.push(req.url);
      res.writeHead(404, { "content-length": "0" });
      res.end();
      return;
    }
    const up = httpRequest(
      new URL(req.url ?? "/", target),
      { method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  server.on("connect", (req, socket) => {
    tunnels.push(req.url ?? "");
    socket.end("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tunnels,
    federation,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}
