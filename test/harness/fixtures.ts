/**
 * Seed and inspect moto directly (never through the fault proxy) with the AWS SDK v3.
 *
 * Every fixture operation runs with moto's auth temporarily OFF (dummy credentials are then
 * accepted; account 123456789012) and restores the previous auth setting afterwards, so they can
 * be called at any time, before or after `moto.setAuth(true)`. Operations of one `Fixtures`
 * instance are serialized. This is the simplest reliable way: no hidden admin user shows up in
 * ListUsers and no key of the test's own is needed. The one caveat: do not call fixtures while
 * the CLI under test is running, since its requests would briefly be unauthenticated too.
 *
 *   const fx = createFixtures(moto.url, { proxy });
 *   await fx.createUser("alice");                 // policy "self" by default
 *   const key = await fx.createKey("alice");
 *   await callerIdentity(proxy.url, key);         // "arn:aws:iam::123456789012:user/alice"
 */
import { AsyncLocalStorage } from "node:async_hooks";
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  IAMClient,
  ListAccessKeysCommand,
  PutUserPolicyCommand,
  UpdateAccessKeyCommand,
} from "@aws-sdk/client-iam";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { motoResetAuth } from "./moto.js";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
process.env.AWS_EC2_METADATA_DISABLED = "true";

export interface AccessKeyPair {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface KeyInfo {
  accessKeyId: string;
  status: "Active" | "Inactive";
  createDate: Date;
}

export type PolicyKind = "self" | "admin" | "none";

export interface CreateUserOptions {
  /** IAM path, e.g. "/team/" (default "/"). */
  path?: string;
  /** Inline policy to attach (default "self"). */
  policy?: PolicyKind;
}

/** What the fixtures tell the proxy about key state changes they make directly in moto. */
export interface KeyStateObserver {
  markInactive(accessKeyId: string): void;
  markActive(accessKeyId: string): void;
  markDeleted(accessKeyId: string): void;
}

export interface Fixtures {
  createUser(name: string, opts?: CreateUserOptions): Promise<{ userName: string; arn: string }>;
  createKey(user: string): Promise<AccessKeyPair>;
  /** createUser + createKey. */
  createUserWithKey(name: string, opts?: CreateUserOptions): Promise<AccessKeyPair>;
  listKeys(user: string): Promise<KeyInfo[]>;
  /** UpdateAccessKey directly in moto; also tells the proxy (if given) so it refuses Inactive keys. */
  setKeyStatus(user: string, accessKeyId: string, status: "Active" | "Inactive"): Promise<void>;
  deleteKey(user: string, accessKeyId: string): Promise<void>;
  /** Run `fn` with moto's auth off (serialized with the other fixture operations). */
  withAuthOff<T>(fn: (iam: IAMClient) => Promise<T>): Promise<T>;
}

const REGION = "us-east-1";
const DUMMY: AccessKeyPair = { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "moto-auth-off-dummy" };

export const SELF_ACTIONS = [
  "iam:CreateAccessKey",
  "iam:DeleteAccessKey",
  "iam:UpdateAccessKey",
  "iam:ListAccessKeys",
  "iam:GetAccessKeyLastUsed",
  "iam:GetUser",
] as const;
export const ADMIN_ACTIONS = [...SELF_ACTIONS, "iam:ListUsers"] as const;

/** IAM policy document; moto's auth only matches `"Resource": "*"` reliably. */
export function policyDocument(actions: readonly string[]): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Action: [...actions], Resource: "*" }],
  });
}

/** IAM client for `url` (moto or the proxy), one attempt only. */
export function iamClient(url: string, key: AccessKeyPair = DUMMY, maxAttempts = 1): IAMClient {
  return new IAMClient({ region: REGION, endpoint: url, credentials: { ...key }, maxAttempts });
}

/** STS client for `url` (moto or the proxy), one attempt only. */
export function stsClient(url: string, key: AccessKeyPair = DUMMY, maxAttempts = 1): STSClient {
  return new STSClient({ region: REGION, endpoint: url, credentials: { ...key }, maxAttempts });
}

/**
 * STS GetCallerIdentity signed by `key` against `url` (moto or the proxy): returns the ARN, or
 * throws the SDK error (e.g. `InvalidClientTokenId`). Use it to prove a key works / does not.
 */
export async function callerIdentity(url: string, key: AccessKeyPair): Promise<string> {
  const client = stsClient(url, key);
  try {
    const out = await client.send(new GetCallerIdentityCommand({}));
    if (!out.Arn) throw new Error("GetCallerIdentity returned no Arn");
    return out.Arn;
  } finally {
    client.destroy();
  }
}

/** Fixtures that talk to moto at `motoUrl` directly. Pass the proxy to keep its key state in sync. */
export function createFixtures(motoUrl: string, opts: { proxy?: KeyStateObserver } = {}): Fixtures {
  const iam = iamClient(motoUrl);
  const inside = new AsyncLocalStorage<true>();
  let queue: Promise<unknown> = Promise.resolve();

  function withAuthOff<T>(fn: (iam: IAMClient) => Promise<T>): Promise<T> {
    if (inside.getStore()) return fn(iam); // nested call: already locked and auth is off
    const run = async (): Promise<T> => {
      const previous = await motoResetAuth(motoUrl, "inf");
      try {
        return await inside.run(true, () => fn(iam));
      } finally {
        // "inf" = was off; anything else (e.g. "0.0") = was on.
        await motoResetAuth(motoUrl, previous === "inf" ? "inf" : "0");
      }
    };
    const result = queue.then(run, run);
    queue = result.catch(() => undefined);
    return result;
  }

  async function createUser(name: string, o: CreateUserOptions = {}) {
    return withAuthOff(async (c) => {
      const out = await c.send(new CreateUserCommand({ UserName: name, Path: o.path ?? "/" }));
      const policy = o.policy ?? "self";
      if (policy !== "none") {
        await c.send(
          new PutUserPolicyCommand({
            UserName: name,
            PolicyName: `keyctl-e2e-${policy}`,
            PolicyDocument: policyDocument(policy === "admin" ? ADMIN_ACTIONS : SELF_ACTIONS),
          }),
        );
      }
      return { userName: name, arn: out.User?.Arn ?? "" };
    });
  }

  async function createKey(user: string): Promise<AccessKeyPair> {
    return withAuthOff(async (c) => {
      const out = await c.send(new CreateAccessKeyCommand({ UserName: user }));
      const k = out.AccessKey;
      if (!k?.AccessKeyId || !k.SecretAccessKey) throw new Error(`CreateAccessKey(${user}) returned no key`);
      return { accessKeyId: k.AccessKeyId, secretAccessKey: k.SecretAccessKey };
    });
  }

  return {
    createUser,
    createKey,
    async createUserWithKey(name, o) {
      await createUser(name, o);
      return createKey(name);
    },
    listKeys(user) {
      return withAuthOff(async (c) => {
        const out = await c.send(new ListAccessKeysCommand({ UserName: user }));
        return (out.AccessKeyMetadata ?? []).map((m) => ({
          accessKeyId: m.AccessKeyId ?? "",
          status: m.Status === "Inactive" ? "Inactive" : "Active",
          createDate: m.CreateDate ?? new Date(0),
        }));
      });
    },
    async setKeyStatus(user, accessKeyId, status) {
      await withAuthOff((c) =>
        c.send(new UpdateAccessKeyCommand({ UserName: user, AccessKeyId: accessKeyId, Status: status })),
      );
      if (status === "Inactive") opts.proxy?.markInactive(accessKeyId);
      else opts.proxy?.markActive(accessKeyId);
    },
    async deleteKey(user, accessKeyId) {
      await withAuthOff((c) =>
        c.send(new DeleteAccessKeyCommand({ UserName: user, AccessKeyId: accessKeyId })),
      );
      opts.proxy?.markDeleted(accessKeyId);
    },
    withAuthOff,
  };
}
