// The command side of the key lifecycle: the staged retirement step of a run, the hand-off hook the
// rotation calls between "the new key works" and "the old key goes", --handoff-only, and the
// history record of what a run changed in IAM.

import type { Sessions } from "../aws/session.js";
import type { FinishResult } from "../engine/finish.js";
import { parseArn } from "../engine/identity.js";
import { describeAwsError } from "../engine/messages.js";
import { readTarget } from "../engine/plan.js";
import { systemClock } from "../engine/ports.js";
import { type RetireResult, retireWhenUnused } from "../engine/retire.js";
import type { RotationDeps, RotationEvent, RotationResult } from "../engine/rotate.js";
import { finishCommand } from "../engine/suggest.js";
import { ExitCode, KeyctlError, UsageError } from "../errors.js";
import { previousName } from "../profiles.js";
import { keysInUseOutside } from "../store/config.js";
import { configPath } from "../store/paths.js";
import type { Outcome } from "./batch-render.js";
import type { CommandContext } from "./context.js";
import { configuredHandOff, type HandOffKey, keyctlSection, runHandOff, shellQuote } from "./handoff.js";
import { appendHistory, type HistoryEntry } from "./history.js";

export async function retireOutcome(
  ctx: CommandContext,
  profile: string,
  sessions: Sessions,
  events: (e: RotationEvent) => void,
): Promise<Outcome> {
  const { input, store } = ctx;
  const result = await retireWhenUnused(
    {
      profile,
      afterDays: input.finishAfterDays ?? 1,
      dryRun: input.dryRun,
      ...(input.user !== undefined ? { userFlag: input.user } : {}),
    },
    {
      store,
      auth: sessions.auth,
      sts: sessions.sts,
      clock: systemClock,
      events,
      inUseElsewhere: keysInUseOutside(store, ctx.sources.credentials.store),
    },
  );
  const status: Outcome["status"] =
    result.status === "deactivated" || result.status === "deleted"
      ? "done"
      : result.status === "in-use"
        ? "failed"
        : result.status === "waiting" || result.status === "nothing"
          ? "skipped"
          : result.status;
  return {
    profile,
    status,
    exitCode: result.exitCode,
    changedFile: result.status === "deactivated" || result.status === "deleted",
    retire: result,
  };
}

/** The result of a single target's retirement, as one line (or the JSON document). */
export function renderRetire(ctx: CommandContext, o: Outcome): void {
  const { out, store } = ctx;
  const r = o.retire;
  if (!r) return;
  if (out.json) {
    out.document({ credentialsFile: store.path, ...r });
    return;
  }
  const line = `${r.profile}: ${r.message}`;
  if (r.status === "in-use" || r.status === "partial") out.warn(line);
  else out.result(line);
  for (const step of r.nextSteps) out.note(step);
}

/**
 * On the staged path, an old key still in `-previous` (waiting, deactivated, in use) holds off the
 * next rotation: at IAM's 2-key limit that rotation would delete it to make room, unstaged.
 */
export function blocksRotation(ctx: CommandContext, before: Outcome, prefix: string): boolean {
  const r = before.retire;
  if (!r || r.status === "nothing" || r.status === "deleted") return false;
  const age = r.rotatedAt ? systemClock.now() - Date.parse(r.rotatedAt) : 0;
  const due = ctx.input.olderThanDays === undefined || age > ctx.input.olderThanDays * 86_400_000;
  if (due && !ctx.out.json) {
    ctx.out.note(
      `${prefix}not rotated yet: the old key ${r.oldKeyId} in [${previousName(r.profile)}] is not retired.`,
    );
  }
  if (!prefix) renderRetire(ctx, before);
  return true;
}

/** After a rotation that kept the old key for the staged path: say what happens to it next. */
export function stagedNextSteps(result: RotationResult, afterDays: number): RotationResult {
  if (result.oldKey !== "kept" || result.problem || result.newKeyId === undefined) return result;
  return {
    ...result,
    nextSteps: [
      `The old key ${result.oldKeyId} stays active in [${previousName(result.profile)}]; a run with --finish-after ${afterDays} deactivates it once it has gone unused for ${afterDays} day(s) since now, and deletes it ${afterDays} day(s) later.`,
    ],
  };
}

/** The hand-off commands of a profile: --then flags first, then `then` of its config section. */
async function handOffCommands(ctx: CommandContext, profile: string): Promise<string[]> {
  return [...ctx.input.handOff, ...(await configuredHandOff(configPath(), profile))];
}

/** The command that runs just the hand-off again, with the key now in the profile. */
function rerunCommand(ctx: CommandContext, profile: string): string {
  const parts = ["keyctl", "--handoff-only", "-t", profile];
  if (ctx.input.credentials !== undefined) parts.push("-c", ctx.store.path);
  for (const c of ctx.input.handOff) parts.push("--then", c);
  if (ctx.input.thenTimeoutMs !== 300_000)
    parts.push("--then-timeout", String(ctx.input.thenTimeoutMs / 1000));
  return parts.map(shellQuote).join(" ");
}

export async function handOffHook(
  ctx: CommandContext,
  profile: string,
): Promise<Pick<RotationDeps, "handOff">> {
  const commands = await handOffCommands(ctx, profile);
  if (commands.length === 0) return {};
  return {
    handOff: async (key, plan) => {
      const run = await runHandOff(
        commands,
        {
          profile,
          userName: plan.userName,
          accessKeyId: key.accessKeyId,
          secretAccessKey: key.secretAccessKey,
          oldAccessKeyId: plan.oldKey.accessKeyId,
        },
        { timeoutMs: ctx.input.thenTimeoutMs, note: (l) => ctx.out.note(l) },
      );
      if (run.ok) return undefined;
      return {
        problem: `The new key ${key.accessKeyId} works and is saved in profile ${profile}, but handing it on failed: ${run.why} (${run.command}). The old key ${plan.oldKey.accessKeyId} stays active.`,
        nextSteps: [
          `Fix the hand-off, then run it again with the new key: ${rerunCommand(ctx, profile)}`,
          `Then retire the old key: ${finishCommand(profile)}   (or let --finish-after do it)`,
        ],
      };
    },
  };
}

/** `keyctl --handoff-only -t P`: hands the key now in P on again, once STS has accepted it. */
export async function runHandOffOnly(
  ctx: CommandContext,
  openFor: (profile: string) => Promise<Sessions>,
): Promise<number> {
  const { file, out } = ctx;
  let worst: number = ExitCode.ok;
  for (const profile of ctx.input.targets) {
    const target = readTarget(file.doc, profile, file.path);
    const commands = await handOffCommands(ctx, profile);
    if (commands.length === 0) {
      throw new UsageError(
        `Nothing to hand on for ${profile}: give --then 'COMMAND', or set 'then = COMMAND' in [${keyctlSection(profile)}] of ${configPath()}.`,
      );
    }
    const sessions = await openFor(profile);
    // Only a key AWS accepts is handed on: a stale one would overwrite a working copy elsewhere.
    const id = await sessions.sts.callerIdentity(target.key).catch((err: unknown) => {
      throw new KeyctlError(
        `Profile ${profile}'s key ${target.key.accessKeyId} does not work (${describeAwsError(err)}); nothing was handed on.`,
      );
    });
    const key: HandOffKey = {
      profile,
      userName: parseArn(id.arn).userName ?? "",
      accessKeyId: target.key.accessKeyId,
      secretAccessKey: target.key.secretAccessKey,
      ...(file.doc.get(previousName(profile), "aws_access_key_id")
        ? { oldAccessKeyId: file.doc.get(previousName(profile), "aws_access_key_id") ?? "" }
        : {}),
    };
    const run = await runHandOff(commands, key, {
      timeoutMs: ctx.input.thenTimeoutMs,
      note: (l) => out.note(l),
    });
    if (run.ok) out.result(`${profile}: handed key ${key.accessKeyId} on (${commands.length} command(s)).`);
    else {
      out.warn(`${profile}: handing key ${key.accessKeyId} on failed: ${run.why} (${run.command}).`);
      worst = ExitCode.failed;
    }
  }
  return worst;
}

function entriesOf(o: Outcome, time: string): HistoryEntry[] {
  const entries: HistoryEntry[] = [];
  const t: RetireResult | undefined = o.retire;
  if (t && (t.status === "deactivated" || t.status === "deleted" || t.status === "partial")) {
    entries.push({
      time,
      profile: o.profile,
      action: t.deactivatedAt && t.status !== "deactivated" ? "delete" : "deactivate",
      status: t.status,
      exitCode: t.exitCode,
      ...(t.userName !== undefined ? { user: t.userName } : {}),
      ...(t.account !== undefined ? { account: t.account } : {}),
      ...(t.oldKeyId !== undefined ? { oldKeyId: t.oldKeyId } : {}),
      ...(t.currentKeyId !== undefined ? { currentKeyId: t.currentKeyId } : {}),
      oldKey: t.status === "partial" ? "partial" : t.status,
      detail: t.message,
    });
  }
  const base = { time, profile: o.profile, status: o.status, exitCode: o.exitCode };
  const r: RotationResult | undefined = o.rotation;
  const f: FinishResult | undefined = o.finish;
  if (r?.newKeyId !== undefined || r?.deletedBeforeCreate !== undefined) {
    entries.push({
      ...base,
      action: "rotate",
      user: r.userName,
      account: r.account,
      oldKeyId: r.oldKeyId,
      ...(r.newKeyId !== undefined ? { newKeyId: r.newKeyId } : {}),
      oldKey: r.oldKey,
      ...(r.deletedBeforeCreate !== undefined ? { deletedKeyId: r.deletedBeforeCreate } : {}),
      ...(r.problem ? { detail: r.problem } : {}),
    });
  } else if (f && f.oldKey !== "not-changed" && f.status !== "planned") {
    entries.push({
      ...base,
      action: "finish",
      user: f.userName,
      oldKeyId: f.retiredKeyId,
      oldKey: f.oldKey,
      ...(f.problem ? { detail: f.problem } : {}),
    });
  } else if (o.error && o.exitCode === ExitCode.partial) {
    // A failure that left IAM changed (exit 3) says what in its message.
    entries.push({ ...base, action: "failed", detail: o.error.message });
  }
  return entries;
}

/** Appends what this run changed in IAM; a history that cannot be written is reported, not fatal. */
export async function recordHistory(ctx: CommandContext, outcomes: readonly Outcome[]): Promise<void> {
  if (ctx.input.dryRun) return;
  const time = new Date(systemClock.now()).toISOString();
  // One history per machine set-up, next to the credentials file, whichever file held the key:
  // --history reads it from there.
  const next = ctx.sources.credentials.file.realPath;
  for (const o of outcomes) {
    try {
      for (const entry of entriesOf(o, time)) await appendHistory(next, entry);
    } catch (err) {
      // A failed run's own message already names the file system's trouble (a full disk, say).
      if (o.error) continue;
      ctx.out.warn(
        `The change to ${o.profile} was not recorded in the history: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }
}
