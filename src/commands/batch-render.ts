// How a run over several profiles is reported: one outcome per profile, the summary table (or the
// one JSON document) and the steps left to the user. batch.ts runs the profiles.

import type { FinishResult } from "../engine/finish.js";
import type { RetireResult } from "../engine/retire.js";
import type { RotationResult } from "../engine/rotate.js";
import { finishCommand } from "../engine/suggest.js";
import { ExitCode, type KeyctlError } from "../errors.js";
import type { CommandContext } from "./context.js";
import { rotationJson } from "./render.js";

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

/** The table after a run of several profiles (or their JSON document), and what is left to do. */
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
    .filter((o) => o.exitCode === ExitCode.ok && o.rotation?.oldKey === "kept")
    .map((o) => o.profile);
  if (kept.length > 0) {
    out.note(
      `The old keys stay active in [<profile>-previous]. Retire them once nothing uses them: ${finishCommand(kept, input.auth || undefined)}`,
    );
  }
  for (const o of outcomes) {
    for (const step of o.rotation?.nextSteps ?? o.finish?.nextSteps ?? o.retire?.nextSteps ?? []) {
      if (o.exitCode !== ExitCode.ok) out.note(`${o.profile}: ${step}`);
    }
  }
  const notStarted = outcomes.filter((o) => o.status === "not started").map((o) => o.profile);
  if (notStarted.length > 0) {
    out.note(
      `Stopped by Ctrl-C; not started: ${notStarted.join(", ")}. Run the same command again to do them.`,
    );
  }
}
