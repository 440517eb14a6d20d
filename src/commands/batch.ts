import type { Sessions } from "../aws/session.js";
import { type FinishResult, finishRotation } from "../engine/finish.js";
import { awsFailure } from "../engine/messages.js";
import { systemClock } from "../engine/ports.js";
import type { RetireResult } from "../engine/retire.js";
import { type RotationEvent, type RotationResult, rotate } from "../engine/rotate.js";
import { ExitCode, type KeyctlError } from "../errors.js";
import { Journal } from "../store/journal.js";
import { mapLimit } from "../util/pool.js";
import type { CommandContext } from "./context.js";
import { blocksRotation, handOffHook, renderRetire, retireOutcome, stagedNextSteps } from "./lifecycle.js";
import { renderFinish, renderRotation, rotationJson } from "./render.js";

export interface Outcome {
  readonly profile: string;
  readonly status: RotationResult["status"] | FinishResult["status"] | "failed" | "cancelled";
  readonly exitCode: number;
  readonly changedFile: boolean;
  readonly rotation?: RotationResult;
  readonly finish?: FinishResult;
  readonly retire?: RetireResult;
  readonly error?: KeyctlError;
  /** Skipped because it holds the same key as this profile, whose rotation covers it. */
  readonly sharedWith?: string;
}

/** One prompt at a time, even when several rotations run at once. */
function serialized<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  let last: Promise<unknown> = Promise.resolve();
  return (...args) => {
    const next = last.then(
      () => fn(...args),
      () => fn(...args),
    );
    last = next.catch(() => {});
    return next;
  };
}

export async function runTargets(
  ctx: CommandContext,
  targets: readonly string[],
  sessionFor: (target: string) => Promise<Sessions>,
  options: { live: boolean },
): Promise<Outcome[]> {
  const { input, out, store, terminal } = ctx;
  const confirm = serialized((q: string, flag: string) => terminal.confirm(q, flag));
  // Next to the real file, like the lock: a symlink and its target share one journal.
  const journal = new Journal(ctx.file.realPath);
  const single = !options.live;
  const spinner =
    single && out.interactive && !out.json && input.command === "rotate"
      ? (await import("./spinner.js")).createSpinner()
      : undefined;

  return mapLimit(targets, single ? 1 : input.concurrency, async (profile): Promise<Outcome> => {
    const prefix = single ? "" : `${profile}: `;
    const events = (e: RotationEvent) => {
      if (e.type === "note") out.note(`${prefix}${e.message}`);
      else if (e.type === "warn") out.warn(`${prefix}${e.message}`);
      else if (e.type === "verifying") spinner?.update(e.elapsedMs, e.timeoutMs);
      else spinner?.stop();
    };
    if (options.live && !out.json)
      out.note(`${profile}: ${input.command === "rotate" ? "rotating" : "finishing"}…`);
    try {
      const sessions = await sessionFor(profile);
      const deps = { store, auth: sessions.auth, sts: sessions.sts, confirm, events };
      const userFlag = input.user !== undefined ? { userFlag: input.user } : {};
      let outcome: Outcome;
      const staged = input.finishAfterDays;
      if (input.command === "retire" || (input.command === "finish" && staged !== undefined)) {
        outcome = await retireOutcome(ctx, profile, sessions, events);
        if (single) renderRetire(ctx, outcome);
      } else if (input.command === "finish") {
        const result = await finishRotation(
          { profile, yes: input.yes, dryRun: input.dryRun, ...userFlag },
          deps,
        );
        outcome = {
          profile,
          status: result.status,
          exitCode: result.exitCode,
          changedFile: result.status === "done",
          finish: result,
        };
        if (single) {
          if (out.json) out.document({ credentialsFile: store.path, ...result });
          else renderFinish(result, out);
        }
      } else {
        // Staged path: retire first; an old key still on its way out blocks a rotation that would
        // delete it to make room.
        const before = staged !== undefined ? await retireOutcome(ctx, profile, sessions, events) : undefined;
        if (before && blocksRotation(ctx, before, single ? "" : prefix)) return before;
        const rotated = await rotate(
          {
            profile,
            oldKeyPolicy: staged !== undefined ? "keep" : input.oldKey,
            yes: input.yes,
            dryRun: input.dryRun,
            verifyTimeoutMs: input.verifyTimeoutMs,
            ...(input.olderThanDays !== undefined ? { olderThanDays: input.olderThanDays } : {}),
            ...userFlag,
          },
          { ...deps, journal, clock: systemClock, ...(await handOffHook(ctx, profile)) },
        );
        spinner?.stop();
        const result = staged !== undefined ? stagedNextSteps(rotated, staged) : rotated;
        if (before && result.status === "skipped") {
          if (single) renderRetire(ctx, before);
          return before;
        }
        outcome = {
          profile,
          status: result.status,
          exitCode: result.exitCode,
          changedFile: result.newKeyId !== undefined,
          rotation: result,
          ...(before?.retire ? { retire: before.retire } : {}),
        };
        if (single) {
          if (out.json) out.document(rotationJson(result, store.path));
          else renderRotation(result, out, store.path);
        }
      }
      if (options.live && !out.json) out.note(`${profile}: ${outcome.status}`);
      return outcome;
    } catch (err) {
      spinner?.stop();
      const error = awsFailure(err);
      const cancelled = error.exitCode === ExitCode.cancelled;
      if (options.live && !out.json) out.note(`${profile}: failed — ${error.message}`);
      if (single && out.json) {
        out.document({ profile, status: "failed", exitCode: error.exitCode, error: error.message });
      }
      return {
        profile,
        status: cancelled ? "cancelled" : "failed",
        exitCode: error.exitCode,
        changedFile: error.exitCode === ExitCode.partial,
        error,
      };
    }
  });
}

function outcomeJson(o: Outcome, credentialsFile: string) {
  if (o.rotation) return rotationJson(o.rotation, credentialsFile);
  if (o.finish) return { credentialsFile, ...o.finish };
  if (o.retire) return { credentialsFile, ...o.retire };
  return {
    profile: o.profile,
    status: o.status,
    exitCode: o.exitCode,
    error: o.error?.message ?? null,
    ...(o.sharedWith ? { sharedWith: o.sharedWith } : {}),
  };
}

const MARK = {
  done: "✔",
  partial: "!",
  failed: "✘",
  cancelled: "✘",
  skipped: "–",
  planned: "·",
  unchanged: "–",
} as const;

function detail(o: Outcome): string {
  if (o.error) return o.error.message;
  if (o.sharedWith)
    return `holds the same key as ${o.sharedWith}; rotated with it when its profiles are updated (--yes)`;
  const r = o.rotation;
  if (r) {
    if (r.status === "skipped") return `skipped: ${r.problem ?? ""}`;
    if (r.status === "planned")
      return `would rotate ${r.oldKeyId}${r.plan.deleteFirst ? ` (deleting ${r.plan.deleteFirst.key.accessKeyId} first)` : ""}`;
    const text = `${r.oldKeyId} → ${r.newKeyId ?? "?"} (old key ${r.oldKey})`;
    return r.problem ? `${text}; ${r.problem}` : text;
  }
  if (o.retire) return o.retire.message;
  const f = o.finish;
  if (f) return f.problem ?? `retired ${f.retiredKeyId} (${f.oldKey})`;
  return "";
}

export function renderSummary(ctx: CommandContext, outcomes: readonly Outcome[]): void {
  const { out, store } = ctx;
  if (out.json) {
    const count = (s: string) => outcomes.filter((o) => o.status === s).length;
    out.document({
      credentialsFile: store.path,
      results: outcomes.map((o) => outcomeJson(o, store.path)),
      summary: {
        total: outcomes.length,
        done: count("done"),
        partial: count("partial"),
        failed: count("failed") + count("cancelled"),
        skipped: count("skipped"),
        planned: count("planned"),
      },
    });
    return;
  }
  const width = Math.max(...outcomes.map((o) => o.profile.length));
  out.result("");
  out.result(`${"profile".padEnd(width)}  result    details`);
  for (const o of outcomes) {
    out.result(`${o.profile.padEnd(width)}  ${MARK[o.status]} ${o.status.padEnd(8)}${detail(o)}`);
  }
  const failed = outcomes.filter((o) => o.exitCode !== 0).length;
  out.result("");
  out.result(
    failed === 0
      ? `All ${outcomes.length} profile(s) handled.`
      : `${failed} of ${outcomes.length} profile(s) need attention (see above); the others are done.`,
  );
  for (const o of outcomes) {
    for (const step of o.rotation?.nextSteps ?? o.finish?.nextSteps ?? o.retire?.nextSteps ?? []) {
      if (o.exitCode !== 0) out.note(`${o.profile}: ${step}`);
    }
  }
}
