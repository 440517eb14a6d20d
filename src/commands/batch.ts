import type { Sessions } from "../aws/session.js";
import { finishRotation } from "../engine/finish.js";
import { awsFailure } from "../engine/messages.js";
import { type IamPort, systemClock } from "../engine/ports.js";
import { type RotationEvent, rotate } from "../engine/rotate.js";
import { CancelledError, ExitCode } from "../errors.js";
import { keysInUseOutside } from "../store/config.js";
import { Journal } from "../store/journal.js";
import { interrupted } from "../util/interrupt.js";
import { mapLimit } from "../util/pool.js";
import type { Outcome } from "./batch-render.js";
import type { CommandContext } from "./context.js";
import { seenWorkingIn } from "./history.js";
import { blocksRotation, handOffHook, renderRetire, retireOutcome, stagedNextSteps } from "./lifecycle.js";
import { renderFinish, renderRotation, rotationJson } from "./render.js";
import { watched } from "./watch.js";

// Runs the command over its target profiles, a few at a time (--concurrency), with one prompt at a
// time; batch-render.ts reports the outcomes.

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

class StoppedBeforeChange extends CancelledError {
  constructor() {
    super("Stopped by Ctrl-C before this rotation changed anything.");
  }
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
  const inUseElsewhere = keysInUseOutside(store, ctx.sources.credentials.store);
  const seenWorking = seenWorkingIn(ctx.sources.credentials.file.realPath);
  const single = !options.live;
  const spinner =
    single && out.interactive && !out.json ? (await import("./spinner.js")).createSpinner() : undefined;

  // The removals of ended runs' journal entries that no later write carried (see forget).
  const flushJournal = async () => {
    if (journal.unflushed) await store.withLock(() => journal.flush()).catch(() => {});
  };
  return mapLimit(targets, single ? 1 : input.concurrency, async (profile): Promise<Outcome> => {
    // After Ctrl-C no new rotation starts; the ones under way end and the summary names the rest.
    if (interrupted.aborted && options.live) {
      return { profile, status: "not started", exitCode: ExitCode.cancelled, changedFile: false };
    }
    const prefix = single ? "" : `${profile}: `;
    const events = (e: RotationEvent) => {
      if (e.type === "note") out.note(`${prefix}${e.message}`);
      else if (e.type === "warn") out.warn(`${prefix}${e.message}`);
      else if (e.type === "verifying") spinner?.update(e.elapsedMs, e.timeoutMs);
      else spinner?.stop();
    };
    // "rotating…" only once the rotation changes something: a skip or a dry run never does.
    let changing = false;
    let stopped = false;
    const before = (mutating: keyof IamPort | undefined) => {
      if (!mutating || changing || stopped) return;
      // Refused once: whatever the engine calls next to tidy up must go through.
      if (interrupted.aborted && options.live && input.command === "rotate") {
        stopped = true;
        throw new StoppedBeforeChange();
      }
      changing = true;
      if (options.live && !out.json)
        out.note(`${profile}: ${input.command === "rotate" ? "rotating" : "finishing"}…`);
    };
    try {
      const sessions = await sessionFor(profile);
      const ports = watched(sessions.auth, sessions.sts, { before, ...(spinner ? { spinner } : {}) });
      const deps = { store, auth: ports.auth, sts: ports.sts, confirm, events, inUseElsewhere, seenWorking };
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
            ...(input.previousName !== undefined ? { previousName: input.previousName } : {}),
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
      if (options.live && !out.json && changing) out.note(`${profile}: ${outcome.status}`);
      return outcome;
    } catch (err) {
      spinner?.stop();
      const error = awsFailure(err);
      if (stopped && !changing && error.exitCode !== ExitCode.partial) {
        return { profile, status: "not started", exitCode: ExitCode.cancelled, changedFile: false, error };
      }
      const cancelled = error.exitCode === ExitCode.cancelled;
      if (options.live && !out.json)
        out.note(`${profile}: ${cancelled ? "cancelled" : "failed"} — ${error.message}`);
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
  }).finally(flushJournal);
}
