// Everything a rotation checks before it changes anything: who owns the key and that it works,
// that the previous profile is keyctl's to overwrite, whether the key is old enough, and what a
// key about to be deleted at the 2-key limit was last used for.

import { ExitCode, KeyctlError } from "../errors.js";
import { isKeyctlCopy, previousName } from "../profiles.js";
import type { CredentialsStore } from "../store/store.js";
import { shellQuote } from "../util/shell.js";
import { isIamUser, proveOwner, type TargetOwner } from "./identity.js";
import { failureKind, signerRefused } from "./messages.js";
import type { TargetProfile } from "./plan.js";
import { type AccessKey, type Clock, isAwsCallError, type KeyLastUsed } from "./ports.js";
import { callerIdentityCommand } from "./suggest.js";
import type { RotationDeps, RotationRequest } from "./types.js";
import { verifyNewKey } from "./verify.js";

/**
 * Who owns the target's key, and that the key works. A key that a previous run saved but never saw
 * accepted (exit 3) is the only thing standing between the user and the key in `-previous`: it is
 * proven first (STS signed by it, same user and account), waiting up to --verify-timeout, and until
 * then nothing is deleted or deactivated (exit 3).
 */
export async function proveCurrentOwner(
  request: RotationRequest,
  target: TargetProfile,
  deps: RotationDeps,
): Promise<TargetOwner & { readonly proven: boolean }> {
  const prove = () =>
    proveOwner({
      profile: request.profile,
      key: target.key,
      auth: deps.auth,
      sts: deps.sts,
      clock: deps.clock,
      ...(request.userFlag !== undefined ? { userFlag: request.userFlag } : {}),
    });
  const fallback = target.previousKeyId !== undefined && target.previousKeyId !== target.key.accessKeyId;
  let owner: TargetOwner;
  try {
    owner = await prove();
  } catch (err) {
    // Self-service with a key AWS does not accept yet: IAM refuses the same key.
    if (!fallback || !signerRefused(err)) throw err;
    const seen = await deps.seenWorking?.(target.key.accessKeyId);
    if (seen && isAwsCallError(err, "InvalidClientTokenId"))
      throw await keyGone(request.profile, target, seen, deps);
    await awaitCurrentKey(request, target, undefined, deps);
    owner = await prove();
  }
  if (owner.proof === "sts") return { ...owner, proven: true };
  if (!fallback) return { ...owner, proven: false };
  await awaitCurrentKey(request, target, owner, deps);
  return { ...owner, proven: true };
}

/**
 * The profile's key worked once (keyctl saw it, `seenAt`) and AWS no longer knows it: it was deleted
 * (or deactivated) in IAM, typically by keyctl on another machine making room at the 2-key limit.
 * Not a propagation delay to wait out: say so, and whether the key in `-previous` still works.
 */
async function keyGone(
  profile: string,
  target: TargetProfile,
  seenAt: string,
  deps: RotationDeps,
): Promise<KeyctlError> {
  const prev = target.previousProfile;
  const old = target.previousKey;
  let oldState = `the old key in [${prev}] cannot be checked`;
  let next = `get a new key for this IAM user (IAM console, or an administrator) and put it into [${profile}]`;
  if (old) {
    try {
      const id = await deps.sts.callerIdentity(old);
      oldState = `the old key ${old.accessKeyId} in [${prev}] still works (signs as ${id.arn})`;
      next = `copy aws_access_key_id and aws_secret_access_key from [${prev}] back into [${profile}] (or keyctl --restore), then run keyctl again`;
    } catch (err) {
      oldState = `the old key ${old.accessKeyId} in [${prev}] is refused too (${isAwsCallError(err) ? err.code : String(err)})`;
    }
  }
  return new KeyctlError(
    `The key in profile ${profile} (${target.key.accessKeyId}) worked when keyctl made it (${seenAt}) but IAM now refuses it (InvalidClientTokenId): it was deleted or deactivated in IAM, probably by another machine or tool sharing this IAM user. ${oldState[0]!.toUpperCase()}${oldState.slice(1)}; ${next}. keyctl changed nothing.`,
  );
}

async function awaitCurrentKey(
  request: RotationRequest,
  target: TargetProfile,
  owner: { userName: string; account: string } | undefined,
  deps: RotationDeps,
): Promise<void> {
  const p = request.profile;
  const prev = target.previousProfile;
  deps.events({
    type: "note",
    message: `The key in profile ${p} (${target.key.accessKeyId}) has not been seen working yet; waiting for AWS to accept it before anything else.`,
  });
  const verdict = await verifyNewKey(target.key, owner, deps, request.verifyTimeoutMs);
  if (verdict.ok) {
    deps.events({ type: "verified" });
    return;
  }
  throw new KeyctlError(
    `The key in profile ${p} (${target.key.accessKeyId}) is still not accepted by AWS (${verdict.lastError}): an earlier rotation saved it but never saw it work. keyctl changed nothing and keeps the key in [${prev}] (${target.previousKeyId}). Check later with: ${callerIdentityCommand(p)}; if it never works, copy aws_access_key_id and aws_secret_access_key from [${prev}] back into [${p}].`,
    ExitCode.partial,
  );
}

/**
 * keyctl overwrites the previous profile only when it is its own: absent, holding another key of the
 * same IAM user (IAM lists it), holding a key AWS no longer accepts (nothing that works is lost), or
 * keyctl's marked copy without a key. Anything else is somebody's profile: refuse, with a way out.
 */
export async function provePreviousIsOurs(
  target: TargetProfile,
  keys: readonly AccessKey[],
  owner: { userName: string; account: string },
  deps: RotationDeps,
): Promise<void> {
  if (!target.previousExists) return;
  const prev = target.previousProfile;
  const id = target.previousKeyId;
  if (id && keys.some((k) => k.accessKeyId === id)) return;
  const wayOut = `rename [${prev}], or keep the old key elsewhere: keyctl -t ${shellQuote(target.profile)} --previous-name ${shellQuote(`${target.profile}-old`)}`;
  const secret = (await deps.store.read()).doc.get(prev, "aws_secret_access_key");
  if (id && secret) {
    let arn: string;
    try {
      const who = await deps.sts.callerIdentity({ accessKeyId: id, secretAccessKey: secret });
      if (isIamUser(who, owner)) return;
      arn = who.arn;
    } catch (err) {
      if (failureKind(err) === "key-refused") return;
      throw err;
    }
    throw new KeyctlError(
      `[${prev}] holds a working key of ${arn}, not an old key of IAM user ${owner.userName}; keyctl will not overwrite it. Nothing was changed: ${wayOut}.`,
    );
  }
  if (prev === previousName(target.profile) && (await isOwnCopy(prev, deps))) return;
  throw new KeyctlError(
    `[${prev}] is a profile keyctl did not write (it holds no key keyctl kept); keyctl will not overwrite it. Nothing was changed: ${wayOut}.`,
  );
}

async function isOwnCopy(name: string, deps: RotationDeps): Promise<boolean> {
  return isKeyctlCopy((await deps.store.read()).doc, name);
}

export function skipReason(
  request: RotationRequest,
  keys: readonly AccessKey[],
  target: TargetProfile,
  clock: Clock,
): string | undefined {
  if (request.olderThanDays === undefined) return undefined;
  const current = keys.find((k) => k.accessKeyId === target.key.accessKeyId);
  if (!current) return undefined;
  const ageMs = clock.now() - current.createDate.getTime();
  if (ageMs > request.olderThanDays * 86_400_000) return undefined;
  return `key is ${Math.floor(ageMs / 86_400_000)} day(s) old, not older than ${request.olderThanDays}`;
}

const RECENT_USE_MS = 7 * 86_400_000;

/**
 * When, where and for what a key was last used, as the question to delete it shows it; `recent`
 * when it was used in the last 7 days or its use is unknown.
 */
export async function lastUseOf(
  accessKeyId: string,
  deps: RotationDeps,
): Promise<{ text: string; recent: boolean }> {
  let used: KeyLastUsed;
  try {
    used = await deps.auth.iam.getAccessKeyLastUsed(accessKeyId);
  } catch {
    return { text: "its last use is unknown (GetAccessKeyLastUsed failed)", recent: true };
  }
  if (!used.lastUsedDate) return { text: "AWS reports no use of it", recent: false };
  const ago = deps.clock.now() - used.lastUsedDate.getTime();
  const where = [used.serviceName, used.region].filter((x) => x && x !== "N/A").join(" in ");
  const when = `last used ${used.lastUsedDate.toISOString().slice(0, 16).replace("T", " ")} UTC${where ? ` (${where})` : ""}`;
  if (ago >= RECENT_USE_MS) return { text: when, recent: false };
  return {
    text: `CAUTION: it was ${when}, ${Math.floor(ago / 86_400_000)} day(s) ago: something may still sign with it`,
    recent: true,
  };
}

/** Another keyctl (or the user) replaced the profile's key since this run read it: plan again. */
export async function expectUnchanged(
  store: Pick<CredentialsStore, "read">,
  profile: string,
  target: TargetProfile,
): Promise<void> {
  if ((await store.read()).doc.get(profile, "aws_access_key_id") === target.key.accessKeyId) return;
  throw new KeyctlError(
    `Profile ${profile} changed while keyctl was preparing; nothing was changed, run again.`,
  );
}
