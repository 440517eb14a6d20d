import { homedir, hostname, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { OldKeyPolicy } from "../cli/args.js";
import { ExitCode, KeyctlError } from "../errors.js";
import { keyHolders, previousName } from "../profiles.js";
import { writeNewPrivateFile } from "../store/atomic.js";
import type { Journal } from "../store/journal.js";
import { isAbandoned } from "../store/journal.js";
import { backupStamp, type CredentialsStore } from "../store/store.js";
import { notePartial, shielded } from "../util/interrupt.js";
import { proveOwner } from "./identity.js";
import { describeAwsError } from "./messages.js";
import { planRotation, type RotationPlan, readTarget, rotationEdit, type TargetProfile } from "./plan.js";
import {
  type AccessKey,
  type AuthSession,
  type Clock,
  isAwsCallError,
  type NewAccessKey,
  type StsPort,
} from "./ports.js";

export interface RotationRequest {
  readonly profile: string;
  readonly userFlag?: string;
  readonly oldKeyPolicy: OldKeyPolicy;
  readonly yes: boolean;
  readonly dryRun: boolean;
  /** Rotate only when the profile's key is older than this many days. */
  readonly olderThanDays?: number;
  readonly verifyTimeoutMs: number;
}

/** Asks the person at the terminal; throws a usage error naming `flag` when nobody can answer. */
export type Confirm = (question: string, flag: string) => Promise<boolean>;

export type RotationEvent =
  | { readonly type: "note"; readonly message: string }
  | { readonly type: "warn"; readonly message: string }
  | { readonly type: "verifying"; readonly elapsedMs: number; readonly timeoutMs: number }
  | { readonly type: "verified" };

export interface RotationDeps {
  readonly store: CredentialsStore;
  readonly journal: Journal;
  readonly auth: AuthSession;
  readonly sts: StsPort;
  readonly clock: Clock;
  readonly confirm: Confirm;
  readonly events: (event: RotationEvent) => void;
  /** Hands the proven new key on (--then) before the old key is retired; a failure keeps it. */
  readonly handOff?: (key: NewAccessKey, plan: RotationPlan) => Promise<HandOffFailure | undefined>;
}

export interface HandOffFailure {
  readonly problem: string;
  readonly nextSteps: readonly string[];
}

export type OldKeyOutcome = "kept" | "deactivated" | "deleted" | "not-changed";

export interface RotationResult {
  readonly profile: string;
  readonly status: "done" | "partial" | "planned" | "skipped";
  readonly exitCode: number;
  readonly userName: string;
  readonly account: string;
  readonly oldKeyId: string;
  readonly newKeyId?: string;
  readonly deletedBeforeCreate?: string;
  readonly oldKey: OldKeyOutcome;
  readonly verifiedAfterMs?: number;
  readonly backupPath?: string;
  readonly tightenedFrom?: number;
  readonly sharedUpdated: readonly string[];
  readonly recoveredKeys: readonly string[];
  readonly plan: RotationPlan;
  /** What is left for the user when status is partial. */
  readonly nextSteps: readonly string[];
  readonly problem?: string;
}

export async function rotate(request: RotationRequest, deps: RotationDeps): Promise<RotationResult> {
  const { store, auth } = deps;
  const file = await store.read();
  let target = readTarget(file.doc, request.profile, file.path);

  const recoveredKeys = await recoverInterruptedRun(request.profile, deps);
  if (recoveredKeys.length > 0) target = readTarget((await store.read()).doc, request.profile, file.path);

  const owner = await proveOwner({
    profile: request.profile,
    key: target.key,
    auth,
    sts: deps.sts,
    ...(request.userFlag !== undefined ? { userFlag: request.userFlag } : {}),
  });
  const keys =
    recoveredKeys.length === 0 && owner.keys ? owner.keys : await auth.iam.listAccessKeys(owner.userName);
  const plan = planRotation({
    target,
    userName: owner.userName,
    account: owner.account,
    keys,
    ...(auth.signingKeyId ? { authKeyId: auth.signingKeyId } : {}),
    oldKeyPolicy: request.oldKeyPolicy,
  });
  const base = {
    profile: request.profile,
    userName: plan.userName,
    account: plan.account,
    oldKeyId: plan.oldKey.accessKeyId,
    plan,
    recoveredKeys,
  };
  if (request.olderThanDays !== undefined) {
    const ageMs = deps.clock.now() - plan.oldKey.createDate.getTime();
    const ageDays = Math.floor(ageMs / 86_400_000);
    if (ageMs <= request.olderThanDays * 86_400_000) {
      return {
        ...base,
        status: "skipped",
        exitCode: ExitCode.ok,
        oldKey: "not-changed",
        sharedUpdated: [],
        nextSteps: [],
        problem: `key is ${ageDays} day(s) old, not older than ${request.olderThanDays}`,
      };
    }
  }
  if (request.dryRun) {
    return {
      ...base,
      status: "planned",
      exitCode: ExitCode.ok,
      oldKey: "not-changed",
      sharedUpdated: [],
      nextSteps: [],
    };
  }

  if (plan.deleteFirst?.reason === "other") {
    const k = plan.deleteFirst.key;
    const situation = `IAM user ${plan.userName} already has 2 keys; making room means deleting ${k.accessKeyId} (${k.status}, created ${k.createDate.toISOString().slice(0, 10)}), which no profile of this file uses`;
    const ok = await deps.confirm(`${situation}. Delete it?`, "--yes");
    if (!ok) throw new KeyctlError("Cancelled; nothing was changed.", ExitCode.cancelled);
  }
  let shared: readonly string[] = [];
  if (plan.sharedWith.length > 0) {
    const names = plan.sharedWith.join(", ");
    const update = await deps.confirm(
      `Profile(s) ${names} hold the same key as ${plan.profile}. Update them to the new key too?`,
      "--yes",
    );
    if (update) shared = plan.sharedWith;
    else
      deps.events({
        type: "warn",
        message: `Profile(s) ${names} keep the old key ${plan.oldKey.accessKeyId}; they stop working once it is retired.`,
      });
  }
  // Every key IAM has now, the one about to make room included: the journal and the check after a
  // failed create treat only keys outside this list as made by this run.
  const keysBefore = keys.map((k) => k.accessKeyId);
  const written = await createAndPersist(plan, target, shared, keysBefore, deps);
  try {
    return await afterWrite(request, deps, plan, target, base, written);
  } finally {
    notePartial(plan.profile, undefined);
  }
}

async function afterWrite(
  request: RotationRequest,
  deps: RotationDeps,
  plan: RotationPlan,
  target: TargetProfile,
  base: Pick<RotationResult, "profile" | "userName" | "account" | "oldKeyId" | "plan" | "recoveredKeys">,
  written: Persisted,
): Promise<RotationResult> {
  const newKey = written.newKey;
  const persisted = {
    ...base,
    newKeyId: newKey.accessKeyId,
    ...(plan.deleteFirst ? { deletedBeforeCreate: plan.deleteFirst.key.accessKeyId } : {}),
    ...(written.backupPath ? { backupPath: written.backupPath } : {}),
    ...(written.tightenedFrom !== undefined ? { tightenedFrom: written.tightenedFrom } : {}),
    sharedUpdated: written.sharedUpdated,
  };

  const verified = await verifyNewKey(newKey, plan, deps, request.verifyTimeoutMs);
  if (!verified.ok) {
    return {
      ...persisted,
      status: "partial",
      exitCode: ExitCode.partial,
      oldKey: "not-changed",
      problem: `The new key ${newKey.accessKeyId} is saved in profile ${plan.profile} but did not work within ${Math.round(request.verifyTimeoutMs / 1000)} s (${verified.lastError}).`,
      nextSteps: [
        `The old key ${plan.oldKey.accessKeyId} still works and is kept in profile ${previousName(plan.profile)}.`,
        `Check the new key in a minute: aws sts get-caller-identity --profile ${plan.profile}`,
        `If it never works, copy aws_access_key_id and aws_secret_access_key from [${previousName(plan.profile)}] back into [${plan.profile}].`,
      ],
    };
  }
  deps.events({ type: "verified" });

  const handOff = await deps.handOff?.(newKey, plan);
  if (handOff) {
    const kept = { oldKey: "kept", status: "partial", exitCode: ExitCode.partial } as const;
    return { ...persisted, ...kept, verifiedAfterMs: verified.ms, ...handOff };
  }
  const retire = await retireOldKey(plan, written.sharedUpdated, target, deps);
  return {
    ...persisted,
    verifiedAfterMs: verified.ms,
    oldKey: retire.outcome,
    status: retire.problem ? "partial" : "done",
    exitCode: retire.problem ? ExitCode.partial : ExitCode.ok,
    nextSteps: retire.nextSteps,
    ...(retire.problem ? { problem: retire.problem } : {}),
  };
}

interface Persisted {
  readonly newKey: NewAccessKey;
  readonly backupPath?: string;
  readonly tightenedFrom?: number;
  readonly sharedUpdated: readonly string[];
}

/**
 * Journal, CreateAccessKey and the durable write, under the file's lock. Nothing but the write
 * happens between IAM's answer and the secret reaching the disk; if the write fails the new key is
 * deleted again, and if even that fails its secret goes to a private recovery file.
 */
async function createAndPersist(
  plan: RotationPlan,
  target: TargetProfile,
  shared: readonly string[],
  keysBefore: readonly string[],
  deps: RotationDeps,
): Promise<Persisted> {
  const { store, journal, auth } = deps;
  // The file lock is held only for writes of the file and the journal, never across an AWS call:
  // rotations of many profiles then overlap their network round trips, and the write that follows
  // CreateAccessKey never waits behind another rotation's network call.
  const before = await store.read();
  if (before.doc.get(plan.profile, "aws_access_key_id") !== target.key.accessKeyId) {
    throw new KeyctlError(
      `Profile ${plan.profile} changed while keyctl was preparing; nothing was changed, run again.`,
    );
  }
  const backupPath = await store.withLock((locked) => locked.backup());
  return shielded(async () => {
    await store.withLock(() =>
      journal.put({
        profile: plan.profile,
        userName: plan.userName,
        account: plan.account,
        keysBefore,
        startedAt: new Date(deps.clock.now()).toISOString(),
        pid: process.pid,
        hostname: hostname(),
      }),
    );

    // Making room comes after every local step that can fail (lock, backup, journal), so a failure
    // there really leaves nothing changed; from here on the messages say that this key is gone.
    let unchanged = "Nothing was changed.";
    if (plan.deleteFirst) {
      const gone = plan.deleteFirst.key.accessKeyId;
      try {
        await auth.iam.deleteAccessKey(plan.userName, gone);
      } catch (err) {
        await forget(plan.profile, deps);
        throw new KeyctlError(`${describeAwsError(err, plan.userName)} Nothing was changed.`);
      }
      deps.events({ type: "note", message: `Deleted key ${gone} to stay within IAM's 2-key limit.` });
      const which =
        plan.deleteFirst.reason === "previous" ? ` (the old key kept in ${previousName(plan.profile)})` : "";
      unchanged = `Profile ${plan.profile} is unchanged; only key ${gone}${which} was deleted to make room.`;
    }

    let newKey: NewAccessKey;
    try {
      newKey = await createWithRetry(plan.userName, deps);
    } catch (err) {
      if (!(await reconcileFailedCreate(plan, keysBefore, err, deps))) {
        // IAM may hold a key whose secret nobody has; the journal entry stays for the next run.
        const again = `keyctl ${auth.profile !== plan.profile ? `-a ${auth.profile} ` : ""}-t ${plan.profile}`;
        throw new KeyctlError(
          `${describeAwsError(err, plan.userName)} IAM may have created a key anyway and keyctl could not check; profile ${plan.profile} is unchanged. Run ${again} again once AWS answers: it removes such a key first.`,
          ExitCode.partial,
        );
      }
      throw new KeyctlError(`${describeAwsError(err, plan.userName)} ${unchanged}`);
    }

    try {
      const commit = await store.update(rotationEdit(plan.profile, plan.oldKey.accessKeyId, newKey, shared));
      // From here a stop leaves the rotation partly done (exit 3): say what the user has.
      notePartial(
        plan.profile,
        `Profile ${plan.profile} has its new key ${newKey.accessKeyId}, not yet confirmed by AWS; the old key ${plan.oldKey.accessKeyId} still works and is kept in [${previousName(plan.profile)}]. Check with: keyctl -k -t ${plan.profile}`,
      );
      await forget(plan.profile, deps);
      return {
        newKey,
        sharedUpdated: commit.value,
        ...(backupPath ? { backupPath } : {}),
        ...(commit.tightenedFrom !== undefined ? { tightenedFrom: commit.tightenedFrom } : {}),
      };
    } catch (writeErr) {
      const why = writeErr instanceof Error ? writeErr.message : String(writeErr);
      try {
        await auth.iam.deleteAccessKey(plan.userName, newKey.accessKeyId);
        await forget(plan.profile, deps);
      } catch (deleteErr) {
        const saved = await saveRecoveryFile(store.path, plan, newKey);
        throw new KeyctlError(
          `${why} The new key ${newKey.accessKeyId} could not be deleted again (${describeAwsError(deleteErr, plan.userName)}); its secret is saved in ${saved} (mode 0600). Copy it into profile ${plan.profile} or delete the key in IAM, then remove that file.`,
          ExitCode.partial,
        );
      }
      throw new KeyctlError(
        `${why} The new key was deleted again; ${unchanged.charAt(0).toLowerCase()}${unchanged.slice(1)}`,
      );
    }
  });
}

/** Clears this run's journal entry; if that fails, the next run finds the key held and clears it. */
async function forget(profile: string, deps: RotationDeps): Promise<void> {
  await deps.store.withLock(() => deps.journal.remove(profile)).catch(() => {});
}

async function createWithRetry(userName: string, deps: RotationDeps): Promise<NewAccessKey> {
  // Only throttling is retried: it means IAM did not act. Any other failure may hide a created key.
  for (let attempt = 1; ; attempt++) {
    try {
      return await deps.auth.iam.createAccessKey(userName);
    } catch (err) {
      if (!isAwsCallError(err, "Throttling") || attempt >= 4) throw err;
      await deps.clock.sleep(250 * 2 ** attempt);
    }
  }
}

/**
 * After a failed CreateAccessKey, IAM may still have made the key: find it and delete it. False when
 * IAM could not be asked, so a key may be left (the journal keeps it for the next run).
 */
async function reconcileFailedCreate(
  plan: RotationPlan,
  keysBefore: readonly string[],
  err: unknown,
  deps: RotationDeps,
): Promise<boolean> {
  // The quota refusal is definite: IAM made nothing. Any other failure may hide a key IAM created,
  // but a key some section of the file holds is not it (another run's, already saved), and no other
  // keyctl rotates this user meanwhile (the journal refuses a second run per IAM user).
  if (isAwsCallError(err, "LimitExceeded")) {
    await forget(plan.profile, deps);
    return true;
  }
  try {
    const now = await deps.auth.iam.listAccessKeys(plan.userName);
    const file = await deps.store.read();
    const held = new Set(keyHolders(file.doc, { withPrevious: true }).keys());
    for (const k of now) {
      if (!keysBefore.includes(k.accessKeyId) && !held.has(k.accessKeyId)) {
        await deps.auth.iam.deleteAccessKey(plan.userName, k.accessKeyId);
        deps.events({
          type: "note",
          message: `Deleted key ${k.accessKeyId}, created although IAM's answer was lost.`,
        });
      }
    }
    await forget(plan.profile, deps);
    return true;
  } catch {
    return false;
  }
}

async function saveRecoveryFile(
  credentialsPath: string,
  plan: RotationPlan,
  key: NewAccessKey,
): Promise<string> {
  const name = `keyctl-recovery.${plan.profile.replace(/[^\w.-]/g, "_")}.${backupStamp(new Date())}.${process.pid}`;
  const body = `# keyctl could not save this new key of IAM user ${plan.userName} into ${credentialsPath}.\n[${plan.profile}]\naws_access_key_id = ${key.accessKeyId}\naws_secret_access_key = ${key.secretAccessKey}\n`;
  for (const dir of [dirname(credentialsPath), join(homedir(), ".aws"), homedir(), tmpdir()]) {
    const path = join(dir, name);
    try {
      await writeNewPrivateFile(path, Buffer.from(body, "utf8"));
      return path;
    } catch {
      // try the next place
    }
  }
  throw new KeyctlError(
    `The new key ${key.accessKeyId} could neither be saved nor deleted; delete it in IAM (aws iam delete-access-key --user-name ${plan.userName} --access-key-id ${key.accessKeyId}).`,
    ExitCode.partial,
  );
}

async function recoverInterruptedRun(profile: string, deps: RotationDeps): Promise<string[]> {
  const entry = await deps.journal.entry(profile);
  if (!entry) return [];
  if (!isAbandoned(entry)) {
    throw new KeyctlError(
      `Another keyctl (pid ${entry.pid}) is rotating profile ${profile} right now; wait for it to finish, then run again.`,
    );
  }
  // No lock across these IAM calls: other runs' writes must not wait behind them. A key is taken
  // for the dead run's only if it appeared after that run began and no section of the file holds it.
  const held = new Set(keyHolders((await deps.store.read()).doc, { withPrevious: true }).keys());
  const since = Date.parse(entry.startedAt) - CLOCK_SKEW_MS;
  const keys = await deps.auth.iam.listAccessKeys(entry.userName);
  const stranded = keys.filter(
    (k) =>
      !entry.keysBefore.includes(k.accessKeyId) &&
      !held.has(k.accessKeyId) &&
      k.createDate.getTime() >= since,
  );
  for (const k of stranded) {
    await deps.auth.iam.deleteAccessKey(entry.userName, k.accessKeyId);
    deps.events({
      type: "note",
      message: `Removed key ${k.accessKeyId} of IAM user ${entry.userName}: an interrupted keyctl run (${entry.startedAt}) created it but its secret never reached the file.`,
    });
  }
  await deps.store.withLock(async () => {
    const now = await deps.journal.entry(profile);
    if (now?.pid === entry.pid && now.startedAt === entry.startedAt) await deps.journal.remove(profile);
  });
  return stranded.map((k) => k.accessKeyId);
}

/** IAM's clock and ours may disagree a little about when the dead run began. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;

const RETRYABLE_VERIFY = new Set([
  "InvalidClientTokenId",
  "Network",
  "Throttling",
  "ServiceFailure",
  "InternalFailure",
]);

/**
 * Polls STS GetCallerIdentity signed by the new key until it answers as the same user and account.
 * IAM is eventually consistent: a fresh key is refused for a few seconds.
 */
async function verifyNewKey(
  key: NewAccessKey,
  plan: RotationPlan,
  deps: RotationDeps,
  timeoutMs: number,
): Promise<{ ok: true; ms: number } | { ok: false; lastError: string }> {
  const start = deps.clock.now();
  let delay = 500;
  let lastError = "no answer";
  for (;;) {
    try {
      const id = await deps.sts.callerIdentity(key);
      const userName = id.arn.split(":").slice(5).join(":").split("/").pop();
      if (id.account !== plan.account || userName !== plan.userName) {
        throw new KeyctlError(
          `The new key ${key.accessKeyId} signs as ${id.arn}, not as IAM user ${plan.userName}; the old key was left untouched. Check the key in IAM.`,
          ExitCode.partial,
        );
      }
      return { ok: true, ms: deps.clock.now() - start };
    } catch (err) {
      if (err instanceof KeyctlError) throw err;
      lastError = isAwsCallError(err) ? err.code : String(err);
      if (isAwsCallError(err) && !RETRYABLE_VERIFY.has(err.code) && err.code !== "AccessDenied") {
        lastError = `${err.code}: ${err.message}`;
      }
    }
    const elapsed = deps.clock.now() - start;
    // The last attempt is made at the bound itself, not one back-off step before it.
    const remaining = timeoutMs - elapsed;
    if (remaining <= 0) return { ok: false, lastError };
    deps.events({ type: "verifying", elapsedMs: elapsed, timeoutMs });
    await deps.clock.sleep(Math.min(delay, remaining));
    delay = Math.min(Math.round(delay * 1.5), 5_000);
  }
}

async function retireOldKey(
  plan: RotationPlan,
  sharedUpdated: readonly string[],
  target: TargetProfile,
  deps: RotationDeps,
): Promise<{ outcome: OldKeyOutcome; problem?: string; nextSteps: string[] }> {
  const old = plan.oldKey.accessKeyId;
  const finishLater = [
    `The old key ${old} is still active and kept in profile ${previousName(plan.profile)}. Retire it once nothing else uses it:`,
    `  keyctl --finish -t ${plan.profile}    (or: aws iam delete-access-key --user-name ${plan.userName} --access-key-id ${old})`,
  ];
  if (plan.oldKeyPolicy === "keep") return { outcome: "kept", nextSteps: finishLater };

  const stillHeld = target.sharedWith.filter((p) => !sharedUpdated.includes(p));
  if (stillHeld.length > 0) {
    return {
      outcome: "kept",
      problem: `The old key ${old} was not retired because profile(s) ${stillHeld.join(", ")} still use it.`,
      nextSteps: finishLater,
    };
  }
  const verb = plan.oldKeyPolicy === "delete" ? "delete" : "deactivate";
  try {
    if (plan.oldKeyPolicy === "delete") await deps.auth.iam.deleteAccessKey(plan.userName, old);
    else await deps.auth.iam.updateAccessKey(plan.userName, old, "Inactive");
    return { outcome: plan.oldKeyPolicy === "delete" ? "deleted" : "deactivated", nextSteps: [] };
  } catch (err) {
    if (await retiredByLostAttempt(err, target, deps)) {
      return { outcome: plan.oldKeyPolicy === "delete" ? "deleted" : "deactivated", nextSteps: [] };
    }
    const cmd =
      plan.oldKeyPolicy === "delete"
        ? `aws iam delete-access-key --user-name ${plan.userName} --access-key-id ${old}`
        : `aws iam update-access-key --user-name ${plan.userName} --access-key-id ${old} --status Inactive`;
    return {
      outcome: "kept",
      problem: `The new key works and is saved, but the old key ${old} could not be ${verb}d (${describeAwsError(err, plan.userName)}).`,
      nextSteps: [`Finish by hand: ${cmd}`, `or run: keyctl --finish -t ${plan.profile}`],
    };
  }
}

/**
 * Self-service signs the retirement with the old key itself. When IAM acted but its answer was lost,
 * the SDK's retry is signed by a key that is now inactive or gone and is refused: ask STS whether
 * the old key still signs before reporting a failure that did not happen.
 */
async function retiredByLostAttempt(
  err: unknown,
  target: TargetProfile,
  deps: RotationDeps,
): Promise<boolean> {
  if (!isAwsCallError(err, "InvalidClientTokenId") || deps.auth.signingKeyId !== target.key.accessKeyId) {
    return false;
  }
  try {
    await deps.sts.callerIdentity(target.key);
    return false;
  } catch (check) {
    return isAwsCallError(check, "InvalidClientTokenId");
  }
}

export type { AccessKey };
