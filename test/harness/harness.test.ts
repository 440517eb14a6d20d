/**
 * Self-test of the e2e harness: real moto server + fault proxy + fixtures.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateAccessKeyCommand,
  DeleteAccessKeyCommand,
  ListAccessKeysCommand,
  ListUsersCommand,
  UpdateAccessKeyCommand,
} from "@aws-sdk/client-iam";
import { GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type AccessKeyPair,
  callerIdentity,
  createFixtures,
  type Fixtures,
  iamClient,
  stsClient,
} from "./fixtures.js";
import { findMotoPython, type MotoServer, motoEnv, startMoto } from "./moto.js";
import { type FaultProxy, startProxy } from "./proxy.js";

let moto: MotoServer;
let proxy: FaultProxy;
let fx: Fixtures;
let admin: AccessKeyPair;
let alice: AccessKeyPair;

/** The rejection of `p`, or fail if it resolves. */
async function failure(p: Promise<unknown>): Promise<Record<string, unknown> & Error> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(Error);
    return err as Record<string, unknown> & Error;
  }
  throw new Error("expected the call to fail, but it succeeded");
}

function httpStatus(err: Record<string, unknown>): number | undefined {
  const meta = err.$metadata;
  if (
    meta &&
    typeof meta === "object" &&
    "httpStatusCode" in meta &&
    typeof meta.httpStatusCode === "number"
  ) {
    return meta.httpStatusCode;
  }
  return undefined;
}

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
  admin = await fx.createUserWithKey("admin", { policy: "admin" });
  alice = await fx.createUserWithKey("alice", { path: "/team/" });
});

describe("moto server", () => {
  it("runs on a free loopback port with auth on", async () => {
    expect(moto.url).toBe(`http://127.0.0.1:${moto.port}`);
    expect(moto.port).toBeGreaterThan(0);
    expect(() => process.kill(moto.pid, 0)).not.toThrow();
    // Auth on: moto itself refuses an unknown key (auth off would accept anything).
    const err = await failure(
      callerIdentity(moto.url, { accessKeyId: "AKIAUNKNOWN000000000", secretAccessKey: "x" }),
    );
    expect(err.name).toBe("InvalidClientTokenId");
    // ...and enforces IAM policies: alice ("self") may not ListUsers, admin may.
    const denied = await failure(iamClient(moto.url, alice).send(new ListUsersCommand({})));
    expect(denied.name).toBe("AccessDenied");
    const users = await iamClient(moto.url, admin).send(new ListUsersCommand({}));
    expect(users.Users?.map((u) => u.UserName).sort()).toEqual(["admin", "alice"]);
  });

  it("fixtures create, list and delete keys and restore auth afterwards", async () => {
    const second = await fx.createKey("alice");
    const keys = await fx.listKeys("alice");
    expect(keys.map((k) => k.accessKeyId).sort()).toEqual([alice.accessKeyId, second.accessKeyId].sort());
    expect(keys.every((k) => k.status === "Active" && k.createDate instanceof Date)).toBe(true);
    await fx.deleteKey("alice", second.accessKeyId);
    expect((await fx.listKeys("alice")).map((k) => k.accessKeyId)).toEqual([alice.accessKeyId]);
    // auth is back on: the deleted key is refused by moto itself
    const err = await failure(callerIdentity(moto.url, second));
    expect(err.name).toBe("InvalidClientTokenId");
  });

  it("motoEnv points every AWS SDK endpoint at the given URL", () => {
    const env = motoEnv("http://127.0.0.1:1");
    expect(env).toMatchObject({
      AWS_ENDPOINT_URL: "http://127.0.0.1:1",
      AWS_ENDPOINT_URL_IAM: "http://127.0.0.1:1",
      AWS_ENDPOINT_URL_STS: "http://127.0.0.1:1",
      AWS_EC2_METADATA_DISABLED: "true",
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    });
  });

  it("fails with a clear one-line error when no Python has moto", async () => {
    const root = mkdtempSync(join(tmpdir(), "keyctl-nomoto-"));
    const log: string[] = [];
    try {
      const err = await failure(
        findMotoPython({
          root,
          env: { PATH: join(root, "empty-bin"), KEYCTL_PYTHON: join(root, "no-such-python") },
          log: (l) => log.push(l),
        }),
      );
      expect(err.message).toMatch(/^moto is missing: /);
      expect(err.message).toContain('pip install "moto[server]"');
      expect(err.message).toContain("KEYCTL_PYTHON");
      expect(err.message).not.toContain("\n");
      expect(log.join("\n")).toContain("creating");
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("fault proxy", () => {
  it("forwards calls and records them with the signing key id", async () => {
    const arn = await callerIdentity(proxy.url, alice);
    expect(arn).toBe("arn:aws:iam::123456789012:user/team/alice");
    await iamClient(proxy.url, admin).send(new ListAccessKeysCommand({ UserName: "alice" }));
    expect(
      proxy.calls.map(({ action, service, accessKeyId, status }) => ({
        action,
        service,
        accessKeyId,
        status,
      })),
    ).toEqual([
      { action: "GetCallerIdentity", service: "sts", accessKeyId: alice.accessKeyId, status: 200 },
      { action: "ListAccessKeys", service: "iam", accessKeyId: admin.accessKeyId, status: 200 },
    ]);
    expect(proxy.calls[1]?.params.UserName).toBe("alice");
    expect(proxy.calls[0]?.at).toBeLessThanOrEqual(Date.now());
    proxy.clearCalls();
    expect(proxy.calls).toHaveLength(0);
  });

  it("refuses a key deactivated through it, and accepts it again once reactivated", async () => {
    const update = (Status: "Active" | "Inactive") =>
      iamClient(proxy.url, admin).send(
        new UpdateAccessKeyCommand({ UserName: "alice", AccessKeyId: alice.accessKeyId, Status }),
      );
    await update("Inactive");
    const err = await failure(callerIdentity(proxy.url, alice));
    expect(err.name).toBe("InvalidClientTokenId");
    expect(err.message).toBe("The security token included in the request is invalid.");
    expect(httpStatus(err)).toBe(403);
    expect(proxy.calls.at(-1)).toMatchObject({
      accessKeyId: alice.accessKeyId,
      status: 403,
      injected: "inactive",
    });
    // moto alone would have accepted it: that is why the proxy exists
    await expect(callerIdentity(moto.url, alice)).resolves.toContain("alice");
    expect((await fx.listKeys("alice"))[0]?.status).toBe("Inactive");

    await update("Active");
    await expect(callerIdentity(proxy.url, alice)).resolves.toContain("user/team/alice");
  });

  it("refuses keys marked inactive by fixtures and keys deleted through it", async () => {
    await fx.setKeyStatus("alice", alice.accessKeyId, "Inactive");
    expect((await failure(callerIdentity(proxy.url, alice))).name).toBe("InvalidClientTokenId");
    await fx.setKeyStatus("alice", alice.accessKeyId, "Active");
    await expect(callerIdentity(proxy.url, alice)).resolves.toContain("alice");

    const extra = await fx.createKey("alice");
    await iamClient(proxy.url, alice).send(new DeleteAccessKeyCommand({ AccessKeyId: extra.accessKeyId }));
    const err = await failure(callerIdentity(proxy.url, extra));
    expect(err.name).toBe("InvalidClientTokenId");
    expect(proxy.calls.at(-1)?.injected).toBe("deleted");
  });

  it("propagation delay: a new key fails until the delay has passed, then works", async () => {
    const delay = 800;
    proxy.setPropagationDelay(delay);
    const out = await iamClient(proxy.url, alice).send(new CreateAccessKeyCommand({}));
    const created = Date.now();
    const key = {
      accessKeyId: out.AccessKey?.AccessKeyId ?? "",
      secretAccessKey: out.AccessKey?.SecretAccessKey ?? "",
    };
    expect(key.accessKeyId).toMatch(/^AKIA/);

    const early = await failure(callerIdentity(proxy.url, key));
    expect(early.name).toBe("InvalidClientTokenId");
    expect(proxy.calls.at(-1)?.injected).toBe("propagating");
    // the key is real: moto itself accepts it immediately
    await expect(callerIdentity(moto.url, key)).resolves.toContain("alice");
    // the old key is not affected
    await expect(callerIdentity(proxy.url, alice)).resolves.toContain("alice");

    let arn: string | undefined;
    while (!arn && Date.now() - created < delay + 3_000) {
      arn = await callerIdentity(proxy.url, key).catch(() => undefined);
      if (!arn) await new Promise((r) => setTimeout(r, 50));
    }
    expect(arn).toContain("user/team/alice");
    expect(Date.now() - created).toBeGreaterThanOrEqual(delay - 50);
  });

  it("throttle: 400 Throttling, retried by the SDK, consumed `times` times", async () => {
    proxy.inject({ action: "ListAccessKeys", fault: "throttle" });
    const err = await failure(iamClient(proxy.url, alice).send(new ListAccessKeysCommand({})));
    expect(err.name).toBe("Throttling");
    expect(err.message).toBe("Rate exceeded");
    expect(httpStatus(err)).toBe(400);
    // times: 1 is used up; other actions were never affected
    await iamClient(proxy.url, alice).send(new ListAccessKeysCommand({}));
    expect(proxy.calls.map((c) => c.status)).toEqual([400, 200]);
    expect(proxy.calls[0]?.upstreamStatus).toBeUndefined();
  });

  it("500: ServiceFailure; the SDK's retries absorb fewer faults than maxAttempts", async () => {
    proxy.inject({ action: "ListAccessKeys", fault: "500", times: 2 });
    const err = await failure(iamClient(proxy.url, alice).send(new ListAccessKeysCommand({})));
    expect(err.name).toBe("ServiceFailureException");
    expect(httpStatus(err)).toBe(500);
    // one fault left: a client with 2 attempts sees a 500 then succeeds
    const out = await iamClient(proxy.url, alice, 2).send(new ListAccessKeysCommand({}));
    expect(out.$metadata.attempts).toBe(2);
    expect(out.AccessKeyMetadata).toHaveLength(1);
    expect(proxy.calls.map((c) => c.status)).toEqual([500, 500, 200]);
  });

  it("accessDenied: 403 AccessDenied with an IAM-style message; times: Infinity until cleared", async () => {
    proxy.inject({ action: "GetCallerIdentity", fault: "accessDenied", times: Number.POSITIVE_INFINITY });
    for (let i = 0; i < 3; i++) {
      const err = await failure(stsClient(proxy.url, alice).send(new GetCallerIdentityCommand({})));
      expect(err.name).toBe("AccessDenied");
      expect(httpStatus(err)).toBe(403);
      expect(err.message).toMatch(/is not authorized to perform: sts:GetCallerIdentity/);
    }
    proxy.clearFaults();
    await expect(callerIdentity(proxy.url, alice)).resolves.toContain("alice");
  });

  it("drop before: the connection dies and moto never sees the call", async () => {
    proxy.inject({ action: "CreateAccessKey", fault: "drop" });
    const err = await failure(iamClient(proxy.url, alice).send(new CreateAccessKeyCommand({})));
    expect(`${err.name} ${err.message} ${String(err.code)}`).toMatch(/ECONNRESET|socket hang up/i);
    expect(proxy.calls.at(-1)).toMatchObject({ action: "CreateAccessKey", status: 0, injected: "drop" });
    expect(await fx.listKeys("alice")).toHaveLength(1);
  });

  it("when: after: moto performs the action but the client gets the fault", async () => {
    proxy.inject({ action: "CreateAccessKey", fault: "drop", when: "after" });
    const dropped = await failure(iamClient(proxy.url, alice).send(new CreateAccessKeyCommand({})));
    expect(`${dropped.message} ${String(dropped.code)}`).toMatch(/ECONNRESET|socket hang up/i);
    // the key really exists in moto even though the client never learned its secret
    expect(await fx.listKeys("alice")).toHaveLength(2);

    proxy.inject({ action: "UpdateAccessKey", fault: "throttle", when: "after" });
    const throttled = await failure(
      iamClient(proxy.url, admin).send(
        new UpdateAccessKeyCommand({ UserName: "alice", AccessKeyId: alice.accessKeyId, Status: "Inactive" }),
      ),
    );
    expect(throttled.name).toBe("Throttling");
    expect((await fx.listKeys("alice")).find((k) => k.accessKeyId === alice.accessKeyId)?.status).toBe(
      "Inactive",
    );
    // the proxy still learned the new status from moto's answer
    expect((await failure(callerIdentity(proxy.url, alice))).name).toBe("InvalidClientTokenId");

    expect(proxy.calls.map((c) => [c.action, c.status, c.upstreamStatus, c.injected])).toEqual([
      ["CreateAccessKey", 0, 200, "drop"],
      ["UpdateAccessKey", 400, 200, "throttle"],
      ["GetCallerIdentity", 403, undefined, "inactive"],
    ]);
  });

  it("latency is added to every request", async () => {
    proxy.setLatency(300);
    const t0 = Date.now();
    await callerIdentity(proxy.url, alice);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    proxy.setLatency(0);
    const t1 = Date.now();
    await callerIdentity(proxy.url, alice);
    expect(Date.now() - t1).toBeLessThan(290);
  });
});
