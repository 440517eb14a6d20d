import { KeyctlError } from "../errors.js";
import { adaptiveLimit } from "../util/pool.js";
import { retry } from "../util/retry.js";
import { didNotAct, passingFailure, signerRefused } from "./messages.js";
import {
  type AccessKey,
  type AuthSession,
  type CallerIdentity,
  type Clock,
  isAwsCallError,
  type StaticCredentials,
  type StsPort,
  systemClock,
} from "./ports.js";

export type OwnerProof = "sts" | "user-flag" | "profile-name" | "search";

/** Who owns the target profile's key, and how we know. */
export interface TargetOwner {
  readonly userName: string;
  readonly account: string;
  readonly proof: OwnerProof;
  /** The user's keys, when the proof already had to list them. */
  readonly keys?: readonly AccessKey[];
}

export interface ParsedArn {
  readonly partition: string;
  readonly account: string;
  readonly kind: "user" | "root" | "other";
  readonly userName?: string;
}

export function parseArn(arn: string): ParsedArn {
  const parts = arn.split(":");
  const partition = parts[1] ?? "";
  const account = parts[4] ?? "";
  const resource = parts.slice(5).join(":");
  if (parts[2] === "iam" && resource === "root") return { partition, account, kind: "root" };
  if (parts[2] === "iam" && resource.startsWith("user/")) {
    const userName = resource.split("/").pop() ?? "";
    return { partition, account, kind: "user", userName };
  }
  return { partition, account, kind: "other" };
}

/** The identity STS answered is exactly this IAM user of this account (not a role, not root). */
export function isIamUser(identity: CallerIdentity, user: { userName: string; account: string }): boolean {
  const parsed = parseArn(identity.arn);
  return parsed.kind === "user" && parsed.userName === user.userName && identity.account === user.account;
}

function refuseNonUser(profile: string, identity: CallerIdentity): never {
  const parsed = parseArn(identity.arn);
  if (parsed.kind === "root") {
    throw new KeyctlError(
      `Profile ${profile} holds the account's root user key; keyctl rotates IAM user keys only. Replace root keys in the console, or better, delete them.`,
    );
  }
  throw new KeyctlError(
    `Profile ${profile}'s key belongs to ${identity.arn}, not to an IAM user; nothing to rotate.`,
  );
}

// The port makes one attempt (the verification polls on its own); a single throttle or dropped
// connection must not fail the proof of ownership.
function callerIdentityWithRetry(
  sts: StsPort,
  key: StaticCredentials,
  clock: Clock,
): Promise<CallerIdentity> {
  return retry(() => sts.callerIdentity(key), {
    clock,
    retryable: passingFailure,
    attempts: 3,
    firstDelayMs: 300,
    nextDelayMs: (ms) => ms * 2,
  });
}

/** Starts `work` now and keeps its failure for whoever awaits it, if anyone does. */
function early<T>(work: () => Promise<T>): Promise<T> {
  const started = work();
  started.catch(() => {});
  return started;
}

/** Per-user IAM calls of the owner search run side by side, within IAM's throttling. */
const SEARCH_CONCURRENCY = 32;

async function authAccount(auth: AuthSession): Promise<string> {
  return (await auth.identity()).account;
}

/**
 * Proves which IAM user owns `key` rather than guessing from the profile name: the key's own
 * signature on STS GetCallerIdentity (which needs no permission), else the auth profile's view of
 * IAM, checked against the key id. Refuses root keys, non-user identities and cross-account pairs.
 */
export async function proveOwner(options: {
  profile: string;
  key: StaticCredentials;
  auth: AuthSession;
  sts: StsPort;
  userFlag?: string;
  clock?: Clock;
}): Promise<TargetOwner> {
  const { profile, key, auth, sts, userFlag } = options;
  const clock = options.clock ?? systemClock;

  if (userFlag !== undefined) {
    const keys = await listOrExplain(auth, userFlag);
    if (!keys.some((k) => k.accessKeyId === key.accessKeyId)) {
      throw new KeyctlError(
        `Key ${key.accessKeyId} of profile ${profile} is not one of IAM user ${userFlag}'s keys; check --user.`,
      );
    }
    return { userName: userFlag, account: await authAccount(auth), proof: "user-flag", keys };
  }

  // The round trips of the proof overlap: while STS answers for the key, IAM already lists the
  // signer's own keys (self-service: the same key signs both) or STS answers for the auth profile.
  const sameKey = auth.signingKeyId === key.accessKeyId;
  const listOwn = sameKey ? auth.iam.listOwnAccessKeys?.bind(auth.iam) : undefined;
  // A refusal here only costs the overlap: the keys are then listed by name as before. A call that got
  // no answer is not asked again by name: that would double the wait the message names.
  const ownKeys = listOwn
    ? listOwn().then(
        (keys) => ({ keys, failed: undefined }),
        (err: unknown) => ({ keys: undefined, failed: isAwsCallError(err, "Network") ? err : undefined }),
      )
    : undefined;
  const authIdentity = sameKey ? undefined : early(() => auth.identity());

  let identity: CallerIdentity | undefined;
  try {
    identity = await callerIdentityWithRetry(sts, key, clock);
  } catch (err) {
    if (!signerRefused(err, { expired: true })) throw err;
    // The key itself no longer signs (deleted, inactive, wrong secret): only IAM can say whose it is.
  }

  if (identity) {
    const parsed = parseArn(identity.arn);
    if (parsed.kind !== "user" || !parsed.userName) refuseNonUser(profile, identity);
    const account = sameKey ? identity.account : (await authIdentity!).account;
    if (account !== identity.account) {
      throw new KeyctlError(
        `Profile ${profile} belongs to account ${identity.account} but the auth profile ${auth.profile} to account ${account}; use an auth profile of the same account.`,
      );
    }
    // Listed with the very key STS just named: the keys of that user, if the list holds the key.
    const own = await ownKeys;
    if (own?.failed) throw own.failed;
    const keys = own?.keys;
    return {
      userName: parsed.userName,
      account: identity.account,
      proof: "sts",
      ...(keys?.some((k) => k.accessKeyId === key.accessKeyId) ? { keys } : {}),
    };
  }

  // The profile name as user name, accepted only if that user really holds the key.
  const byName = await tryList(auth, profile);
  if (byName?.some((k) => k.accessKeyId === key.accessKeyId)) {
    return { userName: profile, account: await authAccount(auth), proof: "profile-name", keys: byName };
  }
  let users: { userName: string }[];
  try {
    users = await auth.iam.listUsers();
  } catch (err) {
    if (isAwsCallError(err, "AccessDenied")) {
      throw new KeyctlError(
        `Cannot tell which IAM user owns key ${key.accessKeyId} of profile ${profile}: the key itself is refused and ${auth.profile} may not list users; pass --user NAME.`,
      );
    }
    throw err;
  }
  let found: { userName: string; keys: AccessKey[] } | undefined;
  const pool = adaptiveLimit({
    max: SEARCH_CONCURRENCY,
    throttled: didNotAct,
  });
  await Promise.all(
    users.map((user) =>
      pool.run(async () => {
        if (found) return;
        const keys = await tryList(auth, user.userName);
        if (keys?.some((k) => k.accessKeyId === key.accessKeyId)) found ??= { userName: user.userName, keys };
      }),
    ),
  );
  if (found) {
    return { userName: found.userName, account: await authAccount(auth), proof: "search", keys: found.keys };
  }
  throw new KeyctlError(
    `No IAM user in this account owns key ${key.accessKeyId} of profile ${profile}; it was deleted or belongs elsewhere. Restore a working key (keyctl --restore, or a backup) before rotating.`,
  );
}

async function tryList(auth: AuthSession, userName: string): Promise<AccessKey[] | undefined> {
  try {
    return await auth.iam.listAccessKeys(userName);
  } catch (err) {
    if (isAwsCallError(err, "NoSuchEntity") || isAwsCallError(err, "AccessDenied")) return undefined;
    throw err;
  }
}

async function listOrExplain(auth: AuthSession, userName: string): Promise<AccessKey[]> {
  try {
    return await auth.iam.listAccessKeys(userName);
  } catch (err) {
    if (isAwsCallError(err, "NoSuchEntity")) throw new KeyctlError(`There is no IAM user named ${userName}.`);
    throw err;
  }
}
