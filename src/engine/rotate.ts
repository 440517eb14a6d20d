import { hostname } from "node:os";
import { ExitCode, KeyctlError } from "../errors.js";
import { isKeyctlCopy, keyHolders, previousName } from "../profiles.js";
import type { Journal, JournalEntry } from "../store/journal.js";
import { isAbandoned } from "../store/journal.js";
import type { CredentialsStore } from "../store/store.js";
import { interrupted, notePartial, shielded } from "../util/interrupt.js";
import { retry } from "../util/retry.js";
import { shellQuote } from "../util/shell.js";
import { parseArn, proveOwner, type TargetOwner } from "./identity.js";
import { describeAwsError, didNotAct, failureKind, shortFailure, signerRefused } from "./messages.js";
import {
  type OldKeyPolicy,
  planRotation,
  type RotationPlan,
  readTarget,
  rotationEdit,
  type TargetProfile,
} from "./plan.js";
import {
  type AccessKey,
  type AuthSession,
  AWS_CALL_TIMEOUT_MS,
  AWS_CONNECT_TIMEOUT_MS,
  type Clock,
  isAwsCallError,
  type KeyLastUsed,
  type NewAccessKey,
  type StaticCredentials,
  type StsPort,
} from "./ports.js";

export interface RotationRequest {
  readonly profile: string;
  readonly userFlag?: string;
  readonly oldKeyPolicy: OldKeyPolicy;
  readonly yes: boolean;
  readonly dryRun: boolean;
  /** Where the old key is kept (default `<profile>-previous`). */
  readonly previousName?: string;
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
  /** Key id → where else on this machine it is used (the AWS config file's profiles). */
  readonly inUseElsewhere?: () => Promise<ReadonlyMap<string, readonly string[]>>;
  /** When keyctl saw this key of the profile work (its rotation finished), if it ever did. */
  readonly seenWorking?: (accessKeyId: string) => Promise<string | undefined>;
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
  const target = readTarget(file.doc, request.profile, file.path, request.previousName);

  // A live run on this profile keeps its entry until it ends; an untrusted journal stops here,
  // before any call, so nothing it says can lead to a deletion.
  const pending = await deps.journal.entry(request.profile);
  if (pending && !isAbandoned(pending, deps.clock.now())) {
    throw new KeyctlError(
      `Another keyctl (pid ${pending.pid}) is rotating profile ${request.profile} right now; wait for it to finish, then run again.`,
    );
  }

  const owner = await proveCurrentOwner(request, target, deps);
  let keys = owner.keys ?? (await auth.iam.listAccessKeys(owner.userName));
  const skip = skipReason(request, keys, target, deps.clock);

  const recoveredKeys: string[] = [];
  if (pending) {
    const cleanUp = await recoverInterruptedRun(pending, owner, keys, {
      ...deps,
      dryRun: request.dryRun || skip !== undefined,
    });
    recoveredKeys.push(...cleanUp.removed);
    if (cleanUp.removed.length > 0) keys = keys.filter((k) => !cleanUp.removed.includes(k.accessKeyId));
    if (cleanUp.wouldRemove.length > 0)
      keys = keys.filter((k) => !cleanUp.wouldRemove.includes(k.accessKeyId));
  }

  const plan = planRotation({
    target,
    userName: owner.userName,
    account: owner.account,
    keys,
    ...(auth.signingKeyId ? { authKeyId: auth.signingKeyId } : {}),
    oldKeyPolicy: request.oldKeyPolicy,
    currentKeyProven: owner.proven,
    inUseElsewhere: (await deps.inUseElsewhere?.()) ?? new Map(),
  });
  const base = {
    profile: request.profile,
    userName: plan.userName,
    account: plan.account,
    oldKeyId: plan.oldKey.accessKeyId,
    plan,
    recoveredKeys,
  };
  if (skip === undefined) await provePreviousIsOurs(target, keys, owner, deps);
  if (skip !== undefined) {
    return {
      ...base,
      status: "skipped",
      exitCode: ExitCode.ok,
      oldKey: "not-changed",
      sharedUpdated: [],
      nextSteps: [],
      problem: skip,
    };
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

  // A run that finished meanwhile may hold the key a question below would call unused.
  await expectUnchanged(store, request.profile, target);
  let madeRoom = "";
  if (plan.deleteFirst?.reason === "other") {
    const k = plan.deleteFirst.key;
    const lastUse = await lastUseOf(k.accessKeyId, deps);
    // Said again once it is gone: with --yes nobody saw the question, and another machine may need to know.
    madeRoom = ` (no profile on this machine held it; ${lastUse}); a machine or tool that used it needs a new key`;
    const situation = `IAM user ${plan.userName} already has 2 keys; making room means deleting ${k.accessKeyId} (${k.status}, created ${k.createDate.toISOString().slice(0, 10)}), which no profile on this machine uses; ${lastUse}`;
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
  const written = await createAndPersist(plan, target, shared, keysBefore, deps, madeRoom);
  try {
    return await afterWrite(request, deps, plan, target, base, written);
  } finally {
    notePartial(plan.profile, undefined);
    await forget(plan.profile, deps);
  }
}

/**
 * keyctl overwrites the previous profile only when it is its own: absent, holding another key of the
 * same IAM user (IAM lists it), holding a key AWS no longer accepts (nothing that works is lost), or
 * keyctl's marked copy without a key. Anything else is somebody's profile: refuse, with a way out.
 */
async function provePreviousIsOurs(
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
      const parsed = parseArn(who.arn);
      if (parsed.kind === "user" && parsed.userName === owner.userName && who.account === owner.account)
        return;
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

const RECENT_USE_MS = 7 * 86_400_000;

/** When, where and for what a key was last used, as the confirmation to delete it shows it. */
async function lastUseOf(accessKeyId: string, deps: RotationDeps): Promise<string> {
  let used: KeyLastUsed;
  try {
    used = await deps.auth.iam.getAccessKeyLastUsed(accessKeyId);
  } catch {
    return "its last use is unknown (GetAccessKeyLastUsed failed)";
  }
  if (!used.lastUsedDate) return "AWS reports no use of it";
  const ago = deps.clock.now() - used.lastUsedDate.getTime();
  const where = [used.serviceName, used.region].filter((x) => x && x !== "N/A").join(" in ");
  const when = `last used ${used.lastUsedDate.toISOString().slice(0, 16).replace("T", " ")} UTC${where ? ` (${where})` : ""}`;
  return ago < RECENT_USE_MS
    ? `CAUTION: it was ${when}, ${Math.floor(ago / 86_400_000)} day(s) ago: something may still sign with it`
    : when;
}

function skipReason(
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

/**
 * Who owns the target's key, and that the key works. A key that a previous run saved but never saw
 * accepted (exit 3) is the only thing standing between the user and the key in `-previous`: it is
 * proven first (STS signed by it, same user and account), waiting up to --verify-timeout, and until
 * then nothing is deleted or deactivated (exit 3).
 */
async function proveCurrentOwner(
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
  let owner: TargetOwner & { targetIdentity?: unknown };
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
    `The key in profile ${p} (${target.key.accessKeyId}) is still not accepted by AWS (${verdict.lastError}): an earlier rotation saved it but never saw it work. keyctl changed nothing and keeps the key in [${prev}] (${target.previousKeyId}). Check later with: aws sts get-caller-identity --profile ${shellQuote(p)}; if it never works, copy aws_access_key_id and aws_secret_access_key from [${prev}] back into [${p}].`,
    ExitCode.partial,
  );
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
      problem: `The new key ${newKey.accessKeyId} is saved in profile ${plan.profile} but ${interrupted.aborted ? "was not confirmed before keyctl stopped" : `did not work within ${Math.round(request.verifyTimeoutMs / 1000)} s`} (${verified.lastError}).`,
      nextSteps: [
        `The old key ${plan.oldKey.accessKeyId} still works and is kept in profile ${plan.previousProfile}.`,
        `Check the new key in a minute: aws sts get-caller-identity --profile ${shellQuote(plan.profile)}`,
        `If it never works, copy aws_access_key_id and aws_secret_access_key from [${plan.previousProfile}] back into [${plan.profile}].`,
      ],
    };
  }
  deps.events({ type: "verified" });
  const check = `Check with: keyctl -k -t ${shellQuote(plan.profile)}`;
  const works = `Profile ${plan.profile} has its new key ${newKey.accessKeyId}, and AWS accepted it; the old key ${plan.oldKey.accessKeyId} is kept in [${plan.previousProfile}]`;
  notePartial(plan.profile, `${works}. ${check}`);

  const handOff = await deps.handOff?.(newKey, plan);
  if (handOff) {
    const kept = { oldKey: "kept", status: "partial", exitCode: ExitCode.partial } as const;
    return { ...persisted, ...kept, verifiedAfterMs: verified.ms, ...handOff };
  }
  // A stop during the retire step: IAM may have acted on the old key before its answer came back.
  if (request.oldKeyPolicy !== "keep")
    notePartial(plan.profile, `${works} and may already be ${request.oldKeyPolicy}d. ${check}`);
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
  madeRoom = "",
): Promise<Persisted> {
  const { store, journal, auth } = deps;
  // The file lock is held only for writes of the file and the journal, never across an AWS call:
  // rotations of many profiles then overlap their network round trips, and the write that follows
  // CreateAccessKey never waits behind another rotation's network call.
  await expectUnchanged(store, plan.profile, target);
  return shielded(async () => {
    const claim: JournalEntry = {
      profile: plan.profile,
      userName: plan.userName,
      account: plan.account,
      keysBefore,
      startedAt: new Date(deps.clock.now()).toISOString(),
      pid: process.pid,
      hostname: hostname(),
    };
    let entry: JournalEntry = { ...claim, createSentAt: claim.startedAt };
    // The backup and the claim share one hold of the lock (each hold costs every waiting rotation);
    // the profile is checked again in it: another run's write may have landed since.
    const backupPath = await store.withLock(async (locked) => {
      await expectUnchanged(locked, plan.profile, target);
      const made = await locked.backup();
      await journal.put(entry);
      return made;
    });

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
      deps.events({
        type: "note",
        message: `Deleted key ${gone} to stay within IAM's 2-key limit${madeRoom}.`,
      });
      const which =
        plan.deleteFirst.reason === "previous" ? ` (the old key kept in ${plan.previousProfile})` : "";
      unchanged = `Profile ${plan.profile} is unchanged; only key ${gone}${which} was deleted to make room.`;
      // The crashed-call window starts when CreateAccessKey is sent, not when the run began.
      entry = { ...claim, createSentAt: new Date(deps.clock.now()).toISOString() };
      try {
        await store.withLock(() => journal.put(entry));
      } catch (err) {
        await forget(plan.profile, deps);
        throw new KeyctlError(`${describeAwsError(err)} ${unchanged}`);
      }
    }

    let newKey: NewAccessKey;
    const sentAt = Date.parse(entry.createSentAt ?? claim.startedAt);
    try {
      newKey = await createWithRetry(plan.userName, deps);
    } catch (err) {
      if (!(await reconcileFailedCreate(plan, keysBefore, sentAt, err, deps))) {
        // IAM may hold a key whose secret nobody has; the journal entry stays for the next run.
        const again = `keyctl ${auth.profile !== plan.profile ? `-a ${shellQuote(auth.profile)} ` : ""}-t ${shellQuote(plan.profile)}`;
        throw new KeyctlError(
          `${describeAwsError(err, plan.userName)} IAM may have created a key anyway and keyctl could not check; profile ${plan.profile} is unchanged. Run ${again} again once AWS answers: it removes such a key first.`,
          ExitCode.partial,
        );
      }
      throw new KeyctlError(`${describeAwsError(err, plan.userName)} ${unchanged}`);
    }

    try {
      // The entry stays until the run ends (it keeps other runs off this profile), but nothing is
      // stranded any more: noted in the commit's own hold of the lock, best effort (if it fails, the
      // next run finds the key held by the file).
      const commit = await store.update(
        rotationEdit(plan.profile, plan.oldKey.accessKeyId, newKey, shared, {
          name: plan.previousProfile,
          keyId: target.previousKeyId,
        }),
        () => journal.put({ ...entry, savedKeyId: newKey.accessKeyId }),
      );
      // From here a stop leaves the rotation partly done (exit 3): say what the user has.
      notePartial(
        plan.profile,
        `Profile ${plan.profile} has its new key ${newKey.accessKeyId}, not yet confirmed by AWS; the old key ${plan.oldKey.accessKeyId} still works and is kept in [${plan.previousProfile}]. Check with: keyctl -k -t ${shellQuote(plan.profile)}`,
      );
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
        const saved = await saveRecoveryFile(store, plan, newKey);
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

/** Another keyctl (or the user) replaced the profile's key since this run read it: plan again. */
async function expectUnchanged(
  store: Pick<CredentialsStore, "read">,
  profile: string,
  target: TargetProfile,
): Promise<void> {
  if ((await store.read()).doc.get(profile, "aws_access_key_id") === target.key.accessKeyId) return;
  throw new KeyctlError(
    `Profile ${profile} changed while keyctl was preparing; nothing was changed, run again.`,
  );
}

/** Clears this run's journal entry; if that fails, the next run finds the key held and clears it. */
async function forget(profile: string, deps: RotationDeps): Promise<void> {
  await deps.store.withLock(() => deps.journal.remove(profile)).catch(() => {});
}

const CREATE_ATTEMPTS = 4;
const createBackoffMs = (attempt: number) => 250 * 2 ** attempt;

function createWithRetry(userName: string, deps: RotationDeps): Promise<NewAccessKey> {
  return retry(() => deps.auth.iam.createAccessKey(userName), {
    clock: deps.clock,
    retryable: didNotAct,
    attempts: CREATE_ATTEMPTS,
    firstDelayMs: createBackoffMs(1),
    nextDelayMs: (ms) => ms * 2,
  });
}

/**
 * After a failed CreateAccessKey, IAM may still have made the key: find it and delete it, if it can
 * be proven to be this call's (see strandedKey). False when IAM could not be asked, so a key may be
 * left (the journal keeps it for the next run).
 */
async function reconcileFailedCreate(
  plan: RotationPlan,
  keysBefore: readonly string[],
  sentAt: number,
  err: unknown,
  deps: RotationDeps,
): Promise<boolean> {
  // The quota refusal is definite: IAM made nothing.
  if (failureKind(err) === "limit") {
    await forget(plan.profile, deps);
    return true;
  }
  try {
    const now = await deps.auth.iam.listAccessKeys(plan.userName);
    const unheld = await keysNoProfileHolds(now, keysBefore, deps);
    const window = { from: sentAt - CLOCK_SKEW_MS, to: deps.clock.now() + CLOCK_SKEW_MS };
    const stranded = await strandedKey(unheld, window, deps);
    if (stranded) {
      await deps.auth.iam.deleteAccessKey(plan.userName, stranded.accessKeyId);
      deps.events({
        type: "note",
        message: `Deleted key ${stranded.accessKeyId}, created although IAM's answer was lost.`,
      });
    }
    reportForeignKeys(
      plan.userName,
      unheld.filter((k) => k !== stranded),
      deps,
    );
    await forget(plan.profile, deps);
    return true;
  } catch {
    return false;
  }
}

/** Keys of the user that are neither in `keysBefore` nor held by any profile on this machine. */
async function keysNoProfileHolds(
  keys: readonly AccessKey[],
  keysBefore: readonly string[],
  deps: RotationDeps,
): Promise<AccessKey[]> {
  const held = new Set(keyHolders((await deps.store.read()).doc, { withPrevious: true }).keys());
  for (const id of (await deps.inUseElsewhere?.())?.keys() ?? []) held.add(id);
  return keys.filter((k) => !keysBefore.includes(k.accessKeyId) && !held.has(k.accessKeyId));
}

/**
 * The key a crashed or unanswered CreateAccessKey made, when that can be proven: the only key that
 * no profile holds, not there before the call, created inside the call's bounded window, and never
 * used (its secret reached nobody; a key AWS has seen signing was in someone's hands). Anything less
 * certain is left alone: a stray key costs a slot, a wrongly deleted key locks someone out.
 */
async function strandedKey(
  unheld: readonly AccessKey[],
  window: { from: number; to: number },
  deps: RotationDeps,
): Promise<AccessKey | undefined> {
  const inWindow = unheld.filter((k) => {
    const t = k.createDate.getTime();
    return t >= window.from && t <= window.to;
  });
  // One call makes at most one key: two candidates mean someone else made one of them.
  if (inWindow.length !== 1) return undefined;
  const key = inWindow[0]!;
  try {
    const used = await deps.auth.iam.getAccessKeyLastUsed(key.accessKeyId);
    return used.lastUsedDate === undefined ? key : undefined;
  } catch {
    return undefined;
  }
}

/** Keys no profile holds that keyctl cannot prove are its own: the user decides, keyctl never deletes. */
function reportForeignKeys(userName: string, keys: readonly AccessKey[], deps: RotationDeps): void {
  for (const k of keys) {
    deps.events({
      type: "warn",
      message: `Key ${k.accessKeyId} of IAM user ${userName} (created ${k.createDate.toISOString()}) is held by no profile on this machine and keyctl cannot prove it made it (another machine or tool may use it); it was left alone. If nothing uses it: aws iam delete-access-key --user-name ${userName} --access-key-id ${k.accessKeyId}`,
    });
  }
}

async function saveRecoveryFile(
  store: CredentialsStore,
  plan: RotationPlan,
  key: NewAccessKey,
): Promise<string> {
  const body = `# keyctl could not save this new key of IAM user ${plan.userName} into ${store.path}.\n[${plan.profile}]\naws_access_key_id = ${key.accessKeyId}\naws_secret_access_key = ${key.secretAccessKey}\n`;
  const saved = await store.saveRecovery(plan.profile, body);
  if (saved) return saved;
  throw new KeyctlError(
    `The new key ${key.accessKeyId} could neither be saved nor deleted; delete it in IAM (aws iam delete-access-key --user-name ${plan.userName} --access-key-id ${key.accessKeyId}).`,
    ExitCode.partial,
  );
}

/**
 * A run that ends between CreateAccessKey and the write of its secret: at most one key in IAM
 * without a holder. CreateAccessKey is bounded (every attempt times out), so that key was created
 * inside a known window after the journaled send time.
 */
const CREATE_CALL_BOUND_MS =
  CREATE_ATTEMPTS * (AWS_CONNECT_TIMEOUT_MS + AWS_CALL_TIMEOUT_MS) +
  Array.from({ length: CREATE_ATTEMPTS - 1 }, (_, i) => createBackoffMs(i + 1)).reduce((a, b) => a + b, 0);

/** IAM's clock and ours may disagree a little (and IAM's CreateDate has whole seconds). */
const CLOCK_SKEW_MS = 60 * 1000;

interface CleanUp {
  readonly removed: string[];
  /** Under --dry-run or a skip: what the clean-up would remove. */
  readonly wouldRemove: string[];
}

/**
 * The clean-up after a run that died: only once the target's owner is proven, only for the user and
 * account the journal names, and only the key strandedKey can prove the dead call made. Under
 * --dry-run (and for a skipped profile) it only says what it would do.
 */
async function recoverInterruptedRun(
  entry: JournalEntry,
  owner: { userName: string; account: string },
  keys: readonly AccessKey[],
  deps: RotationDeps & { dryRun: boolean },
): Promise<CleanUp> {
  const none: CleanUp = { removed: [], wouldRemove: [] };
  const drop = async () => {
    if (deps.dryRun) return;
    await deps.store.withLock(async () => {
      const now = await deps.journal.entry(entry.profile);
      if (now?.pid === entry.pid && now.startedAt === entry.startedAt)
        await deps.journal.remove(entry.profile);
    });
  };
  if (entry.userName !== owner.userName || entry.account !== owner.account) {
    deps.events({
      type: "warn",
      message: `An interrupted keyctl run (${entry.startedAt}) of profile ${entry.profile} was rotating IAM user ${entry.userName} (account ${entry.account}), but the profile's key belongs to ${owner.userName} (account ${owner.account}); keyctl leaves ${entry.userName}'s keys alone. Check them: aws iam list-access-keys --user-name ${entry.userName}`,
    });
    await drop();
    return none;
  }
  // Its secret reached the file: nothing is stranded.
  if (entry.savedKeyId !== undefined) {
    await drop();
    return none;
  }
  // No lock across these IAM calls: other runs' writes must not wait behind them.
  const unheld = await keysNoProfileHolds(keys, entry.keysBefore, deps);
  const sent = entry.createSentAt === undefined ? undefined : Date.parse(entry.createSentAt);
  const stranded =
    sent === undefined
      ? undefined
      : await strandedKey(
          unheld,
          { from: sent - CLOCK_SKEW_MS, to: sent + CREATE_CALL_BOUND_MS + CLOCK_SKEW_MS },
          deps,
        );
  reportForeignKeys(
    entry.userName,
    unheld.filter((k) => k !== stranded),
    deps,
  );
  if (!stranded) {
    await drop();
    return none;
  }
  const what = `key ${stranded.accessKeyId} of IAM user ${entry.userName}: an interrupted keyctl run (${entry.startedAt}) created it but its secret never reached the file`;
  if (deps.dryRun) {
    deps.events({ type: "note", message: `Would remove ${what}.` });
    return { removed: [], wouldRemove: [stranded.accessKeyId] };
  }
  await deps.auth.iam.deleteAccessKey(entry.userName, stranded.accessKeyId);
  deps.events({ type: "note", message: `Removed ${what}.` });
  await drop();
  return { removed: [stranded.accessKeyId], wouldRemove: [] };
}

/**
 * Polls STS GetCallerIdentity signed by the new key until it answers as the same user and account.
 * IAM is eventually consistent: a fresh key is refused for a few seconds.
 */
async function verifyNewKey(
  key: StaticCredentials,
  /** Undefined: any IAM user will do (the owner is proven afterwards). */
  plan: { userName: string; account: string } | undefined,
  deps: RotationDeps,
  timeoutMs: number,
): Promise<{ ok: true; ms: number } | { ok: false; lastError: string }> {
  const start = deps.clock.now();
  try {
    await retry(
      async () => {
        const id = await deps.sts.callerIdentity(key);
        const userName = id.arn.split(":").slice(5).join(":").split("/").pop();
        if (plan && (id.account !== plan.account || userName !== plan.userName)) {
          throw new KeyctlError(
            `The key ${key.accessKeyId} signs as ${id.arn}, not as IAM user ${plan.userName}; no other key was touched. Check the key in IAM.`,
            ExitCode.partial,
          );
        }
      },
      {
        clock: deps.clock,
        // A batch winding down after a signal lets this rotation end, but not wait out the whole bound.
        retryable: (err) => !(err instanceof KeyctlError) && !interrupted.aborted,
        // The last attempt is made at the bound itself, not one back-off step before it.
        deadline: start + timeoutMs,
        firstDelayMs: 250,
        nextDelayMs: (ms) => Math.min(Math.round(ms * 1.5), 5_000),
        onRetry: () => deps.events({ type: "verifying", elapsedMs: deps.clock.now() - start, timeoutMs }),
      },
    );
    return { ok: true, ms: deps.clock.now() - start };
  } catch (err) {
    if (err instanceof KeyctlError) throw err;
    return { ok: false, lastError: shortFailure(err) };
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
    `The old key ${old} is still active and kept in profile ${plan.previousProfile}. Retire it once nothing else uses it:`,
    `  keyctl --finish -t ${shellQuote(plan.profile)}    (or: aws iam delete-access-key --user-name ${plan.userName} --access-key-id ${old})`,
  ];
  if (plan.oldKeyPolicy === "keep") return { outcome: "kept", nextSteps: finishLater };

  const stillHeld = [
    ...target.sharedWith.filter((p) => !sharedUpdated.includes(p)).map((p) => `profile ${p}`),
    ...((await deps.inUseElsewhere?.())?.get(old) ?? []),
  ];
  if (stillHeld.length > 0) {
    return {
      outcome: "kept",
      problem: `The old key ${old} was not retired because ${stillHeld.join(", ")} still use${stillHeld.length === 1 ? "s" : ""} it.`,
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
      nextSteps: [`Finish by hand: ${cmd}`, `or run: keyctl --finish -t ${shellQuote(plan.profile)}`],
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
