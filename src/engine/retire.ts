import { ExitCode, KeyctlError } from "../errors.js";
import type { CredentialsDocument } from "../ini/document.js";
import { previousName } from "../profiles.js";
import type { CredentialsStore } from "../store/store.js";
import { isIamUser, proveOwner } from "./identity.js";
import { describeAwsError } from "./messages.js";
import { readTarget, usersOfKey } from "./plan.js";
import type { AuthSession, Clock, StsPort } from "./ports.js";
import { finishCommand, listKeysCommand } from "./suggest.js";
import type { RotationDeps, RotationEvent } from "./types.js";

const DAY_MS = 86_400_000;

/**
 * A self-service rotation signs its own calls with the old key, the last ones moments after the new
 * key's CreateDate; IAM records those as uses. Uses this soon after the rotation are that run's own.
 */
const ROTATION_RUN_GRACE_MS = 10 * 60 * 1000;

export interface RetireResult {
  readonly profile: string;
  /**
   * nothing: no `-previous` key; waiting: the clock runs; in-use: the old key was used after the
   * rotation, the clock is stopped; deactivated / deleted: this run did that.
   */
  readonly status: "nothing" | "waiting" | "in-use" | "deactivated" | "deleted" | "planned" | "partial";
  readonly exitCode: number;
  readonly userName?: string;
  readonly account?: string;
  readonly oldKeyId?: string;
  readonly currentKeyId?: string;
  /** When the old key stopped being current (the current key's CreateDate). */
  readonly rotatedAt?: string;
  readonly deactivatedAt?: string;
  /** The next step and when it is due. */
  readonly next?: { readonly step: "deactivate" | "delete"; readonly due: string };
  readonly usedAfterRotation?: { readonly date: string; readonly service?: string; readonly region?: string };
  readonly message: string;
  readonly nextSteps: readonly string[];
}

const MARK = /^\s*#\s*keyctl:\s*deactivated\s+(\S+)\s*$/;

/** The deactivation time keyctl noted in the `-previous` section, if any. */
export function deactivationMark(doc: CredentialsDocument, section: string): Date | undefined {
  // Line indexes of the document are those of the text split at line breaks (after a BOM).
  const lines = doc
    .toString()
    .replace(/^\uFEFF/, "")
    .split(/\r?\n/);
  for (const s of doc.sectionsNamed(section)) {
    for (let i = s.headerLine + 1; i <= s.lastContentLine; i++) {
      const m = MARK.exec(lines[i] ?? "");
      const at = m ? Date.parse(m[1]!) : Number.NaN;
      if (!Number.isNaN(at)) return new Date(at);
    }
  }
  return undefined;
}

/** Rewrites the `-previous` section with the mark as its first line (the section is keyctl's own). */
function markDeactivated(doc: CredentialsDocument, section: string, oldId: string, at: Date): void {
  if (doc.get(section, "aws_access_key_id") !== oldId) {
    throw new KeyctlError(`[${section}] changed while keyctl was retiring ${oldId}; run again.`);
  }
  doc.putSection(section, [`# keyctl: deactivated ${at.toISOString()}`, ...doc.bodyLines(section)]);
}

const days = (ms: number) => Math.max(0, Math.ceil(ms / DAY_MS));

/**
 * Staged retirement of the key kept in `<profile>-previous`: once the profile's current key is
 * proven in this run and the old key has gone unused for `afterDays` days since the rotation,
 * deactivate it and note when in the section; `afterDays` after that, delete it and drop the
 * section. All state lives in IAM (the current key's CreateDate, the old key's last use and status)
 * and in that one comment line, so there is nothing else to lose.
 */
export async function retireWhenUnused(
  request: { profile: string; afterDays: number; dryRun: boolean; userFlag?: string },
  deps: {
    store: CredentialsStore;
    auth: AuthSession;
    sts: StsPort;
    clock: Clock;
    events: (e: RotationEvent) => void;
    inUseElsewhere?: RotationDeps["inUseElsewhere"];
  },
): Promise<RetireResult> {
  const { profile, afterDays } = request;
  const file = await deps.store.read();
  const target = readTarget(file.doc, profile, file.path);
  const prevName = previousName(profile);
  const oldId = file.doc.get(prevName, "aws_access_key_id");
  if (!oldId || oldId === target.key.accessKeyId) {
    return {
      profile,
      status: "nothing",
      exitCode: ExitCode.ok,
      message: "no old key to retire",
      nextSteps: [],
    };
  }
  const holders = usersOfKey(target, oldId, await deps.inUseElsewhere?.());
  if (holders.length > 0) {
    throw new KeyctlError(
      `Old key ${oldId} is still used by ${holders.join(", ")}; rotate or update that profile first. Nothing was changed.`,
    );
  }

  // The last proven key is never retired: the current key must sign as its IAM user in this run.
  const owner = await proveOwner({
    profile,
    key: target.key,
    auth: deps.auth,
    sts: deps.sts,
    ...(request.userFlag ? { userFlag: request.userFlag } : {}),
  });
  if (owner.proof !== "sts" && owner.proof !== "user-flag") {
    throw new KeyctlError(
      `Profile ${profile}'s current key does not work, so its old key ${oldId} is kept. Fix ${profile} first (${listKeysCommand(profile)}).`,
    );
  }
  if (owner.proof === "user-flag") {
    const id = await deps.sts.callerIdentity(target.key).catch((err: unknown) => {
      throw new KeyctlError(
        `Profile ${profile}'s current key does not work (${describeAwsError(err)}), so its old key ${oldId} is kept.`,
      );
    });
    if (!isIamUser(id, owner)) {
      throw new KeyctlError(
        `Profile ${profile}'s key signs as ${id.arn}, not as IAM user ${owner.userName}; its old key ${oldId} is kept.`,
      );
    }
  }
  const keys = owner.keys ?? (await deps.auth.iam.listAccessKeys(owner.userName));
  const old = keys.find((k) => k.accessKeyId === oldId);
  const current = keys.find((k) => k.accessKeyId === target.key.accessKeyId);
  const base = {
    profile,
    userName: owner.userName,
    account: owner.account,
    oldKeyId: oldId,
    currentKeyId: target.key.accessKeyId,
  };
  if (!current) {
    throw new KeyctlError(
      `Profile ${profile}'s key ${target.key.accessKeyId} is not among IAM user ${owner.userName}'s keys; its old key is kept.`,
    );
  }
  const now = new Date(deps.clock.now());
  const rotatedAt = current.createDate;

  if (!old) {
    // Gone from this user's keys. Another user's key would still sign; then it is not ours to drop.
    const secret = file.doc.get(prevName, "aws_secret_access_key");
    const alive = secret
      ? await deps.sts.callerIdentity({ accessKeyId: oldId, secretAccessKey: secret }).catch(() => undefined)
      : undefined;
    if (alive) {
      throw new KeyctlError(
        `Key ${oldId} in [${prevName}] belongs to ${alive.arn}, not to IAM user ${owner.userName}; keyctl does not touch it.`,
      );
    }
    if (request.dryRun) {
      return {
        ...base,
        status: "planned",
        exitCode: ExitCode.ok,
        message: `would drop [${prevName}]: ${oldId} is already gone from IAM`,
        nextSteps: [],
      };
    }
    await dropSection(deps.store, prevName, oldId);
    return {
      ...base,
      status: "deleted",
      exitCode: ExitCode.ok,
      message: `old key ${oldId} was already gone from IAM; [${prevName}] removed`,
      nextSteps: [],
    };
  }

  const common = { ...base, rotatedAt: rotatedAt.toISOString() };
  if (old.status === "Active") {
    const used = await deps.auth.iam.getAccessKeyLastUsed(oldId);
    if (used.lastUsedDate && used.lastUsedDate.getTime() > rotatedAt.getTime() + ROTATION_RUN_GRACE_MS) {
      const where = [used.serviceName, used.region].filter((x) => x && x !== "N/A").join(", ");
      const date = used.lastUsedDate.toISOString();
      return {
        ...common,
        status: "in-use",
        exitCode: ExitCode.failed,
        usedAfterRotation: {
          date,
          ...(used.serviceName ? { service: used.serviceName } : {}),
          ...(used.region ? { region: used.region } : {}),
        },
        message: `old key ${oldId} was used on ${date}${where ? ` (${where})` : ""}, after the rotation on ${rotatedAt.toISOString()}: something still uses it, so it stays active`,
        nextSteps: [
          `Find what still signs with ${oldId}${where ? ` (${where})` : ""} and give it the new key; once nothing uses the old one, retire it with: ${finishCommand(profile)}`,
        ],
      };
    }
    const due = new Date(rotatedAt.getTime() + afterDays * DAY_MS);
    if (now < due) {
      return {
        ...common,
        status: "waiting",
        exitCode: ExitCode.ok,
        next: { step: "deactivate", due: due.toISOString() },
        message: `old key ${oldId} unused since the rotation; deactivated in ${days(due.getTime() - now.getTime())} day(s)`,
        nextSteps: [],
      };
    }
    if (request.dryRun) {
      return {
        ...common,
        status: "planned",
        exitCode: ExitCode.ok,
        message: `would deactivate old key ${oldId} (unused for ${afterDays}+ days since the rotation)`,
        nextSteps: [],
      };
    }
    try {
      await deps.auth.iam.updateAccessKey(owner.userName, oldId, "Inactive");
    } catch (err) {
      throw new KeyctlError(
        `${describeAwsError(err, owner.userName)} Old key ${oldId} is still active; nothing was changed.`,
      );
    }
    try {
      await deps.store.update((doc) => markDeactivated(doc, prevName, oldId, now));
    } catch (err) {
      // The next run finds the key inactive without a mark and starts the delete clock then: later, never sooner.
      return {
        ...common,
        status: "partial",
        exitCode: ExitCode.partial,
        message: `old key ${oldId} is deactivated, but the date could not be noted in [${prevName}] (${err instanceof Error ? err.message : String(err)})`,
        nextSteps: [
          `Make ${file.path} writable; the next run notes the date and deletes the key ${afterDays} day(s) later.`,
        ],
      };
    }
    const deleteDue = new Date(now.getTime() + afterDays * DAY_MS);
    return {
      ...common,
      status: "deactivated",
      exitCode: ExitCode.ok,
      deactivatedAt: now.toISOString(),
      next: { step: "delete", due: deleteDue.toISOString() },
      message: `old key ${oldId} deactivated (unused for ${afterDays}+ days since the rotation); deleted in ${afterDays} day(s) unless it is reactivated`,
      nextSteps: [],
    };
  }

  const mark = deactivationMark(file.doc, prevName);
  if (!mark) {
    // Deactivated by hand, or the mark was lost: the delete clock starts now.
    if (request.dryRun) {
      return {
        ...common,
        status: "planned",
        exitCode: ExitCode.ok,
        message: `would note that ${oldId} is inactive and delete it in ${afterDays} day(s)`,
        nextSteps: [],
      };
    }
    await deps.store.update((doc) => markDeactivated(doc, prevName, oldId, now));
    const due = new Date(now.getTime() + afterDays * DAY_MS);
    return {
      ...common,
      status: "waiting",
      exitCode: ExitCode.ok,
      deactivatedAt: now.toISOString(),
      next: { step: "delete", due: due.toISOString() },
      message: `old key ${oldId} is inactive; deleted in ${afterDays} day(s)`,
      nextSteps: [],
    };
  }
  const due = new Date(mark.getTime() + afterDays * DAY_MS);
  const marked = { ...common, deactivatedAt: mark.toISOString() };
  if (now < due) {
    return {
      ...marked,
      status: "waiting",
      exitCode: ExitCode.ok,
      next: { step: "delete", due: due.toISOString() },
      message: `old key ${oldId} inactive since ${mark.toISOString()}; deleted in ${days(due.getTime() - now.getTime())} day(s)`,
      nextSteps: [],
    };
  }
  if (request.dryRun) {
    return {
      ...marked,
      status: "planned",
      exitCode: ExitCode.ok,
      message: `would delete old key ${oldId} (inactive since ${mark.toISOString()}) and drop [${prevName}]`,
      nextSteps: [],
    };
  }
  try {
    await deps.auth.iam.deleteAccessKey(owner.userName, oldId);
  } catch (err) {
    throw new KeyctlError(
      `${describeAwsError(err, owner.userName)} Old key ${oldId} stays inactive; nothing was changed.`,
    );
  }
  try {
    await dropSection(deps.store, prevName, oldId);
  } catch (err) {
    return {
      ...marked,
      status: "partial",
      exitCode: ExitCode.partial,
      message: `old key ${oldId} is deleted in IAM, but [${prevName}] could not be removed (${err instanceof Error ? err.message : String(err)})`,
      nextSteps: [`Remove [${prevName}] by hand, or run again once ${file.path} is writable.`],
    };
  }
  return {
    ...marked,
    status: "deleted",
    exitCode: ExitCode.ok,
    message: `old key ${oldId} deleted (inactive since ${mark.toISOString()}); [${prevName}] removed`,
    nextSteps: [],
  };
}

async function dropSection(store: CredentialsStore, section: string, oldId: string): Promise<void> {
  await store.update((doc) => {
    if (doc.get(section, "aws_access_key_id") === oldId) doc.removeSection(section);
  });
}
