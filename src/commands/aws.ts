import type { CliInput } from "../cli/args.js";
import type { Output } from "../cli/output.js";
import { createTerminal } from "../cli/terminal.js";
import { awsFailure } from "../engine/messages.js";
import { readTarget } from "../engine/plan.js";
import { ExitCode, KeyctlError, UsageError } from "../errors.js";
import { credentialKind, isPreviousProfile, listProfiles } from "../profiles.js";
import { DEFAULT_KEEP_BACKUPS, pruneBackups } from "../store/backups.js";
import { credentialsPath } from "../store/paths.js";
import { CredentialsStore } from "../store/store.js";
import { type Outcome, renderSummary, runTargets } from "./batch.js";
import { type CommandContext, openFor } from "./context.js";
import { recordHistory, runHandOffOnly } from "./lifecycle.js";
import { runListKeys } from "./list-keys.js";

/** Commands that talk to AWS. This module pulls in the SDK; --help and --list never load it. */
export async function runAws(input: CliInput, out: Output): Promise<number> {
  const store = new CredentialsStore(credentialsPath(input.credentials));
  const file = await store.read();
  const terminal = createTerminal({ yes: input.yes });
  const ctx: CommandContext = { input, out, terminal, store, file };
  if (process.env.AWS_ACCESS_KEY_ID) {
    out.warn(
      "AWS_ACCESS_KEY_ID is set in the environment: the AWS CLI and SDKs use it instead of the profiles in the credentials file.",
    );
  }
  try {
    return await dispatch(ctx);
  } catch (err) {
    throw awsFailure(err);
  } finally {
    terminal.close();
  }
}

async function dispatch(ctx: CommandContext): Promise<number> {
  const { input } = ctx;
  switch (input.command) {
    case "list-keys":
    case "list-all-keys":
      return runListKeys(ctx);
    case "interactive":
      return runInteractive(ctx);
    case "rotate":
    case "finish":
    case "retire":
      return runJob(ctx, input.auth, chooseTargets(ctx));
    case "handoff":
      return runHandOffOnly(ctx, (p) => openFor(ctx, input.auth ?? p));
    default:
      throw new KeyctlError(`${input.command} is not available here.`);
  }
}

function chooseTargets(ctx: CommandContext): string[] {
  const { input, file } = ctx;
  if (input.all) {
    const all = file.doc
      .profileNames()
      .filter(
        (name) =>
          !isPreviousProfile(name) && credentialKind(file.doc.profile(name) ?? new Map()) === "long-term",
      );
    if (all.length === 0)
      throw new KeyctlError(`No profile of ${file.path} holds a long-term key; nothing to rotate.`);
    return all;
  }
  if (input.targets.length > 0) return [...new Set(input.targets)];
  if (input.auth) return [input.auth];
  throw new UsageError(`Name the profile: keyctl ${input.command === "finish" ? "--finish " : ""}-t PROFILE`);
}

async function runInteractive(ctx: CommandContext): Promise<number> {
  const profiles = listProfiles(ctx.file.doc).map((p) => p.name);
  if (profiles.length === 0) throw new KeyctlError(`No profiles in ${ctx.file.path}; nothing to rotate.`);
  if (!ctx.terminal.canPrompt) {
    throw new UsageError(
      "No terminal for the profile menu; name the profiles: keyctl -t PROFILE [-a AUTH_PROFILE].",
    );
  }
  const auth = await ctx.terminal.choose(
    "Select the profile to use for AWS API authentication:\n(its credentials call IAM)\n\nAvailable profiles for authentication:",
    profiles,
  );
  process.stderr.write(`\n${"=".repeat(60)}\n`);
  const target = await ctx.terminal.choose(
    "Select the profile whose keys you want to rotate:\n(it gets the new key)\n\nAvailable profiles to rotate:",
    profiles,
  );
  return runJob(ctx, auth, [target]);
}

/**
 * Rotates (or finishes) each target. With -a the auth profile signs for all, and if it is a target
 * itself it goes last, so no rotation runs on a key that was just retired.
 */
async function runJob(
  ctx: CommandContext,
  authProfile: string | undefined,
  targets: string[],
): Promise<number> {
  const { input, file } = ctx;
  for (const t of targets) readTarget(file.doc, t, file.path);
  const batch = targets.length > 1 || input.all;
  if (!batch) {
    const sessions = await openFor(ctx, authProfile ?? targets[0]!);
    const outcomes = await runTargets(ctx, targets, () => Promise.resolve(sessions), { live: false });
    const only = outcomes[0]!;
    await recordHistory(ctx, outcomes);
    if (only.error) throw only.error;
    await prune(ctx, outcomes);
    return worstExit(outcomes);
  }

  // Profiles that share one key are one rotation: the first one's write updates the others (with
  // --yes); rotating them side by side would race for the same IAM user.
  const byKey = new Map<string, string>();
  const sharing: Outcome[] = [];
  const distinct: string[] = [];
  for (const t of targets) {
    const id = file.doc.get(t, "aws_access_key_id") ?? "";
    const first = byKey.get(id);
    if (first === undefined) {
      byKey.set(id, t);
      distinct.push(t);
    } else {
      sharing.push({ profile: t, status: "skipped", exitCode: 0, changedFile: false, sharedWith: first });
    }
  }
  const opened = new Map<string, ReturnType<typeof openFor>>();
  const sessionFor = (target: string) => {
    const profile = authProfile ?? target;
    let s = opened.get(profile);
    if (!s) {
      s = openFor(ctx, profile);
      opened.set(profile, s);
    }
    return s;
  };
  // The auth profile, when it is a target too, goes strictly after the others: its old key must
  // not be retired while they still sign with it.
  const first = distinct.filter((t) => t !== authProfile);
  const last = distinct.filter((t) => t === authProfile);
  const outcomes = [
    ...(await runTargets(ctx, first, sessionFor, { live: true })),
    ...(last.length > 0 ? await runTargets(ctx, last, sessionFor, { live: true }) : []),
    ...sharing,
  ];
  await recordHistory(ctx, outcomes);
  await prune(ctx, outcomes);
  renderSummary(ctx, outcomes);
  return worstExit(outcomes);
}

async function prune(ctx: CommandContext, outcomes: readonly Outcome[]): Promise<void> {
  const { input, out } = ctx;
  if (outcomes.some((o) => o.changedFile)) {
    const removed = await pruneBackups(ctx.store.path, input.keepBackups ?? DEFAULT_KEEP_BACKUPS);
    if (removed.length > 0 && !out.json)
      out.note(
        `Removed ${removed.length} old backup(s) (keeping ${input.keepBackups ?? DEFAULT_KEEP_BACKUPS}).`,
      );
  }
}

function worstExit(outcomes: readonly Outcome[]): number {
  const codes = outcomes.map((o) => o.exitCode);
  if (codes.includes(ExitCode.partial)) return ExitCode.partial;
  if (codes.includes(ExitCode.cancelled)) return ExitCode.cancelled;
  if (codes.some((c) => c !== 0)) return ExitCode.failed;
  return ExitCode.ok;
}
