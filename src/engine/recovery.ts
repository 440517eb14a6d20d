// CreateAccessKey and what a failed or interrupted one may leave behind: the key IAM made while
// its answer was lost, the journal entry of a run that died, the recovery file of a secret that
// could reach neither the credentials file nor IAM's delete.

import { ExitCode, KeyctlError } from "../errors.js";
import { keyHolders } from "../profiles.js";
import type { JournalEntry } from "../store/journal.js";
import type { CredentialsStore } from "../store/store.js";
import { retry } from "../util/retry.js";
import { didNotAct, failureKind } from "./messages.js";
import type { RotationPlan } from "./plan.js";
import { type AccessKey, AWS_CALL_TIMEOUT_MS, AWS_CONNECT_TIMEOUT_MS, type NewAccessKey } from "./ports.js";
import { deleteKeyCommand, listAccessKeysCommand } from "./suggest.js";
import type { RotationDeps } from "./types.js";

const CREATE_ATTEMPTS = 4;

const createBackoffMs = (attempt: number) => 250 * 2 ** attempt;

export function createWithRetry(userName: string, deps: RotationDeps): Promise<NewAccessKey> {
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
export async function reconcileFailedCreate(
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
      message: `Key ${k.accessKeyId} of IAM user ${userName} (created ${k.createDate.toISOString()}) is held by no profile on this machine and keyctl cannot prove it made it (another machine or tool may use it); it was left alone. If nothing uses it: ${deleteKeyCommand(userName, k.accessKeyId)}`,
    });
  }
}

export async function saveRecoveryFile(
  store: CredentialsStore,
  plan: RotationPlan,
  key: NewAccessKey,
): Promise<string> {
  const body = `# keyctl could not save this new key of IAM user ${plan.userName} into ${store.path}.\n[${plan.profile}]\naws_access_key_id = ${key.accessKeyId}\naws_secret_access_key = ${key.secretAccessKey}\n`;
  const saved = await store.saveRecovery(plan.profile, body);
  if (saved) return saved;
  throw new KeyctlError(
    `The new key ${key.accessKeyId} could neither be saved nor deleted; delete it in IAM (${deleteKeyCommand(plan.userName, key.accessKeyId)}).`,
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
export async function recoverInterruptedRun(
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
      message: `An interrupted keyctl run (${entry.startedAt}) of profile ${entry.profile} was rotating IAM user ${entry.userName} (account ${entry.account}), but the profile's key belongs to ${owner.userName} (account ${owner.account}); keyctl leaves ${entry.userName}'s keys alone. Check them: ${listAccessKeysCommand(entry.userName)}`,
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
 * Clears this run's journal entry; if that fails, the next run finds the key held and clears it.
 * While another run of this process holds a claim (a batch), the removal goes with the journal's
 * next write, whoever makes it, at no hold of the lock of its own; see Journal.end. The batch
 * flushes what is left after its runs (runTargets).
 */
export async function forget(profile: string, deps: RotationDeps): Promise<void> {
  if (deps.journal.end(profile)) return;
  await deps.store.withLock(() => deps.journal.flush()).catch(() => {});
}
