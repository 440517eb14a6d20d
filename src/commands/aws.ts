import type { CliInput } from "../cli/args.js";
import type { Output } from "../cli/output.js";
import { createTerminal } from "../cli/terminal.js";
import { awsFailure } from "../engine/messages.js";
import { readTarget } from "../engine/plan.js";
import { systemClock } from "../engine/ports.js";
import { KeyctlError } from "../errors.js";
import { isPreviousProfile, listProfiles } from "../profiles.js";
import { Journal } from "../store/journal.js";
import { credentialsPath } from "../store/paths.js";
import { CredentialsStore } from "../store/store.js";
import { type CommandContext, openFor } from "./context.js";
import { runListKeys } from "./list-keys.js";
import { renderRotation, rotationJson } from "./render.js";

/** Commands that talk to AWS. This module pulls in the SDK; --help and --list never load it. */
export async function runAws(input: CliInput, out: Output): Promise<number> {
  const store = new CredentialsStore(credentialsPath(input.credentials));
  const file = await store.read();
  const terminal = createTerminal({ yes: input.yes });
  const ctx: CommandContext = { input, out, terminal, store, file };
  if (process.env.AWS_ACCESS_KEY_ID) {
    out.warn(
      "AWS_ACCESS_KEY_ID is set in the environment: the AWS CLI will use it instead of the profiles in the credentials file.",
    );
  }
  switch (input.command) {
    case "list-keys":
    case "list-all-keys":
      return runListKeys(ctx);
    case "interactive":
      return runInteractive(ctx);
    case "rotate":
      return runRotate(
        ctx,
        input.auth,
        input.targets.length > 0 ? input.targets : input.auth ? [input.auth] : [],
      );
    default:
      throw new KeyctlError(`${input.command} is not available yet.`);
  }
}

async function runInteractive(ctx: CommandContext): Promise<number> {
  const profiles = listProfiles(ctx.file.doc).map((p) => p.name);
  if (profiles.length === 0) throw new KeyctlError(`No profiles in ${ctx.file.path}; nothing to rotate.`);
  if (!ctx.terminal.canPrompt) {
    throw new KeyctlError(
      "No terminal for the profile menu; name the profiles: keyctl -t PROFILE [-a AUTH_PROFILE].",
      2,
    );
  }
  const auth = await ctx.terminal.choose(
    "Select the profile to use for AWS API authentication:\n(its credentials call IAM)\n",
    profiles,
  );
  process.stderr.write(`\n${"=".repeat(60)}\n`);
  const target = await ctx.terminal.choose(
    "Select the profile whose keys you want to rotate:\n(it gets the new key)\n",
    profiles.filter((p) => !isPreviousProfile(p)),
  );
  return runRotate(ctx, auth, [target]);
}

async function runRotate(
  ctx: CommandContext,
  authProfile: string | undefined,
  targets: readonly string[],
): Promise<number> {
  const { rotate } = await import("../engine/rotate.js");
  const { input, out, terminal, store } = ctx;
  if (targets.length !== 1)
    throw new KeyctlError("Rotating several profiles at once is not available yet.", 2);
  const profile = targets[0]!;
  readTarget(ctx.file.doc, profile, ctx.file.path);
  const sessions = await openFor(ctx, authProfile ?? profile);
  const spinner =
    out.interactive && !out.json ? await import("./spinner.js").then((m) => m.createSpinner(out)) : undefined;
  try {
    const result = await rotate(
      {
        profile,
        oldKeyPolicy: input.oldKey,
        yes: input.yes,
        dryRun: input.dryRun,
        verifyTimeoutMs: input.verifyTimeoutMs,
        ...(input.user !== undefined ? { userFlag: input.user } : {}),
      },
      {
        store,
        journal: new Journal(store.path),
        auth: sessions.auth,
        sts: sessions.sts,
        clock: systemClock,
        confirm: (q, flag) => terminal.confirm(q, flag),
        events: (e) => {
          if (e.type === "note") out.note(e.message);
          else if (e.type === "warn") out.warn(e.message);
          else if (e.type === "verifying") spinner?.update(e.elapsedMs, e.timeoutMs);
          else spinner?.stop();
        },
      },
    );
    spinner?.stop();
    if (out.json) out.document(rotationJson(result, store.path));
    else renderRotation(result, out, store.path);
    return result.exitCode;
  } catch (err) {
    spinner?.stop();
    throw awsFailure(err);
  }
}
