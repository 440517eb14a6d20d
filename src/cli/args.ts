import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { UsageError } from "../errors.js";

export type OldKeyPolicy = "keep" | "deactivate" | "delete";

export type CommandName =
  | "list"
  | "list-keys"
  | "list-all-keys"
  | "rotate"
  | "interactive"
  | "finish"
  | "restore";

export interface CliInput {
  readonly command: CommandName;
  readonly credentials?: string;
  readonly auth?: string;
  readonly targets: readonly string[];
  readonly all: boolean;
  readonly user?: string;
  readonly oldKey: OldKeyPolicy;
  readonly yes: boolean;
  readonly dryRun: boolean;
  readonly json: boolean;
  readonly noColor: boolean;
  readonly mfaCode?: string;
  readonly verifyTimeoutMs: number;
  readonly olderThanDays?: number;
  readonly concurrency: number;
  readonly keepBackups?: number;
  /** `--restore` alone means the newest backup. */
  readonly restore?: string | true;
}

/** Filled in by the build from package.json. */
declare const KEYCTL_VERSION: string;
export const VERSION = typeof KEYCTL_VERSION === "string" ? KEYCTL_VERSION : "0.0.0-dev";

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function wholeNumber(name: string, min: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < min) {
      throw new InvalidArgumentError(`${name} takes a whole number of at least ${min}.`);
    }
    return Number(value);
  };
}

const EXAMPLES = `
Examples:
  keyctl                        pick the auth and target profiles from a menu
  keyctl -t dev                 rotate the key of profile dev, signing in as dev
  keyctl -a admin -t alice      rotate alice's key, calling IAM as admin
  keyctl -k -t dev              show the IAM user's keys (read-only)
  keyctl --list-all-keys -a admin
  keyctl -t dev --old-key deactivate --yes

Exit codes: 0 done, 1 failed and nothing changed, 2 usage error,
            3 partly done (the message says what is left), 130 cancelled.`;

function program(): Command {
  return new Command()
    .name("keyctl")
    .description("Rotate AWS IAM user access keys and update the shared credentials file safely.")
    .argument("[profile]", "profile to rotate (same as -t)")
    .option("-a, --auth-profile <name>", "profile whose credentials call IAM (default: the target itself)")
    .option("-t, --target-profile <name>", "profile whose key is rotated (repeat for several)", collect, [])
    .option("--all", "rotate every profile of the file that holds a long-term key")
    .option("-l, --list", "list the profiles of the credentials file")
    .option("-k, --list-keys", "list the IAM user's access keys (read-only)")
    .option("--list-all-keys", "list every IAM user's access keys (read-only, admin)")
    .option(
      "-c, --credentials <path>",
      "credentials file (default: $AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials)",
    )
    .option("--user <name>", "IAM user name of the target (skips the lookup)")
    .addOption(
      new Option("--old-key <policy>", "what happens to the old key once the new one works")
        .choices(["keep", "deactivate", "delete"])
        .default("keep"),
    )
    .option("-y, --yes", "answer yes to every confirmation (needed without a terminal)")
    .option("--dry-run", "print the plan and change nothing")
    .option("--json", "print one JSON document on stdout")
    .option("--mfa-code <code>", "MFA code for an auth profile with mfa_serial")
    .option(
      "--verify-timeout <seconds>",
      "how long to wait for a new key to work",
      wholeNumber("--verify-timeout", 1),
      120,
    )
    .option("--older-than <days>", "only keys older than this many days", wholeNumber("--older-than", 0))
    .option(
      "--concurrency <n>",
      "rotations run at once with several targets",
      wholeNumber("--concurrency", 1),
      4,
    )
    .option("--finish", "retire the old key kept in <profile>-previous")
    .option("--restore [backup]", "restore the newest (or the named) backup of the credentials file")
    .option(
      "--keep-backups <n>",
      "keep only the newest N backups of the file",
      wholeNumber("--keep-backups", 1),
    )
    .option("--no-color", "no colours")
    .version(VERSION, "-V, --version")
    .helpOption("-h, --help", "show this help")
    .addHelpText("after", EXAMPLES)
    .showSuggestionAfterError(true)
    .allowExcessArguments(false);
}

interface RawOptions {
  authProfile?: string;
  targetProfile: string[];
  all?: boolean;
  list?: boolean;
  listKeys?: boolean;
  listAllKeys?: boolean;
  credentials?: string;
  user?: string;
  oldKey: OldKeyPolicy;
  yes?: boolean;
  dryRun?: boolean;
  json?: boolean;
  mfaCode?: string;
  verifyTimeout: number;
  olderThan?: number;
  concurrency: number;
  finish?: boolean;
  restore?: string | true;
  keepBackups?: number;
  color: boolean;
}

export type ParseOutcome = { kind: "run"; input: CliInput } | { kind: "exit"; code: number };

/** Parses argv (without node and script). Help and version print and return an exit. */
export function parseArgs(argv: readonly string[]): ParseOutcome {
  const cmd = program();
  cmd.exitOverride();
  cmd.configureOutput({
    writeOut: (s) => process.stdout.write(s),
    writeErr: () => {},
  });
  try {
    cmd.parse([...argv], { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version") {
        return { kind: "exit", code: 0 };
      }
      throw new UsageError(`${err.message.replace(/^error: /, "")} (see keyctl --help)`);
    }
    throw err;
  }
  const o = cmd.opts<RawOptions>();
  const targets = [...o.targetProfile];
  const positional = cmd.args[0];
  if (positional !== undefined) targets.unshift(positional);

  const modes = [o.list, o.listKeys, o.listAllKeys, o.finish, o.restore !== undefined].filter(Boolean).length;
  if (modes > 1) {
    throw new UsageError("Choose one of --list, --list-keys, --list-all-keys, --finish and --restore.");
  }
  if (o.mfaCode !== undefined && !/^\d{6}$/.test(o.mfaCode)) {
    throw new UsageError("--mfa-code takes the 6 digits your MFA device shows.");
  }
  let command: CommandName;
  if (o.list) command = "list";
  else if (o.listKeys) command = "list-keys";
  else if (o.listAllKeys) command = "list-all-keys";
  else if (o.finish) command = "finish";
  else if (o.restore !== undefined) command = "restore";
  else if (targets.length === 0 && !o.all && o.authProfile === undefined) command = "interactive";
  else command = "rotate";

  if (o.all && targets.length > 0) throw new UsageError("Use either --all or target profiles, not both.");
  if (command === "list-all-keys" && o.authProfile === undefined && targets.length === 0) {
    throw new UsageError("--list-all-keys needs the admin profile: keyctl --list-all-keys -a ADMIN");
  }

  const input: CliInput = {
    command,
    targets,
    all: o.all === true,
    oldKey: o.oldKey,
    yes: o.yes === true,
    dryRun: o.dryRun === true,
    json: o.json === true,
    noColor: !o.color,
    verifyTimeoutMs: o.verifyTimeout * 1000,
    concurrency: o.concurrency,
    ...(o.credentials !== undefined ? { credentials: o.credentials } : {}),
    ...(o.authProfile !== undefined ? { auth: o.authProfile } : {}),
    ...(o.user !== undefined ? { user: o.user } : {}),
    ...(o.mfaCode !== undefined ? { mfaCode: o.mfaCode } : {}),
    ...(o.olderThan !== undefined ? { olderThanDays: o.olderThan } : {}),
    ...(o.keepBackups !== undefined ? { keepBackups: o.keepBackups } : {}),
    ...(o.restore !== undefined ? { restore: o.restore } : {}),
  };
  return { kind: "run", input };
}
