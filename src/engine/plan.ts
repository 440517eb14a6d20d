import { ExitCode, KeyctlError } from "../errors.js";
import type { CredentialsDocument } from "../ini/document.js";
import { credentialKind, keyHolders, previousMarker, previousName } from "../profiles.js";
import type { AccessKey, NewAccessKey, StaticCredentials } from "./ports.js";
import { callerIdentityCommand } from "./suggest.js";

/** What becomes of the old key once the new one is proven (--old-key). */
export type OldKeyPolicy = "keep" | "deactivate" | "delete";

/** The target profile as read from the file, checked to be something keyctl may rotate. */
export interface TargetProfile {
  readonly profile: string;
  readonly key: StaticCredentials;
  /** Where the old key goes: `<profile>-previous`, or the name --previous-name gives. */
  readonly previousProfile: string;
  /** Whether that section exists already (keyctl then overwrites it only if it is keyctl's). */
  readonly previousExists: boolean;
  /** Key id held in the previous profile, if any. */
  readonly previousKeyId?: string;
  /** The previous profile's whole key, when it holds one. */
  readonly previousKey?: StaticCredentials;
  /** Other profiles of the file (not `*-previous`) holding the same key id. */
  readonly sharedWith: readonly string[];
  /** Key id → the profiles holding it, for every profile of the file. */
  readonly holders: ReadonlyMap<string, readonly string[]>;
}

/**
 * botocore's configparser takes a line indented deeper than the setting above it as a continuation
 * of that value; the SDKs (and keyctl) read it as a setting of its own.
 */
function continuedKey(body: readonly string[]): string | undefined {
  let indent: number | undefined;
  for (const line of body) {
    const own = line.length - line.trimStart().length;
    if (indent !== undefined && own > indent) {
      const key = /^\s*(aws_access_key_id|aws_secret_access_key|aws_session_token)\s*=/i.exec(line)?.[1];
      if (key) return key.toLowerCase();
      continue;
    }
    indent = own;
  }
  return undefined;
}

export function readTarget(
  doc: CredentialsDocument,
  profile: string,
  path: string,
  previousProfile = previousName(profile),
): TargetProfile {
  const settings = doc.profile(profile);
  if (!settings) {
    // The AWS CLI reads section names verbatim, so `[default ]` is not profile default for it either.
    const spaced = doc.sections.find((s) => s.name !== profile && s.name.trim() === profile);
    // `[profile x]` is the config file's spelling; in the credentials file it names "profile x".
    const prefixed = doc.flavour === "credentials" && doc.has(`profile ${profile}`);
    throw new KeyctlError(
      spaced
        ? `Profile ${profile} is not in ${path}: the file has [${spaced.name}], whose stray spaces make it another name for the AWS CLI too; write it as [${profile}] and run again.`
        : prefixed
          ? `Profile ${profile} is not in ${path}: the file has [profile ${profile}], which the AWS CLI does not read as ${profile} in a credentials file; rename it [${profile}] and run again.`
          : `Profile ${profile} is not in ${path}; see keyctl --list.`,
    );
  }
  if (doc.sectionsNamed(profile).length > 1) {
    throw new KeyctlError(
      `Profile [${profile}] appears more than once in ${path} (the AWS CLI refuses such a file); merge the sections, then run again.`,
    );
  }
  const entries = doc.sectionsNamed(profile)[0]?.entries ?? [];
  const twice = ["aws_access_key_id", "aws_secret_access_key", "aws_session_token"].find(
    (k) => entries.filter((e) => e.key === k).length > 1,
  );
  if (twice) {
    throw new KeyctlError(
      `Profile ${profile} in ${path} sets ${twice} more than once (the AWS CLI refuses such a file); keep one, then run again.`,
    );
  }
  const continued = continuedKey(doc.bodyLines(profile));
  if (continued) {
    throw new KeyctlError(
      `Profile ${profile} in ${path}: the AWS CLI reads the indented line of ${continued} as part of the line above; remove its indentation, then run again.`,
    );
  }
  if (previousProfile === profile) {
    throw new KeyctlError(`--previous-name must name another profile than ${profile}.`, ExitCode.usage);
  }
  if (doc.sectionsNamed(previousProfile).length > 1) {
    throw new KeyctlError(
      `[${previousProfile}] appears more than once in ${path}; keep one, then run again.`,
    );
  }
  const kind = credentialKind(settings);
  if (kind === "temporary") {
    throw new KeyctlError(
      `Profile ${profile} holds temporary credentials (an ASIA key or a session token); only long-term IAM user keys can be rotated.`,
    );
  }
  if (kind === "none") {
    // botocore also takes ':' as the separator, so the AWS CLI uses such a key; the SDKs and keyctl do not.
    const colon = doc
      .bodyLines(profile)
      .some((l) => /^\s*aws_(access_key_id|secret_access_key)\s*:/i.test(l));
    throw new KeyctlError(
      colon
        ? `Profile ${profile} in ${path} writes aws_access_key_id and aws_secret_access_key with ':', which only the AWS CLI reads; write them as 'name = value', then run again.`
        : `Profile ${profile} in ${path} has no aws_access_key_id and aws_secret_access_key to rotate.`,
    );
  }
  const key = {
    accessKeyId: settings.get("aws_access_key_id")!,
    secretAccessKey: settings.get("aws_secret_access_key")!,
  };
  // The previous profile is not a holder: whether keyctl may overwrite it is proven before the write.
  const previousKeyId = doc.get(previousProfile, "aws_access_key_id");
  let holders = keyHolders(doc);
  // Mostly the previous profile is keyctl's copy, which holds no key for keyHolders anyway.
  const heldWithPrevious = previousKeyId === undefined ? undefined : holders.get(previousKeyId);
  if (heldWithPrevious?.includes(previousProfile)) {
    const rest = heldWithPrevious.filter((n) => n !== previousProfile);
    const copy = new Map(holders);
    if (rest.length > 0) copy.set(previousKeyId!, rest);
    else copy.delete(previousKeyId!);
    holders = copy;
  }
  const sharedWith = (holders.get(key.accessKeyId) ?? []).filter((p) => p !== profile);
  const previousSecret = doc.get(previousProfile, "aws_secret_access_key");
  return {
    profile,
    key,
    previousProfile,
    previousExists: doc.has(previousProfile),
    sharedWith,
    holders,
    ...(previousKeyId ? { previousKeyId } : {}),
    ...(previousKeyId && previousSecret
      ? { previousKey: { accessKeyId: previousKeyId, secretAccessKey: previousSecret } }
      : {}),
  };
}

/**
 * Who on this machine still uses key `id`, as a user reads it: profiles of the target's file, then
 * those of the other file (`elsewhere`). Safety rule 4: any of them means the key is in use.
 */
export function usersOfKey(
  target: TargetProfile,
  id: string,
  elsewhere: ReadonlyMap<string, readonly string[]> | undefined,
): string[] {
  return [...(target.holders.get(id) ?? []).map((p) => `profile ${p}`), ...(elsewhere?.get(id) ?? [])];
}

export interface KeyToDelete {
  readonly key: AccessKey;
  /** `previous`: the key kept in `<profile>-previous`, which may go without asking. */
  readonly reason: "previous" | "other";
}

export interface RotationPlan {
  readonly profile: string;
  readonly userName: string;
  readonly account: string;
  readonly oldKey: AccessKey;
  /** Where the old key is kept. */
  readonly previousProfile: string;
  readonly deleteFirst?: KeyToDelete;
  readonly oldKeyPolicy: OldKeyPolicy;
  /** Profiles sharing the old key, updated in the same write when the user agrees. */
  readonly sharedWith: readonly string[];
}

/**
 * Decides what the rotation will do, from the file and IAM as they are now. At the 2-key limit the
 * key in use and the auth key are never candidates; the `-previous` key goes without asking; any
 * other key needs confirmation; a key another profile of the file holds is refused.
 */
export function planRotation(input: {
  target: TargetProfile;
  userName: string;
  account: string;
  keys: readonly AccessKey[];
  authKeyId?: string;
  oldKeyPolicy: OldKeyPolicy;
  /** False when the target's key has not been seen working (STS): it cannot replace `-previous`. */
  currentKeyProven?: boolean;
  /** Key id → where else on this machine it is in use (the AWS config file's profiles). */
  inUseElsewhere?: ReadonlyMap<string, readonly string[]>;
}): RotationPlan {
  const { target, userName, account, keys } = input;
  const oldKey = keys.find((k) => k.accessKeyId === target.key.accessKeyId);
  if (!oldKey) {
    throw new KeyctlError(
      `IAM user ${userName} has no key ${target.key.accessKeyId} (profile ${target.profile}); nothing was changed.`,
    );
  }
  const base = {
    profile: target.profile,
    userName,
    account,
    oldKey,
    previousProfile: target.previousProfile,
    oldKeyPolicy: input.oldKeyPolicy,
    sharedWith: target.sharedWith,
  };
  if (keys.length < 2) return base;

  const inUse = new Set([target.key.accessKeyId, ...(input.authKeyId ? [input.authKeyId] : [])]);
  const candidates = keys.filter((k) => !inUse.has(k.accessKeyId));
  const candidate = candidates[0];
  if (!candidate) {
    throw new KeyctlError(
      `IAM user ${userName} already has 2 keys and both are in use (${[...inUse].join(" by the target, ")} by the auth profile); rotate with another auth profile or delete one key by hand. Nothing was changed.`,
    );
  }
  // Checked before the -previous shortcut: a profile that kept the old key (the user declined to
  // update it at the last rotation) still signs with it.
  const holders = target.holders.get(candidate.accessKeyId);
  if (holders && holders.length > 0) {
    throw new KeyctlError(
      `IAM user ${userName} already has 2 keys and the other one (${candidate.accessKeyId}) is used by profile ${holders.join(", ")} of this file; rotate that profile or retire its key first. Nothing was changed.`,
    );
  }
  const elsewhere = input.inUseElsewhere?.get(candidate.accessKeyId);
  if (elsewhere && elsewhere.length > 0) {
    throw new KeyctlError(
      `IAM user ${userName} already has 2 keys and the other one (${candidate.accessKeyId}) is used by ${elsewhere.join(", ")}; rotate or retire that key first. Nothing was changed.`,
    );
  }
  if (candidate.accessKeyId === target.previousKeyId) {
    // The last key AWS accepted must outlive a key nobody has seen working.
    if (input.currentKeyProven === false) {
      throw new KeyctlError(
        `Profile ${target.profile}'s key ${target.key.accessKeyId} has not been seen working, and making room would delete ${candidate.accessKeyId} kept in [${target.previousProfile}]; keyctl changed nothing. Check with: ${callerIdentityCommand(target.profile)}`,
        ExitCode.partial,
      );
    }
    return { ...base, deleteFirst: { key: candidate, reason: "previous" } };
  }
  return { ...base, deleteFirst: { key: candidate, reason: "other" } };
}

/**
 * The one edit of the credentials file: the old settings move to the previous profile (marked as
 * keyctl's, its comments kept), the profile (and the profiles sharing its key, when agreed) get the
 * new key. Applied to the file as it is at write time; refuses if someone else changed the profile's
 * key or the previous profile meanwhile.
 */
export function rotationEdit(
  profile: string,
  oldKeyId: string,
  newKey: Pick<NewAccessKey, "accessKeyId" | "secretAccessKey">,
  shared: readonly string[],
  /** The previous profile and the key it held when keyctl proved it its own (checked again here). */
  previous?: { readonly name: string; readonly keyId: string | undefined },
): (doc: CredentialsDocument) => string[] {
  const previousProfile = previous?.name ?? previousName(profile);
  return (doc) => {
    if (doc.get(profile, "aws_access_key_id") !== oldKeyId) {
      throw new KeyctlError(`Profile ${profile} changed while keyctl was rotating it.`);
    }
    if (previous && doc.get(previous.name, "aws_access_key_id") !== previous.keyId) {
      throw new KeyctlError(`Profile ${previous.name} changed while keyctl was rotating ${profile}.`);
    }
    doc.putSection(previousProfile, [previousMarker(profile), ...doc.bodyLines(profile)]);
    doc.set(profile, "aws_access_key_id", newKey.accessKeyId);
    doc.set(profile, "aws_secret_access_key", newKey.secretAccessKey);
    const updated: string[] = [];
    for (const other of shared) {
      if (doc.get(other, "aws_access_key_id") !== oldKeyId) continue;
      doc.set(other, "aws_access_key_id", newKey.accessKeyId);
      doc.set(other, "aws_secret_access_key", newKey.secretAccessKey);
      updated.push(other);
    }
    return updated;
  };
}
