import type { Output } from "../cli/output.js";
import type { FinishResult } from "../engine/finish.js";
import type { RotationResult } from "../engine/rotate.js";
import { previousName } from "../profiles.js";

export function rotationJson(r: RotationResult, credentialsFile: string) {
  return {
    profile: r.profile,
    status: r.status,
    exitCode: r.exitCode,
    credentialsFile,
    user: r.userName,
    account: r.account,
    oldKeyId: r.oldKeyId,
    newKeyId: r.newKeyId ?? null,
    deletedBeforeCreate: r.deletedBeforeCreate ?? null,
    oldKey: r.oldKey,
    oldKeyPolicy: r.plan.oldKeyPolicy,
    verifiedAfterMs: r.verifiedAfterMs ?? null,
    backup: r.backupPath ?? null,
    sharedProfilesUpdated: r.sharedUpdated,
    recoveredKeys: r.recoveredKeys,
    problem: r.problem ?? null,
    nextSteps: r.nextSteps,
    ...(r.status === "planned"
      ? {
          plan: {
            deleteFirst: r.plan.deleteFirst
              ? { accessKeyId: r.plan.deleteFirst.key.accessKeyId, reason: r.plan.deleteFirst.reason }
              : null,
            sharedWith: r.plan.sharedWith,
          },
        }
      : {}),
  };
}

const OLD_KEY_TEXT = {
  kept: "kept active",
  deactivated: "deactivated",
  deleted: "deleted",
  "not-changed": "left active",
} as const;

export function renderRotation(r: RotationResult, out: Output, credentialsFile: string): void {
  const c = out.colors;
  if (r.status === "planned") {
    out.result(
      `Plan for profile ${r.profile} (IAM user ${r.userName}, account ${r.account}) — nothing will be changed:`,
    );
    if (r.plan.deleteFirst) {
      const why =
        r.plan.deleteFirst.reason === "previous"
          ? `it is the old key kept in [${r.plan.previousProfile}]`
          : "needs your confirmation";
      out.result(`  1. delete key ${r.plan.deleteFirst.key.accessKeyId} to make room (2-key limit; ${why})`);
    }
    out.result(`  ${r.plan.deleteFirst ? 2 : 1}. create a new access key for ${r.userName}`);
    out.result(
      `     back up ${credentialsFile}, write the new key to [${r.profile}], the old one to [${r.plan.previousProfile}]`,
    );
    if (r.plan.sharedWith.length > 0)
      out.result(`     profiles sharing the key: ${r.plan.sharedWith.join(", ")} (updated with --yes)`);
    out.result(
      `     confirm the new key signs in as ${r.userName} (STS), waiting up to the --verify-timeout`,
    );
    const policy = r.plan.oldKeyPolicy === "keep" ? "keep it active" : r.plan.oldKeyPolicy;
    out.result(`     then the old key ${r.oldKeyId}: ${policy}`);
    return;
  }
  if (r.status === "skipped") {
    out.result(
      `– Skipped profile ${c.bold(r.profile)} (IAM user ${r.userName}, account ${r.account}): ${r.problem ?? "nothing to do"} (--older-than); nothing was changed.`,
    );
    return;
  }
  const ok = r.status === "done";
  out.result(
    `${ok ? c.green("✔") : c.yellow("!")} Rotated profile ${c.bold(r.profile)} (IAM user ${r.userName}, account ${r.account})`,
  );
  if (r.newKeyId) {
    const proof =
      r.verifiedAfterMs !== undefined
        ? `works: AWS confirmed it after ${(r.verifiedAfterMs / 1000).toFixed(1)} s`
        : "not yet confirmed";
    out.result(`  new key  ${r.newKeyId}  (${proof})`);
  }
  out.result(`  old key  ${r.oldKeyId}  ${OLD_KEY_TEXT[r.oldKey]}, saved in [${r.plan.previousProfile}]`);
  if (r.deletedBeforeCreate)
    out.result(`  deleted  ${r.deletedBeforeCreate}  (made room under the 2-key limit)`);
  if (r.sharedUpdated.length > 0) out.result(`  also updated: ${r.sharedUpdated.join(", ")}`);
  if (r.backupPath) out.result(`  backup   ${r.backupPath}`);
  if (r.tightenedFrom !== undefined) {
    out.warn(
      `${credentialsFile} was readable by others (mode ${r.tightenedFrom.toString(8)}); it is now 600.`,
    );
  }
  if (r.problem) out.warn(r.problem);
  for (const step of r.nextSteps) out.note(step);
}

export function renderFinish(r: FinishResult, out: Output): void {
  const c = out.colors;
  if (r.status === "planned") {
    out.result(
      `Would retire key ${r.retiredKeyId} of IAM user ${r.userName}: deactivate, delete, then drop [${previousName(r.profile)}].`,
    );
    if (r.usedAfterRotation) out.warn(`it was used after the rotation: ${r.usedAfterRotation}`);
    return;
  }
  if (r.status === "partial") {
    out.result(`${c.yellow("!")} Partly finished profile ${c.bold(r.profile)}`);
    if (r.problem) out.warn(r.problem);
    for (const step of r.nextSteps) out.note(step);
    return;
  }
  const what = r.oldKey === "already-gone" ? "was already gone from IAM" : "is deactivated and deleted";
  out.result(
    `${c.green("✔")} Finished rotating profile ${c.bold(r.profile)}: old key ${r.retiredKeyId} ${what}; [${previousName(r.profile)}] removed.`,
  );
}
