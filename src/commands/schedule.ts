// `keyctl --print-schedule`: the unattended daily run, ready to paste into crontab or systemd.
// Absolute paths everywhere: cron and systemd start with a bare PATH and no shell profile.

import { realpathSync } from "node:fs";
import type { CliInput } from "../cli/args.js";
import type { Output } from "../cli/output.js";
import { ExitCode } from "../errors.js";
import { configPath, credentialsPath } from "../store/paths.js";
import { shellQuote } from "./handoff.js";

export const DEFAULT_OLDER_THAN_DAYS = 90;
export const DEFAULT_FINISH_AFTER_DAYS = 7;

/** The flags of the scheduled run: no prompt can be answered there, hence --yes. */
export function scheduledArgs(input: CliInput, env: NodeJS.ProcessEnv = process.env): string[] {
  const args: string[] = [];
  if (input.credentials !== undefined || env.AWS_SHARED_CREDENTIALS_FILE) {
    args.push("--credentials", credentialsPath(input.credentials, env));
  }
  if (input.auth !== undefined) args.push("-a", input.auth);
  if (input.targets.length > 0) for (const t of input.targets) args.push("-t", t);
  else args.push("--all");
  args.push("--older-than", String(input.olderThanDays ?? DEFAULT_OLDER_THAN_DAYS));
  args.push("--finish-after", String(input.finishAfterDays ?? DEFAULT_FINISH_AFTER_DAYS));
  for (const command of input.handOff) args.push("--then", command);
  if (input.thenTimeoutMs !== 300_000) args.push("--then-timeout", String(input.thenTimeoutMs / 1000));
  args.push("--yes");
  return args;
}

/** The environment the scheduled run needs from this shell, as name and value. */
function scheduledEnv(input: CliInput, env: NodeJS.ProcessEnv): [string, string][] {
  const vars: [string, string][] = [];
  // Hand-off commands (gh, op, aws) are found through this shell's PATH, not cron's bare one.
  if (input.handOff.length > 0 && env.PATH) vars.push(["PATH", env.PATH]);
  // The config file's keys and auth profiles: the same file as here (absolute: cron starts in HOME).
  if (env.AWS_CONFIG_FILE) vars.push(["AWS_CONFIG_FILE", configPath(env)]);
  return vars;
}

function cliScript(): string {
  const script = process.argv[1] ?? "keyctl";
  try {
    return realpathSync(script);
  } catch {
    return script;
  }
}

/** systemd's own quoting: a word with a space, quote or backslash goes in double quotes. */
function systemdQuote(word: string): string {
  const escaped = word.replaceAll("%", "%%").replaceAll("$", "$$$$");
  return /^[^\s"'\\;]+$/.test(escaped)
    ? escaped
    : `"${escaped.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

export interface Schedule {
  readonly crontab: string;
  readonly service: string;
  readonly timer: string;
}

export function renderSchedule(input: CliInput, env: NodeJS.ProcessEnv = process.env): Schedule {
  const every = input.everyDays ?? 1;
  const argv = [process.execPath, cliScript(), ...scheduledArgs(input, env)];
  // A fixed minute off the hour: thousands of machines do not all call IAM at 00:00.
  const cronDays = every === 1 ? "*" : `*/${every}`;
  // cron runs the line through /bin/sh, where % ends the command: escape it.
  const vars = scheduledEnv(input, env);
  const cronCommand = [...vars.map(([k, v]) => `${k}=${shellQuote(v)}`), ...argv.map(shellQuote)]
    .join(" ")
    .replaceAll("%", "\\%");
  const calendar = every === 1 ? "*-*-* 03:17:00" : `*-*-1/${every} 03:17:00`;
  return {
    crontab: `17 3 ${cronDays} * * ${cronCommand}`,
    service: `[Unit]
Description=Rotate AWS access keys and retire unused old ones (keyctl)
After=network-online.target

[Service]
Type=oneshot
${vars.map(([k, v]) => `Environment=${systemdQuote(`${k}=${v}`)}\n`).join("")}ExecStart=${argv.map(systemdQuote).join(" ")}
`,
    timer: `[Unit]
Description=Run keyctl ${every === 1 ? "daily" : `every ${every} days`}

[Timer]
OnCalendar=${calendar}
Persistent=true
RandomizedDelaySec=30min

[Install]
WantedBy=timers.target
`,
  };
}

export function runSchedule(input: CliInput, out: Output): number {
  const s = renderSchedule(input);
  if (out.json) {
    out.document(s);
    return ExitCode.ok;
  }
  const every = input.everyDays ?? 1;
  out.result(`# crontab -e, then add this line (03:17 ${every === 1 ? "every day" : `every ${every} days`}; cron mails you the output):
${s.crontab}

# Or a systemd user timer: save the two units below, then run
#   systemctl --user daemon-reload && systemctl --user enable --now keyctl.timer
# ~/.config/systemd/user/keyctl.service
${s.service}
# ~/.config/systemd/user/keyctl.timer
${s.timer}`);
  return ExitCode.ok;
}
