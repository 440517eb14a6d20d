import type { CliInput } from "../cli/args.js";
import type { Output } from "../cli/output.js";
import { createTerminal } from "../cli/terminal.js";
import { awsFailure } from "../engine/messages.js";
import { readTarget } from "../engine/plan.js";
import { ExitCode, KeyctlError, UsageError } from "../errors.js";
import type { CredentialsDocument } from "../ini/document.js";
import { credentialKind, isKeyctlCopy, listProfiles } from "../profiles.js";
import { DEFAULT_KEEP_BACKUPS, pruneBackups } from "../store/backups.js";
import {
  AUTH_KIND_LABEL,
  configProfiles,
  isAuthKind,
  keyInConfig,
  readConfigSource,
} from "../store/config.js";
import { configPath, credentialsPath } from "../store/paths.js";
import { CredentialsStore } from "../store/store.js";
import { windDownOnInterrupt } from "../util/interrupt.js";
import { runTargets } from "./batch.js";
import { type Outcome, renderSummary } from "./batch-render.js";
import { type CommandContext, openFor } from "./context.js";
import { recordHistory, runHandOffOnly } from "./lifecycle.js";
import { runListKeys } from "./list-keys.js";

/** Commands that talk to AWS. This module pulls in the SDK; --help and --list never load it. */
export async function runAws(input: CliInput, out: Output): Promise<number> {
  const store = new CredentialsStore(credentialsPath(input.credentials));
  const config = await readConfigSource(configPath());
  const file = await store.read({ missingAsEmpty: config !== undefined });
  const terminal = createTerminal({ yes: input.yes });
  const ctx: CommandContext = {
    input,
    out,
    terminal,
    store,
    file,
    sources: { credentials: { store, file }, config },
  };
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
      return runListKeys(holderOf(ctx, input.targets[0] ?? input.auth));
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

/**
 * The context of the file that holds `profile`'s key: the credentials file, unless only the config
 * file holds one for it (the AWS CLI reads it from there then).
 */
function holderOf(ctx: CommandContext, profile: string | undefined): CommandContext {
  const { credentials, config } = ctx.sources;
  if (profile === undefined || !config || !keyInConfig(profile, credentials.file.doc, config.file.doc)) {
    return ctx;
  }
  let inConfig = configContexts.get(ctx);
  if (!inConfig) {
    inConfig = { ...ctx, store: config.store, file: config.file };
    configContexts.set(ctx, inConfig);
  }
  return inConfig;
}

/** One config-file context per run: a batch groups its targets by context. */
const configContexts = new WeakMap<CommandContext, CommandContext>();

function chooseTargets(ctx: CommandContext): string[] {
  const { input, sources } = ctx;
  if (input.all) {
    const longTerm = (doc: CredentialsDocument) =>
      doc
        .profileNames()
        .filter(
          (name) =>
            !isKeyctlCopy(doc, name) && credentialKind(doc.profile(name) ?? new Map()) === "long-term",
        );
    const config = sources.config?.file.doc;
    const inConfig = config
      ? longTerm(config).filter((name) => keyInConfig(name, sources.credentials.file.doc, config))
      : [];
    return [...longTerm(sources.credentials.file.doc), ...inConfig];
  }
  if (input.targets.length > 0) return [...new Set(input.targets)];
  if (input.auth) return [input.auth];
  throw new UsageError(`Name the profile: keyctl ${input.command === "finish" ? "--finish " : ""}-t PROFILE`);
}

/** What answers the menu instead. */
const MENU_FLAGS = "-t PROFILE [-a AUTH_PROFILE] to name the profiles";

async function runInteractive(ctx: CommandContext): Promise<number> {
  const { credentials, config } = ctx.sources;
  const withKeys = listProfiles(credentials.file.doc).map((p) => p.name);
  const fromConfig = configProfiles(credentials.file.doc, config?.file.doc);
  // Config-only auth profiles can sign in but hold no key: offered for signing in only.
  const targets = [...withKeys, ...fromConfig.filter((p) => !isAuthKind(p.kind)).map((p) => p.name)];
  const signers = new Map<string, string>(targets.map((name) => [name, name]));
  for (const p of fromConfig) {
    if (isAuthKind(p.kind)) signers.set(`${p.name}  (${AUTH_KIND_LABEL[p.kind]}, holds no key)`, p.name);
  }
  if (targets.length === 0) throw new KeyctlError(`No profiles in ${ctx.file.path}; nothing to rotate.`);
  const chosen = await ctx.terminal.choose(
    "Select the profile to use for AWS API authentication:\n(its credentials call IAM)\n\nAvailable profiles for authentication:",
    [...signers.keys()],
    MENU_FLAGS,
  );
  const auth = signers.get(chosen)!;
  process.stderr.write(`\n${"=".repeat(60)}\n`);
  const target = await ctx.terminal.choose(
    "Select the profile whose keys you want to rotate:\n(it gets the new key)\n\nAvailable profiles to rotate:",
    targets,
    MENU_FLAGS,
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
  const { input } = ctx;
  if (targets.length === 0) {
    // --all on a file of temporary or no keys: a scheduled run has nothing to do, which is fine.
    if (ctx.out.json) renderSummary(ctx, []);
    else ctx.out.note(`No profile of ${ctx.file.path} holds a long-term key; nothing to rotate.`);
    return ExitCode.ok;
  }
  const holder = new Map(targets.map((t) => [t, holderOf(ctx, t)]));
  for (const t of targets) {
    const { file } = holder.get(t)!;
    readTarget(file.doc, t, file.path, input.previousName);
  }
  const batch = targets.length > 1 || input.all;
  if (!batch) {
    const only = holder.get(targets[0]!)!;
    const sessions = await openFor(only, authProfile ?? targets[0]!);
    const outcomes = await runTargets(only, targets, () => Promise.resolve(sessions), { live: false });
    await recordHistory(only, outcomes);
    if (outcomes[0]!.error) throw outcomes[0]!.error;
    await prune(only, outcomes);
    return worstExit(outcomes);
  }

  // Profiles that share one key are one rotation: the first one's write updates the others (with
  // --yes); rotating them side by side would race for the same IAM user.
  const byKey = new Map<string, string>();
  const sharing: Outcome[] = [];
  const distinct: string[] = [];
  for (const t of targets) {
    const id = holder.get(t)!.file.doc.get(t, "aws_access_key_id") ?? "";
    const first = byKey.get(id);
    if (first === undefined) {
      byKey.set(id, t);
      distinct.push(t);
    } else {
      sharing.push({
        profile: t,
        status: "skipped",
        exitCode: ExitCode.ok,
        changedFile: false,
        sharedWith: first,
      });
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
  // Whatever profile holds the key the auth profile signs with goes strictly after the others: that
  // key must not be retired while they still sign with it. Known by key id, not by profile name.
  const authKeyId = authProfile
    ? await sessionFor(authProfile).then(
        (s) => s.auth.signingKeyId,
        // The rotations report the failure to open it, each for its own profile.
        () => holderOf(ctx, authProfile).file.doc.get(authProfile, "aws_access_key_id"),
      )
    : undefined;
  const holdsAuthKey = (t: string) =>
    authKeyId !== undefined && holder.get(t)!.file.doc.get(t, "aws_access_key_id") === authKeyId;
  const first = distinct.filter((t) => !holdsAuthKey(t));
  const last = distinct.filter(holdsAuthKey);
  // Each file's targets go through that file's store; the credentials file's first.
  const byFile = async (list: string[]): Promise<Outcome[]> => {
    const done: Outcome[] = [];
    for (const c of new Set(list.map((t) => holder.get(t)!))) {
      const mine = list.filter((t) => holder.get(t) === c);
      const outcomes = await runTargets(c, mine, sessionFor, { live: true });
      await prune(c, outcomes);
      done.push(...outcomes);
    }
    return done;
  };
  const outcomes = await windDownOnInterrupt(async () => [
    ...(await byFile(first)),
    ...(last.length > 0 ? await byFile(last) : []),
    ...sharing,
  ]);
  const order = new Map(targets.map((t, i) => [t, i]));
  outcomes.sort((a, b) => order.get(a.profile)! - order.get(b.profile)!);
  await recordHistory(ctx, outcomes);
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
  // Exit 1 promises that nothing changed: with some profiles rotated, the batch is partly done.
  if (codes.some((c) => c !== 0))
    return outcomes.some((o) => o.changedFile) ? ExitCode.partial : ExitCode.failed;
  return ExitCode.ok;
}
