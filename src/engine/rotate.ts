// One rotation, in the order of the safety contract (DESIGN.md §2, ARCHITECTURE.md):
//   1. read the profile; a live run on it (the journal) stops here, before any call;
//   2. prove who owns its key and that it works (preflight.ts), clean up what a dead run left
//      (recovery.ts), plan (plan.ts, pure): which key goes, what is written;
//   3. ask what needs asking (the key deleted at the 2-key limit, profiles sharing the key);
//   4. under the file's lock: backup + journal claim, make room, CreateAccessKey, write the secret
//      durably; every step has its compensation (createAndPersist);
//   5. prove the new key with STS, hand it on (--then), and only then retire the old one (verify.ts).
// Nothing outside steps 4-5 changes IAM or the file; a signal during step 4 waits for it to end.

import { hostname } from "node:os";
import { ExitCode, KeyctlError } from "../errors.js";
import type { JournalEntry } from "../store/journal.js";
import { isAbandoned } from "../store/journal.js";
import { interrupted, notePartial, shielded } from "../util/interrupt.js";
import { describeAwsError } from "./messages.js";
import { planRotation, type RotationPlan, readTarget, rotationEdit, type TargetProfile } from "./plan.js";
import type { NewAccessKey } from "./ports.js";
import {
  expectUnchanged,
  lastUseOf,
  proveCurrentOwner,
  provePreviousIsOurs,
  skipReason,
} from "./preflight.js";
import {
  createWithRetry,
  forget,
  reconcileFailedCreate,
  recoverInterruptedRun,
  saveRecoveryFile,
} from "./recovery.js";
import { callerIdentityCommand, deleteKeyCommand, listKeysCommand, rotateCommand } from "./suggest.js";
import type { RotationDeps, RotationRequest, RotationResult } from "./types.js";
import { retireOldKey, verifyNewKey } from "./verify.js";

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
    const gone = new Set([...cleanUp.removed, ...cleanUp.wouldRemove]);
    keys = keys.filter((k) => !gone.has(k.accessKeyId));
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
    madeRoom = ` (no profile on this machine held it; ${lastUse.text}); a machine or tool that used it needs a new key`;
    const situation = `IAM user ${plan.userName} already has 2 keys; making room means deleting ${k.accessKeyId} (${k.status}, created ${k.createDate.toISOString().slice(0, 10)}), which no profile on this machine uses; ${lastUse.text}`;
    // A key used this week is most likely another machine's current key (the same person rotating
    // there): a "y" typed or piped in passing is not enough to lock that machine out.
    if (lastUse.recent && !request.yes) {
      throw new KeyctlError(
        `${situation}. keyctl changed nothing; if nothing needs that key any more, run again with --yes, or delete it yourself: ${deleteKeyCommand(plan.userName, k.accessKeyId)}`,
        ExitCode.usage,
      );
    }
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
        const again = rotateCommand(plan.profile, auth.profile !== plan.profile ? auth.profile : undefined);
        throw new KeyctlError(
          `${describeAwsError(err, plan.userName)} IAM may have created a key anyway and keyctl could not check; profile ${plan.profile} is unchanged. Run ${again} again once AWS answers: it removes such a key first.`,
          ExitCode.partial,
        );
      }
      throw new KeyctlError(`${describeAwsError(err, plan.userName)} ${unchanged}`);
    }

    try {
      // The entry stays until the run ends (it keeps other runs off this profile), but nothing is
      // stranded any more: noted once the commit is durable, best effort, with the journal's next
      // write (if that never comes, the next run finds the key held by the file).
      const commit = await store.update(
        rotationEdit(plan.profile, plan.oldKey.accessKeyId, newKey, shared, {
          name: plan.previousProfile,
          keyId: target.previousKeyId,
        }),
      );
      journal.note({ ...entry, savedKeyId: newKey.accessKeyId });
      // From here a stop leaves the rotation partly done (exit 3): say what the user has.
      notePartial(
        plan.profile,
        `Profile ${plan.profile} has its new key ${newKey.accessKeyId}, not yet confirmed by AWS; the old key ${plan.oldKey.accessKeyId} still works and is kept in [${plan.previousProfile}]. Check with: ${listKeysCommand(plan.profile)}`,
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
        `Check the new key in a minute: ${callerIdentityCommand(plan.profile)}`,
        `If it never works, copy aws_access_key_id and aws_secret_access_key from [${plan.previousProfile}] back into [${plan.profile}].`,
      ],
    };
  }
  deps.events({ type: "verified" });
  const check = `Check with: ${listKeysCommand(plan.profile)}`;
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

export type * from "./types.js";
