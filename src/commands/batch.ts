import type { Sessions } from "../aws/session.js";
import { type FinishResult, finishRotation } from "../engine/finish.js";
import { awsFailure } from "../engine/messages.js";
import { type AuthSession, type IamPort, type StsPort, systemClock } from "../engine/ports.js";
import type { RetireResult } from "../engine/retire.js";
import { type RotationEvent, type RotationResult, rotate } from "../engine/rotate.js";
import { CancelledError, ExitCode, type KeyctlError } from "../errors.js";
import { keysInUseOutside } from "../store/config.js";
import { Journal } from "../store/journal.js";
import { after } from "../util/clock.js";
import { interrupted } from "../util/interrupt.js";
import { mapLimit } from "../util/pool.js";
import { shellQuote } from "../util/shell.js";
import type { CommandContext } from "./context.js";
import { seenWorkingIn } from "./history.js";
import { blocksRotation, handOffHook, renderRetire, retireOutcome, stagedNextSteps } from "./lifecycle.js";
import { renderFinish, renderRotation, rotationJson } from "./render.js";
import type { Spinner } from "./spinner.js";

export interface Outcome {
  readonly profile: string;
  readonly status:
    | RotationResult["status"]
    | FinishResult["status"]
    | "failed"
    | "cancelled"
    /** Ctrl-C came before this profile's rotation changed anything. */
    | "not started";
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

/** What the user is waiting for while an AWS call is slow. */
const IAM_STEP: { [K in keyof IamPort]-?: (...args: Parameters<Required<IamPort>[K]>) => string } = {
  listAccessKeys: (user) => `Reading the access keys of IAM user ${user}…`,
  listOwnAccessKeys: () => "Reading the access keys of the signing user…",
  createAccessKey: () => "Creating the new key…",
  updateAccessKey: (_user, id, status) =>
    `${status === "Inactive" ? "Deactivating" : "Activating"} key ${id}…`,
  deleteAccessKey: (_user, id) => `Deleting key ${id}…`,
  getAccessKeyLastUsed: (id) => `Asking IAM when key ${id} was last used…`,
  listUsers: () => "Listing the IAM users…",
};

const MUTATING = new Set<keyof IamPort>(["createAccessKey", "updateAccessKey", "deleteAccessKey"]);

/** Shows a step on the terminal once its call has waited this long. */
const SLOW_CALL_MS = 1_000;

interface Watch {
  /** Before every call; `mutating` for the ones that change IAM. */
  readonly before?: (mutating: keyof IamPort | undefined) => void;
  readonly spinner?: Spinner;
}

/**
 * The session's ports, timed for the progress line and guarded for Ctrl-C: the command layer sees
 * every AWS step without the engine having to report them.
 */
function watched(auth: AuthSession, sts: StsPort, watch: Watch): { auth: AuthSession; sts: StsPort } {
  const timed = async <T>(step: string, call: () => Promise<T>): Promise<T> => {
    const spinner = watch.spinner;
    if (!spinner) return call();
    const cancel = after(SLOW_CALL_MS, () => spinner.show(step));
    try {
      return await call();
    } finally {
      cancel();
      if (spinner.text === step) spinner.stop();
    }
  };
  const iam = {} as Record<keyof IamPort, unknown>;
  for (const name of Object.keys(IAM_STEP) as (keyof IamPort)[]) {
    const step = IAM_STEP[name] as (...args: unknown[]) => string;
    const method = auth.iam[name] as ((...args: unknown[]) => Promise<unknown>) | undefined;
    if (!method) continue;
    iam[name] = async (...args: unknown[]) => {
      watch.before?.(MUTATING.has(name) ? name : undefined);
      return timed(step(...args), () => method.apply(auth.iam, args));
    };
  }
  return {
    auth: {
      ...auth,
      iam: iam as unknown as IamPort,
      identity: () =>
        timed(`Checking who auth profile ${auth.profile} signs in as (STS)…`, () => auth.identity()),
    },
    sts: {
      callerIdentity: (credentials) =>
        timed(`Checking key ${credentials.accessKeyId} with AWS (STS)…`, () =>
          sts.callerIdentity(credentials),
        ),
    },
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

const MARK: Record<Outcome["status"], string> = {
  done: "✔",
  partial: "!",
  failed: "✘",
  cancelled: "✘",
  skipped: "–",
  planned: "·",
  "not started": "○",
};

function detail(o: Outcome): string {
  if (o.status === "not started") return "stopped by Ctrl-C before it changed anything; run again to do it";
  if (o.error) return o.error.message;
  if (o.sharedWith)
    return `holds the same key as ${o.sharedWith}; rotated with it when its profiles are updated (--yes)`;
  const r = o.rotation;
  if (r) {
    if (r.status === "skipped") return r.problem ?? "";
    if (r.status === "planned")
      return `would rotate ${r.oldKeyId}${r.plan.deleteFirst ? ` (deleting ${r.plan.deleteFirst.key.accessKeyId} first)` : ""}`;
    const text = `${r.oldKeyId} → ${r.newKeyId ?? "?"} (old key ${r.oldKey})`;
    return r.problem ? `${text}; ${r.problem}` : text;
  }
  if (o.retire) return o.retire.message;
  const f = o.finish;
  if (f) {
    if (f.status === "planned") return `would retire ${f.retiredKeyId}`;
    return f.problem ?? `retired ${f.retiredKeyId} (${f.oldKey})`;
  }
  return "";
}

/** One sentence of what happened, in the order a user cares about. */
function tally(outcomes: readonly Outcome[], finishing: boolean): string {
  const count = (status: Outcome["status"]) => outcomes.filter((o) => o.status === status).length;
  const parts: string[] = [];
  const add = (n: number, text: string) => {
    if (n > 0) parts.push(`${n} ${text}`);
  };
  add(count("done"), finishing ? "finished" : "rotated");
  add(count("partial"), "partly done");
  add(count("failed"), "failed");
  add(count("cancelled"), "cancelled");
  add(count("not started"), "not started");
  add(count("planned"), finishing ? "would be finished" : "would be rotated");
  add(count("skipped"), "skipped");
  const sentence = `${parts.join(", ")} (of ${outcomes.length} profile(s)).`;
  const changed = outcomes.some((o) => o.changedFile || o.status === "partial");
  if (count("planned") > 0 && !changed) return `Dry run: ${sentence} Nothing was changed.`;
  if (!changed && count("done") === 0) return `${sentence} Nothing was changed.`;
  return sentence;
}

export function renderSummary(ctx: CommandContext, outcomes: readonly Outcome[]): void {
  const { out, store, input } = ctx;
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
        notStarted: count("not started"),
      },
      backup: store.backup ?? null,
    });
    return;
  }
  const width = Math.max("profile".length, ...outcomes.map((o) => o.profile.length));
  const statusWidth = Math.max("result".length - 2, ...outcomes.map((o) => o.status.length));
  out.result("");
  out.result(`${"profile".padEnd(width)}  ${"result".padEnd(statusWidth + 2)}  details`);
  for (const o of outcomes) {
    out.result(`${o.profile.padEnd(width)}  ${MARK[o.status]} ${o.status.padEnd(statusWidth)}  ${detail(o)}`);
  }
  out.result("");
  out.result(tally(outcomes, input.command === "finish"));
  if (store.backup) out.result(`Backup of the file as it was before this run: ${store.backup}`);
  const kept = outcomes
    .filter((o) => o.exitCode === 0 && o.rotation?.oldKey === "kept")
    .map((o) => o.profile);
  if (kept.length > 0) {
    const auth = input.auth ? `-a ${input.auth} ` : "";
    out.note(
      `The old keys stay active in [<profile>-previous]. Retire them once nothing uses them: keyctl --finish ${auth}${kept.map((p) => `-t ${shellQuote(p)}`).join(" ")}`,
    );
  }
  for (const o of outcomes) {
    for (const step of o.rotation?.nextSteps ?? o.finish?.nextSteps ?? o.retire?.nextSteps ?? []) {
      if (o.exitCode !== 0) out.note(`${o.profile}: ${step}`);
    }
  }
  const notStarted = outcomes.filter((o) => o.status === "not started").map((o) => o.profile);
  if (notStarted.length > 0) {
    out.note(
      `Stopped by Ctrl-C; not started: ${notStarted.join(", ")}. Run the same command again to do them.`,
    );
  }
}
