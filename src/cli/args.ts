import { parseArgs as parseArgv } from "node:util";
import type { OldKeyPolicy } from "../engine/plan.js";
import { ExitCode, UsageError } from "../errors.js";

export type CommandName =
  | "list"
  | "list-keys"
  | "list-all-keys"
  | "rotate"
  | "interactive"
  | "finish"
  | "restore"
  // The key lifecycle (issue 11): staged retirement alone, the hand-off alone, the audit record,
  // the schedule printer.
  | "retire"
  | "handoff"
  | "history"
  | "schedule";

export interface CliInput {
  readonly command: CommandName;
  readonly credentials?: string;
  readonly auth?: string;
  readonly targets: readonly string[];
  readonly all: boolean;
  readonly user?: string;
  /** Where the old key is kept instead of `<profile>-previous`. */
  readonly previousName?: string;
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
  /** Staged retirement: deactivate the old key after this many unused days, delete as many later. */
  readonly finishAfterDays?: number;
  /** Hand-off commands run with the new key in their environment (--then, repeatable). */
  readonly handOff: readonly string[];
  readonly thenTimeoutMs: number;
  /** For --print-schedule: run every this many days. */
  readonly everyDays?: number;
}

/** Filled in by the build from package.json. */
declare const KEYCTL_VERSION: string;
export const VERSION = typeof KEYCTL_VERSION === "string" ? KEYCTL_VERSION : "0.0.0-dev";

// Node's own util.parseArgs: a full argument library pulls in child_process at start-up, and
// `keyctl --help` / `--list` must stay close to bare node.
const OPTIONS = {
  "auth-profile": { type: "string", short: "a" },
  "target-profile": { type: "string", short: "t", multiple: true },
  all: { type: "boolean" },
  list: { type: "boolean", short: "l" },
  "list-keys": { type: "boolean", short: "k" },
  "list-all-keys": { type: "boolean" },
  credentials: { type: "string", short: "c" },
  user: { type: "string" },
  "previous-name": { type: "string" },
  "old-key": { type: "string" },
  yes: { type: "boolean", short: "y" },
  "dry-run": { type: "boolean" },
  json: { type: "boolean" },
  "mfa-code": { type: "string" },
  "verify-timeout": { type: "string" },
  "older-than": { type: "string" },
  concurrency: { type: "string" },
  finish: { type: "boolean" },
  restore: { type: "boolean" },
  "keep-backups": { type: "string" },
  "no-color": { type: "boolean" },
  "finish-after": { type: "string" },
  // biome-ignore lint/suspicious/noThenProperty: the name of the --then flag; never awaited
  then: { type: "string", multiple: true },
  "then-timeout": { type: "string" },
  "handoff-only": { type: "boolean" },
  history: { type: "boolean" },
  "print-schedule": { type: "boolean" },
  every: { type: "string" },
  version: { type: "boolean", short: "V" },
  help: { type: "boolean", short: "h" },
} as const;

export const HELP = `Usage: keyctl [options] [profile]

Rotate AWS IAM user access keys and update the shared credentials file safely.

Rotation:
  [profile], -t, --target-profile NAME  profile whose key is rotated (repeat -t for several)
  -a, --auth-profile NAME    profile whose credentials call IAM (default: the target itself)
  --all                      every profile of the file that holds a long-term key
  --user NAME                IAM user name of the target (skips the lookup)
  --old-key keep|deactivate|delete
                             what happens to the old key once the new one works (default: keep)
  --previous-name NAME       keep the old key in [NAME] instead of [<profile>-previous]
  --older-than DAYS          only keys older than DAYS (also filters -k and --list-all-keys)
  --concurrency N            rotations at once with several targets (default: 8)
  --verify-timeout SECONDS   how long to wait for AWS to accept a new key (default: 120)
  --mfa-code CODE            MFA code for an auth profile with mfa_serial
  -y, --yes                  answer yes to every confirmation (needed without a terminal)
  --dry-run                  print the plan and change nothing

Other commands:
  -l, --list                 list the profiles of the credentials file
  -k, --list-keys            list the IAM user's access keys (read-only)
  --list-all-keys            list every IAM user's access keys (read-only, needs -a ADMIN)
  --finish                   retire the old key kept in <profile>-previous
  --restore [BACKUP]         restore the newest (or the named) backup of the credentials or config file
  --keep-backups N           keep the newest N backups of the file (default: 10)

Key lifecycle:
  --finish-after DAYS        retire old keys in <profile>-previous once unused for DAYS days since
                             the rotation: deactivate, and DAYS days later delete (DAYS >= 1).
                             Without --older-than or --old-key it rotates nothing
  --then 'COMMAND'           after the new key works, run COMMAND (sh -c) with the new key in
                             AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; if it fails the old key
                             stays active (repeatable; also 'then =' in [keyctl profile P] of
                             the AWS config file)
  --then-timeout SECONDS     how long a --then command may run (default: 300)
  --handoff-only             run only the hand-off commands with the profile's current key
  --history                  show the record of key changes (with -t P for one profile)
  --print-schedule           print a crontab line and a systemd timer for unattended runs
  --every DAYS               with --print-schedule: how often (default: 1)

General:
  -c, --credentials PATH     credentials file (default: $AWS_SHARED_CREDENTIALS_FILE
                             or ~/.aws/credentials)
  --json                     print one JSON document on stdout
  --no-color                 no colours (NO_COLOR is honoured too)
  -V, --version              print the version
  -h, --help                 show this help

Examples:
  keyctl                        pick the auth and target profiles from a menu
  keyctl -t dev                 rotate the key of profile dev, signing in as dev
  keyctl -a admin -t alice      rotate alice's key, calling IAM as admin
  keyctl -k -t dev              show the IAM user's keys (read-only)
  keyctl --all --older-than 80 --old-key deactivate --yes    (for cron)
  keyctl --finish -t dev        delete dev's old key once nothing uses it
  keyctl --all --older-than 90 --finish-after 7 --yes       (daily, unattended)

Exit codes: 0 done, 1 failed and nothing changed, 2 usage error,
            3 partly done (the message says what is left), 130 cancelled.
`;

function numberWanted(flag: string, min: number, value: string | undefined): string {
  return `${flag} takes a whole number of at least ${min}${value ? `, not '${value}'` : ""}.`;
}

function wholeNumber(flag: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min) throw new UsageError(numberWanted(flag, min, value));
  return Number(value);
}

const NUMBER_MIN: Record<string, number> = {
  "--older-than": 0,
  "--verify-timeout": 1,
  "--concurrency": 1,
  "--keep-backups": 1,
};

/** Node's parser speaks in several lines and about its own syntax; the user gets one line. */
function parseErrorLine(err: unknown, argv: readonly string[]): string {
  const first = (err instanceof Error ? err.message : String(err)).split("\n")[0]!.replace(/\.$/, "");
  const code = err && typeof err === "object" && "code" in err ? err.code : undefined;
  const flag = /'(--?[\w-]+)/.exec(first)?.[1];
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && flag && /ambiguous/.test(first)) {
    // "--older-than -5": the parser takes "-5" for an option and refuses the pair as ambiguous.
    const at = argv.indexOf(flag);
    const value = at >= 0 ? argv[at + 1] : undefined;
    const long = Object.entries(OPTIONS).find(
      ([, spec]) => "short" in spec && `-${spec.short}` === flag,
    )?.[0];
    const name = long ? `--${long}` : flag;
    const min = NUMBER_MIN[name];
    if (min !== undefined) return numberWanted(name, min, value);
    return `${name} needs a value${value ? `, and '${value}' looks like an option; write ${name}=${value} if you mean it` : ""}.`;
  }
  // Node adds advice about positional arguments after '--', which keyctl does not take.
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && flag) return `Unknown option ${flag}; see keyctl --help.`;
  return `${first} (see keyctl --help)`;
}

type CommandGroup = "list" | "list-keys" | "list-all-keys" | "rotate" | "finish" | "restore";

const COMMAND_FLAG: Record<CommandGroup, string> = {
  list: "--list",
  "list-keys": "--list-keys",
  "list-all-keys": "--list-all-keys",
  rotate: "a rotation",
  finish: "--finish",
  restore: "--restore",
};

// Which commands each option means something to. Options not listed (--credentials, --json,
// --no-color, and any added later) apply everywhere.
const APPLIES_TO: Partial<Record<keyof typeof OPTIONS, readonly CommandGroup[]>> = {
  "auth-profile": ["list-keys", "list-all-keys", "rotate", "finish"],
  all: ["rotate", "finish"],
  user: ["list-keys", "rotate", "finish"],
  "old-key": ["rotate"],
  yes: ["rotate", "finish", "restore"],
  "dry-run": ["rotate", "finish", "restore"],
  "mfa-code": ["list-keys", "list-all-keys", "rotate", "finish"],
  "verify-timeout": ["rotate"],
  "older-than": ["list-keys", "list-all-keys", "rotate"],
  concurrency: ["rotate", "finish"],
  "keep-backups": ["rotate", "finish", "restore"],
};

function describeUse(groups: readonly CommandGroup[]): string {
  const names = groups.map((g) => COMMAND_FLAG[g]);
  return names.length === 1 ? names[0]! : `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
}

/** A flag the chosen command would silently ignore is refused: the user meant something by it. */
function refuseInapplicable(
  command: CommandName,
  given: Record<string, unknown>,
  hasTargets: boolean,
  argv: readonly string[],
): void {
  // The schedule printer carries rotation flags into the lines it prints; the history takes none
  // that could mislead. Staged retirement alone is a --finish, the hand-off alone a rotation's step.
  if (command === "schedule" || command === "history") return;
  const group: CommandGroup =
    command === "interactive" || command === "handoff" ? "rotate" : command === "retire" ? "finish" : command;
  // The first one the user typed is the one named.
  const position = (name: keyof typeof OPTIONS) => {
    const spec = OPTIONS[name];
    const short = "short" in spec ? `-${spec.short}` : undefined;
    const at = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`) || a === short);
    return at < 0 ? argv.length : at;
  };
  const wrong = (Object.entries(APPLIES_TO) as [keyof typeof OPTIONS, CommandGroup[]][])
    .filter(([name, groups]) => given[name] !== undefined && !groups.includes(group))
    .sort(([a], [b]) => position(a) - position(b));
  for (const [name, groups] of wrong) {
    throw new UsageError(
      `--${name} belongs to ${describeUse(groups)}, not to ${COMMAND_FLAG[group]}; drop it (see keyctl --help).`,
    );
  }
  if (hasTargets && (group === "list" || group === "restore")) {
    throw new UsageError(
      `${COMMAND_FLAG[group]} takes no profile${group === "list" ? "; to see a profile's keys use keyctl -k -t PROFILE" : ""}.`,
    );
  }
}

export type ParseOutcome = { kind: "run"; input: CliInput } | { kind: "exit"; code: number };

/** Parses argv (without node and script). Help and version print and return an exit. */
export function parseArgs(argv: readonly string[]): ParseOutcome {
  let parsed: ReturnType<
    typeof parseArgv<{ args: string[]; options: typeof OPTIONS; allowPositionals: true }>
  >;
  try {
    parsed = parseArgv({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(parseErrorLine(err, argv));
  }
  const o = parsed.values;
  // --json promises one JSON document on stdout on every path, these two included.
  const print = (field: string, text: string) =>
    process.stdout.write(o.json ? `${JSON.stringify({ [field]: text.trimEnd() }, null, 2)}\n` : text);
  if (o.help) {
    print("help", HELP);
    return { kind: "exit", code: ExitCode.ok };
  }
  if (o.version) {
    print("version", `${VERSION}\n`);
    return { kind: "exit", code: ExitCode.ok };
  }
  const positionals = [...parsed.positionals];
  let restore: string | true | undefined;
  if (o.restore) restore = positionals.shift() ?? true;
  if (positionals.length > 1)
    throw new UsageError(`Too many arguments: ${positionals.join(" ")} (see keyctl --help)`);
  const positional = positionals[0];
  if (positional !== undefined && o["target-profile"] !== undefined) {
    // `keyctl alice -t admin` reads like "alice, as admin"; a batch of two would be a surprise.
    const other = o["target-profile"][0];
    throw new UsageError(
      `Give profiles either as the argument or with -t, not both: keyctl -a ${other} -t ${positional} signs in as ${other}, keyctl -t ${positional} -t ${other} rotates both.`,
    );
  }
  const targets = [...(positional !== undefined ? [positional] : []), ...(o["target-profile"] ?? [])];

  const oldKey = o["old-key"] ?? "keep";
  if (oldKey !== "keep" && oldKey !== "deactivate" && oldKey !== "delete") {
    throw new UsageError(`--old-key takes keep, deactivate or delete, not '${oldKey}'.`);
  }
  const modes = [
    o.list,
    o["list-keys"],
    o["list-all-keys"],
    o.finish,
    o.restore,
    o["handoff-only"],
    o.history,
    o["print-schedule"],
  ].filter(Boolean).length;
  if (modes > 1) {
    throw new UsageError(
      "Choose one of --list, --list-keys, --list-all-keys, --finish, --restore, --handoff-only, --history and --print-schedule.",
    );
  }
  const mfaCode = o["mfa-code"];
  if (mfaCode !== undefined && !/^\d{6}$/.test(mfaCode)) {
    throw new UsageError("--mfa-code takes the 6 digits your MFA device shows.");
  }
  const auth = o["auth-profile"];
  if (auth === "" || targets.includes("")) {
    throw new UsageError(
      `An empty profile name (${auth === "" ? "-a" : "-t"} "") names no profile; give its name (see keyctl --list).`,
    );
  }
  let command: CommandName;
  if (o.list) command = "list";
  else if (o["list-keys"]) command = "list-keys";
  else if (o["list-all-keys"]) command = "list-all-keys";
  else if (o.finish) command = "finish";
  else if (o.restore) command = "restore";
  else if (o["handoff-only"]) command = "handoff";
  else if (o.history) command = "history";
  else if (o["print-schedule"]) command = "schedule";
  else if (o["finish-after"] !== undefined && o["older-than"] === undefined && o["old-key"] === undefined)
    command = "retire";
  else if (targets.length === 0 && !o.all && auth === undefined) command = "interactive";
  else command = "rotate";

  if (o.all && targets.length > 0) throw new UsageError("Use either --all or target profiles, not both.");
  if (command === "list-all-keys" && auth === undefined && targets.length === 0) {
    throw new UsageError("--list-all-keys needs the admin profile: keyctl --list-all-keys -a ADMIN");
  }
  const previousName = o["previous-name"];
  if (previousName !== undefined && (previousName.trim() === "" || /[[\]\r\n]/.test(previousName))) {
    throw new UsageError("--previous-name takes a profile name (no brackets or line breaks).");
  }
  if (previousName !== undefined && (o.all || targets.length > 1 || command !== "rotate")) {
    throw new UsageError(
      "--previous-name goes with the rotation of one profile: keyctl -t PROFILE --previous-name NAME",
    );
  }
  refuseInapplicable(command, o, targets.length > 0, argv);
  const olderThanDays = wholeNumber("--older-than", o["older-than"], 0);
  const keepBackups = wholeNumber("--keep-backups", o["keep-backups"], 1);
  const lifecycle = lifecycleOptions(o, command, oldKey, targets);
  const input: CliInput = {
    command,
    targets,
    all: o.all === true,
    oldKey,
    yes: o.yes === true,
    dryRun: o["dry-run"] === true,
    json: o.json === true,
    noColor: o["no-color"] === true,
    verifyTimeoutMs: (wholeNumber("--verify-timeout", o["verify-timeout"], 1) ?? 120) * 1000,
    concurrency: wholeNumber("--concurrency", o.concurrency, 1) ?? 8,
    ...(o.credentials !== undefined ? { credentials: o.credentials } : {}),
    ...(auth !== undefined ? { auth } : {}),
    ...(o.user !== undefined ? { user: o.user } : {}),
    ...(previousName !== undefined ? { previousName } : {}),
    ...(mfaCode !== undefined ? { mfaCode } : {}),
    ...(olderThanDays !== undefined ? { olderThanDays } : {}),
    ...(keepBackups !== undefined ? { keepBackups } : {}),
    ...(restore !== undefined ? { restore } : {}),
    ...lifecycle,
  };
  return { kind: "run", input };
}

type ParsedOptions = ReturnType<
  typeof parseArgv<{ options: typeof OPTIONS; allowPositionals: true }>
>["values"];

function lifecycleOptions(
  o: ParsedOptions,
  command: CommandName,
  oldKey: OldKeyPolicy,
  targets: readonly string[],
) {
  // AWS fills in last-used data hours late: a key "unused for 0 days" may be in use right now.
  const finishAfterDays = wholeNumber("--finish-after", o["finish-after"], 1);
  const handOff = o.then ?? [];
  if (handOff.some((c) => c.trim() === ""))
    throw new UsageError("--then takes a command, e.g. --then 'gh secret set ...'.");
  if (finishAfterDays !== undefined && oldKey === "keep" && o["old-key"] !== undefined) {
    throw new UsageError("--old-key keep and --finish-after contradict each other; drop one of them.");
  }
  if (finishAfterDays !== undefined && !["rotate", "finish", "retire", "schedule"].includes(command)) {
    throw new UsageError("--finish-after goes with a rotation, --finish, -t PROFILE or --all.");
  }
  if (handOff.length > 0 && !["rotate", "handoff", "schedule"].includes(command)) {
    throw new UsageError("--then goes with a rotation (-t PROFILE, --all) or --handoff-only.");
  }
  if (command === "handoff" && targets.length === 0) {
    throw new UsageError(
      "--handoff-only needs the profile: keyctl --handoff-only -t PROFILE [--then 'COMMAND']",
    );
  }
  if (o.every !== undefined && command !== "schedule")
    throw new UsageError("--every goes with --print-schedule.");
  const everyDays = wholeNumber("--every", o.every, 1);
  return {
    handOff,
    thenTimeoutMs: (wholeNumber("--then-timeout", o["then-timeout"], 1) ?? 300) * 1000,
    ...(finishAfterDays !== undefined ? { finishAfterDays } : {}),
    ...(everyDays !== undefined ? { everyDays } : {}),
  };
}
