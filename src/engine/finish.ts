import { ExitCode, KeyctlError } from "../errors.js";
import { previousName } from "../profiles.js";
import type { CredentialsStore } from "../store/store.js";
import { proveOwner } from "./identity.js";
import { describeAwsError } from "./messages.js";
import { readTarget, usersOfKey } from "./plan.js";
import type { AuthSession, StsPort } from "./ports.js";
import { deleteKeyCommand, finishCommand, listKeysCommand } from "./suggest.js";
import type { Confirm, RotationDeps, RotationEvent } from "./types.js";

export interface FinishResult {
  readonly profile: string;
  readonly status: "done" | "partial" | "planned";
  readonly exitCode: number;
  readonly userName: string;
  readonly retiredKeyId: string;
  /** What happened to the old key in IAM. */
  readonly oldKey: "deleted" | "already-gone" | "deactivated-only" | "not-changed";
  readonly usedAfterRotation?: string;
  readonly problem?: string;
  readonly nextSteps: readonly string[];
}

/**
 * Retires the key kept in `<profile>-previous` once the profile's current key is proven to work:
 * deactivate, then delete, then drop the section. Refuses while another profile of the file holds
 * that key, and asks before retiring a key that was used after the rotation.
 */
export async function finishRotation(
  request: { profile: string; yes: boolean; dryRun: boolean; userFlag?: string },
  deps: {
    store: CredentialsStore;
    auth: AuthSession;
    sts: StsPort;
    confirm: Confirm;
    events: (e: RotationEvent) => void;
    inUseElsewhere?: RotationDeps["inUseElsewhere"];
  },
): Promise<FinishResult> {
  const { profile } = request;
  const file = await deps.store.read();
  const target = readTarget(file.doc, profile, file.path);
  const prevName = previousName(profile);
  const oldId = file.doc.get(prevName, "aws_access_key_id");
  if (!oldId) {
    throw new KeyctlError(`There is no [${prevName}] in ${file.path}: no rotation of ${profile} to finish.`);
  }
  if (oldId === target.key.accessKeyId) {
    throw new KeyctlError(`[${prevName}] holds the same key as [${profile}]; nothing to retire.`);
  }
  const holders = usersOfKey(target, oldId, await deps.inUseElsewhere?.());
  if (holders.length > 0) {
    throw new KeyctlError(
      `Key ${oldId} is still used by ${holders.join(", ")}; rotate or update that profile first. Nothing was changed.`,
    );
  }

  const owner = await proveOwner({
    profile,
    key: target.key,
    auth: deps.auth,
    sts: deps.sts,
    ...(request.userFlag ? { userFlag: request.userFlag } : {}),
  });
  if (owner.proof !== "sts" && owner.proof !== "user-flag") {
    // proveOwner falls back to IAM only when the profile's own key is refused: it does not work.
    throw new KeyctlError(
      `Profile ${profile}'s current key does not work, so its old key is kept. Fix ${profile} first (${listKeysCommand(profile)}).`,
    );
  }
  if (owner.proof === "user-flag") {
    await deps.sts.callerIdentity(target.key).catch((err: unknown) => {
      throw new KeyctlError(
        `Profile ${profile}'s current key does not work (${describeAwsError(err)}), so its old key is kept.`,
      );
    });
  }
  const keys = owner.keys ?? (await deps.auth.iam.listAccessKeys(owner.userName));
  const old = keys.find((k) => k.accessKeyId === oldId);
  const current = keys.find((k) => k.accessKeyId === target.key.accessKeyId);
  const base = { profile, userName: owner.userName, retiredKeyId: oldId };
  if (!old) {
    // Not one of this user's keys. Gone, or another user's? Its own signature says which.
    const secret = file.doc.get(prevName, "aws_secret_access_key");
    const alive = secret
      ? await deps.sts.callerIdentity({ accessKeyId: oldId, secretAccessKey: secret }).catch(() => undefined)
      : undefined;
    if (alive) {
      throw new KeyctlError(
        `Key ${oldId} in [${prevName}] belongs to ${alive.arn}, not to IAM user ${owner.userName}; keyctl does not touch it. Nothing was changed.`,
      );
    }
  }

  let usedAfterRotation: string | undefined;
  if (old) {
    const used = await deps.auth.iam.getAccessKeyLastUsed(oldId);
    if (used.lastUsedDate && current && used.lastUsedDate.getTime() > current.createDate.getTime()) {
      usedAfterRotation = `${used.lastUsedDate.toISOString()}${used.serviceName ? ` (${used.serviceName}${used.region ? `, ${used.region}` : ""})` : ""}`;
    }
  }
  if (request.dryRun) {
    return {
      ...base,
      status: "planned",
      exitCode: ExitCode.ok,
      oldKey: "not-changed",
      nextSteps: [],
      ...(usedAfterRotation ? { usedAfterRotation } : {}),
    };
  }
  if (usedAfterRotation) {
    deps.events({
      type: "warn",
      message: `Old key ${oldId} was used on ${usedAfterRotation}, after the rotation: something still uses it.`,
    });
    const ok = await deps.confirm(`Retire ${oldId} anyway?`, "--yes");
    if (!ok) throw new KeyctlError("Cancelled; nothing was changed.", ExitCode.cancelled);
  }

  let outcome: FinishResult["oldKey"] = "already-gone";
  if (old) {
    try {
      if (old.status === "Active") await deps.auth.iam.updateAccessKey(owner.userName, oldId, "Inactive");
    } catch (err) {
      throw new KeyctlError(`${describeAwsError(err, owner.userName)} Nothing was changed.`);
    }
    try {
      await deps.auth.iam.deleteAccessKey(owner.userName, oldId);
      outcome = "deleted";
    } catch (err) {
      return {
        ...base,
        status: "partial",
        exitCode: ExitCode.partial,
        oldKey: "deactivated-only",
        problem: `Old key ${oldId} is deactivated but could not be deleted (${describeAwsError(err, owner.userName)}).`,
        nextSteps: [`Run ${finishCommand(profile)} again, or: ${deleteKeyCommand(owner.userName, oldId)}`],
      };
    }
  }
  try {
    await deps.store.update((doc) => {
      if (doc.get(prevName, "aws_access_key_id") === oldId) doc.removeSection(prevName);
    });
  } catch (err) {
    if (outcome !== "deleted") throw err;
    return {
      ...base,
      status: "partial",
      exitCode: ExitCode.partial,
      oldKey: outcome,
      problem: `Old key ${oldId} is deleted in IAM, but [${prevName}] could not be removed from the file (${err instanceof Error ? err.message : String(err)}).`,
      nextSteps: [
        `Remove the [${prevName}] section by hand, or run ${finishCommand(profile)} again once the file is writable.`,
      ],
    };
  }
  return {
    ...base,
    status: "done",
    exitCode: ExitCode.ok,
    oldKey: outcome,
    nextSteps: [],
    ...(usedAfterRotation ? { usedAfterRotation } : {}),
  };
}
