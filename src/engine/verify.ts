// After the write: the new key proven with STS (IAM is eventually consistent), then the old key
// retired as --old-key asks, unless something on this machine still uses it.

import { ExitCode, KeyctlError } from "../errors.js";
import { interrupted } from "../util/interrupt.js";
import { retry } from "../util/retry.js";
import { isIamUser } from "./identity.js";
import { describeAwsError, shortFailure } from "./messages.js";
import type { RotationPlan, TargetProfile } from "./plan.js";
import { isAwsCallError, type StaticCredentials } from "./ports.js";
import { deactivateKeyCommand, deleteKeyCommand, finishCommand } from "./suggest.js";
import type { OldKeyOutcome, RotationDeps } from "./types.js";

/**
 * Polls STS GetCallerIdentity signed by the new key until it answers as the same user and account.
 * IAM is eventually consistent: a fresh key is refused for a few seconds.
 */
export async function verifyNewKey(
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
        if (plan && !isIamUser(id, plan)) {
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

export async function retireOldKey(
  plan: RotationPlan,
  sharedUpdated: readonly string[],
  target: TargetProfile,
  deps: RotationDeps,
): Promise<{ outcome: OldKeyOutcome; problem?: string; nextSteps: string[] }> {
  const old = plan.oldKey.accessKeyId;
  const finishLater = [
    `The old key ${old} is still active and kept in profile ${plan.previousProfile}. Retire it once nothing else uses it:`,
    `  ${finishCommand(plan.profile)}    (or: ${deleteKeyCommand(plan.userName, old)})`,
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
        ? deleteKeyCommand(plan.userName, old)
        : deactivateKeyCommand(plan.userName, old);
    return {
      outcome: "kept",
      problem: `The new key works and is saved, but the old key ${old} could not be ${verb}d (${describeAwsError(err, plan.userName)}).`,
      nextSteps: [`Finish by hand: ${cmd}`, `or run: ${finishCommand(plan.profile)}`],
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
