// Works wherever the AWS CLI works: a forward proxy (plain HTTP and CONNECT, with credentials),
// NO_PROXY, a private CA, and the GovCloud and China partitions. Each run is in a network namespace
// with only loopback (netns.ts): its one way out is RELAY_URL, relayed to the proxy, the TLS front or
// the gate, so a run that ignored a setting and went to a real AWS endpoint fails instead.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  IAMClient,
  PutUserPolicyCommand,
} from "@aws-sdk/client-iam";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AccessKeyPair } from "../harness/fixtures.js";
import { policyDocument, SELF_ACTIONS } from "../harness/fixtures.js";
import { type ForwardProxy, startForwardProxy } from "../harness/forward-proxy.js";
import { startTlsFront, type TlsFront } from "../harness/tls-front.js";
import { cliPath, keyOf, makeHome, profileText, readProfile } from "./cli.js";
import { canIsolate, isolatedEnv, RELAY_URL, runIsolated } from "./netns.js";
import { expectCleanOutput, expectOneProblemLine, useWorld } from "./world.js";

const w = useWorld();
const PROXY_USER = { user: "corp-user", password: "pr0xy-Pass:word" };
let proxy: ForwardProxy;
let front: TlsFront;

beforeAll(async () => {
  proxy = await startForwardProxy({ credentials: PROXY_USER });
  front = await startTlsFront(w.gate.url);
});
afterAll(async () => {
  await proxy?.close();
  await front?.close();
});

/** The proxy as the CLI in the namespace reaches it: through the relay. */
const proxyWithCredentials = () =>
  `http://${encodeURIComponent(PROXY_USER.user)}:${encodeURIComponent(PROXY_USER.password)}@127.0.0.1:${new URL(RELAY_URL).port}`;

/** keyctl in the namespace; `via` is what its relay reaches (the proxy, the TLS front, the gate). */
function keyctl(
  args: readonly string[],
  options: { home: string; via: string; env: Record<string, string> },
) {
  return runIsolated([cliPath(), ...args], {
    target: options.via,
    env: { ...isolatedEnv(options.home), ...options.env },
  });
}

/** The TLS front as the CLI in the namespace reaches it directly: the relay's port, over https. */
const relayedFront = () => `https://127.0.0.1:${new URL(RELAY_URL).port}`;

/** Every endpoint variable pointed at `url`. */
const endpointsAt = (url: string) => ({
  AWS_ENDPOINT_URL: url,
  AWS_ENDPOINT_URL_IAM: url,
  AWS_ENDPOINT_URL_STS: url,
});

async function rotated(credentials: string, profile: string, before: AccessKeyPair): Promise<void> {
  expect(keyOf(await readProfile(credentials, profile)).accessKeyId).not.toBe(before.accessKeyId);
  expect(keyOf(await readProfile(credentials, `${profile}-previous`)).accessKeyId).toBe(before.accessKeyId);
}

describe.skipIf(!canIsolate())("a forward proxy", () => {
  it("HTTP_PROXY with credentials: every request of the rotation passes the proxy", async () => {
    const key = await w.fx.createUserWithKey("via-proxy");
    const { home, credentials } = await makeHome(profileText("via-proxy", key));
    const seen = proxy.requests.length;
    const run = await keyctl(["-t", "via-proxy", "--old-key", "delete"], {
      home,
      via: proxy.url,
      env: { ...endpointsAt(w.endpoint), HTTP_PROXY: proxyWithCredentials() },
    });
    expect(run.status, run.stderr).toBe(0);
    await rotated(credentials, "via-proxy", key);
    const mine = proxy.requests.slice(seen);
    expect(mine.length).toBe(w.gate.calls.length);
    expect(mine.length).toBeGreaterThanOrEqual(5);
    expect(mine.every((r) => r.kind === "http" && r.target.startsWith(`${w.gate.url}/`))).toBe(true);
    expectCleanOutput(run, [key.secretAccessKey, PROXY_USER.password]);
  });

  it("NO_PROXY naming the endpoint's host bypasses the proxy (and lower case wins)", async () => {
    const key = await w.fx.createUserWithKey("no-proxy");
    const { home, credentials } = await makeHome(profileText("no-proxy", key));
    const seen = proxy.requests.length;
    // Nothing listens at port 9 in the namespace: a request sent to either proxy fails.
    const run = await keyctl(["-t", "no-proxy"], {
      home,
      via: w.endpoint,
      env: {
        ...endpointsAt(RELAY_URL),
        http_proxy: "http://127.0.0.1:9",
        HTTP_PROXY: "http://127.0.0.1:9",
        no_proxy: "example.com, 127.0.0.1",
        NO_PROXY: "example.com",
      },
    });
    expect(run.status, run.stderr).toBe(0);
    await rotated(credentials, "no-proxy", key);
    expect(proxy.requests.slice(seen)).toEqual([]);
    expect(w.gate.calls.length).toBeGreaterThanOrEqual(4);
  });

  it("wrong proxy credentials fail in one line without a stack trace", async () => {
    const key = await w.fx.createUserWithKey("proxy-refused");
    const { home } = await makeHome(profileText("proxy-refused", key));
    const run = await keyctl(["-t", "proxy-refused"], {
      home,
      via: proxy.url,
      env: {
        ...endpointsAt(w.endpoint),
        HTTP_PROXY: proxyWithCredentials().replace(encodeURIComponent(PROXY_USER.password), "wrong"),
        AWS_MAX_ATTEMPTS: "1",
      },
    });
    expect(run.status).toBe(1);
    expectOneProblemLine(run, /GetCallerIdentity.*407 Proxy Authentication Required.*user and password/);
    expectCleanOutput(run, [key.secretAccessKey, PROXY_USER.password]);
    expect(w.gate.calls).toEqual([]);
  });
});

describe.skipIf(!canIsolate())("a private CA", () => {
  it("HTTPS_PROXY tunnels (CONNECT) to an endpoint whose CA AWS_CA_BUNDLE names", async () => {
    const key = await w.fx.createUserWithKey("tls-ca");
    const { home, credentials } = await makeHome(profileText("tls-ca", key));
    const seen = proxy.requests.length;
    const run = await keyctl(["-t", "tls-ca"], {
      home,
      via: proxy.url,
      env: { ...endpointsAt(front.url), AWS_CA_BUNDLE: front.caFile, HTTPS_PROXY: proxyWithCredentials() },
    });
    expect(run.status, run.stderr).toBe(0);
    await rotated(credentials, "tls-ca", key);
    const mine = proxy.requests.slice(seen);
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((r) => r.kind === "connect" && r.target === front.url.slice("https://".length))).toBe(
      true,
    );
  });

  it("the profile's ca_bundle in the config file works too", async () => {
    const key = await w.fx.createUserWithKey("tls-profile");
    const { home, credentials } = await makeHome(profileText("tls-profile", key));
    const config = join(home, ".aws", "config");
    await writeFile(config, `[profile tls-profile]\nca_bundle = ${front.caFile}\n`);
    const run = await keyctl(["-t", "tls-profile"], {
      home,
      via: front.url,
      env: endpointsAt(relayedFront()),
    });
    expect(run.status, run.stderr).toBe(0);
    await rotated(credentials, "tls-profile", key);
  });

  it("without the CA the run fails clearly, naming AWS_CA_BUNDLE, and changes nothing", async () => {
    const key = await w.fx.createUserWithKey("tls-none");
    const { home, credentials } = await makeHome(profileText("tls-none", key));
    const before = await readFile(credentials, "utf8");
    const run = await keyctl(["-t", "tls-none"], { home, via: front.url, env: endpointsAt(relayedFront()) });
    expect(run.status).toBe(1);
    expectOneProblemLine(run, /TLS certificate is not trusted.*AWS_CA_BUNDLE/);
    expect(await readFile(credentials, "utf8")).toBe(before);
  });
});

/** An IAM user with a key in `region`'s partition (moto keeps each partition's IAM apart). */
async function userInPartition(name: string, region: string): Promise<AccessKeyPair> {
  return w.fx.withAuthOff(async () => {
    const iam = new IAMClient({
      region,
      endpoint: w.moto.url,
      credentials: { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "moto-auth-off-dummy" },
    });
    try {
      await iam.send(new CreateUserCommand({ UserName: name }));
      await iam.send(
        new PutUserPolicyCommand({
          UserName: name,
          PolicyName: "self",
          PolicyDocument: policyDocument(SELF_ACTIONS),
        }),
      );
      const out = await iam.send(new CreateAccessKeyCommand({ UserName: name }));
      return { accessKeyId: out.AccessKey!.AccessKeyId!, secretAccessKey: out.AccessKey!.SecretAccessKey! };
    } finally {
      iam.destroy();
    }
  });
}

describe.skipIf(!canIsolate())("partitions", () => {
  for (const [region, partition] of [
    ["us-gov-west-1", "aws-us-gov"],
    ["cn-north-1", "aws-cn"],
  ] as const) {
    it(`AWS_DEFAULT_REGION=${region} alone: every request is signed for ${partition}`, async () => {
      const name = `user-${partition}`;
      const key = await userInPartition(name, region);
      const { home, credentials } = await makeHome(profileText(name, key));
      const run = await keyctl(["-t", name, "--old-key", "delete"], {
        home,
        via: w.endpoint,
        env: { ...endpointsAt(RELAY_URL), AWS_DEFAULT_REGION: region },
      });
      expect(run.status, run.stderr).toBe(0);
      await rotated(credentials, name, key);
      expect(new Set(w.gate.calls.map((c) => c.region))).toEqual(new Set([region]));
      expect(w.gate.calls.map((c) => c.action)).toContain("DeleteAccessKey");
    });
  }

  it("AWS_REGION wins over AWS_DEFAULT_REGION; IAM is signed for the partition's global region", async () => {
    const key = await userInPartition("gov-east", "us-gov-east-1");
    const { home } = await makeHome(profileText("gov-east", key));
    const run = await keyctl(["-t", "gov-east"], {
      home,
      via: w.endpoint,
      env: { ...endpointsAt(RELAY_URL), AWS_REGION: "us-gov-east-1", AWS_DEFAULT_REGION: "eu-west-1" },
    });
    expect(run.status, run.stderr).toBe(0);
    const regions = (action: string) =>
      new Set(w.gate.calls.filter((c) => c.action === action).map((c) => c.region));
    expect(regions("GetCallerIdentity")).toEqual(new Set(["us-gov-east-1"]));
    expect(regions("CreateAccessKey")).toEqual(new Set(["us-gov-west-1"]));
  });
});
