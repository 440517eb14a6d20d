// --print-schedule: what it prints must be accepted by systemd and by cron as it is.
import { spawnSync } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const CLI = resolve(import.meta.dirname, "../../dist/keyctl.mjs");
const HOOK = `gh secret set AWS_SECRET_ACCESS_KEY --body "$AWS_SECRET_ACCESS_KEY" # 100%`;

function schedule(args: string[], env: Record<string, string> = {}) {
  const run = spawnSync(process.execPath, [CLI, "--print-schedule", "--json", ...args], {
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tmpdir(), ...env },
  });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as { crontab: string; service: string; timer: string };
}

/** The five time fields of a crontab line, each a list of ranges with optional steps. */
function cronProblems(line: string): string[] {
  const fields = line.trim().split(/\s+/);
  const limits: [number, number][] = [
    [0, 59],
    [0, 23],
    [1, 31],
    [1, 12],
    [0, 7],
  ];
  const problems: string[] = [];
  if (fields.length < 6) problems.push("fewer than 5 time fields and a command");
  limits.forEach(([lo, hi], i) => {
    for (const part of (fields[i] ?? "").split(",")) {
      const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
      const nums = m ? [m[2], m[3], m[4]].filter((n) => n !== undefined).map(Number) : [];
      if (!m || nums.slice(0, 2).some((n) => n < lo || n > hi) || (m[4] !== undefined && Number(m[4]) < 1)) {
        problems.push(`field ${i + 1} '${part}'`);
      }
    }
  });
  return problems;
}

describe("--print-schedule", () => {
  it("prints a crontab line with absolute paths, the unattended flags and no prompt", () => {
    const s = schedule(["--every", "3", "--then", HOOK]);
    expect(cronProblems(s.crontab)).toEqual([]);
    expect(cronProblems("17 3 32 * * /bin/true"), "the check sees a bad field").toEqual(["field 3 '32'"]);
    expect(s.crontab).toMatch(/^17 3 \*\/3 \* \* /);
    const command = s.crontab.split(/\s+/).slice(5).join(" ");
    // The hand-off's tools are found on the PATH of the shell that printed the schedule.
    const prefix = `PATH=${process.env.PATH} ${process.execPath} ${CLI} --all --older-than 90 --finish-after 7`;
    expect(command.startsWith(prefix), command).toBe(true);
    expect(command.endsWith("--yes")).toBe(true);
    // cron turns a bare % into a newline; sh must get the hook back as one word.
    expect(command).not.toMatch(/[^\\]%/);
    const sh = spawnSync(
      "/bin/sh",
      ["-c", `printf '%s\\n' ${command.replace(/^\S+ \S+ \S+ /, "").replaceAll("\\%", "%")}`],
      {
        encoding: "utf8",
      },
    );
    expect(sh.stdout.split("\n")).toContain(HOOK);
  });

  it("carries AWS_CONFIG_FILE, made absolute, so the scheduled run reads the same config file", () => {
    const config = "/srv/aws conf/config";
    const s = schedule(["-t", "dev"], { AWS_CONFIG_FILE: config });
    const command = s.crontab.split(/\s+/).slice(5).join(" ");
    expect(command.startsWith(`AWS_CONFIG_FILE='${config}' ${process.execPath} ${CLI} -t dev`), command).toBe(
      true,
    );
    expect(s.service).toContain(`Environment="AWS_CONFIG_FILE=${config}"\n`);
    const sh = spawnSync("/bin/sh", ["-c", `${command.replace(/ \S+ \S+ -t dev .*$/, "")} env`], {
      encoding: "utf8",
    });
    expect(sh.stdout.split("\n")).toContain(`AWS_CONFIG_FILE=${config}`);

    const unset = schedule(["-t", "dev"]);
    expect(unset.crontab).not.toContain("AWS_CONFIG_FILE");
    expect(unset.service).not.toContain("AWS_CONFIG_FILE");
    const relative = schedule(["-t", "dev"], { AWS_CONFIG_FILE: "conf/aws" });
    expect(relative.crontab).toContain(`AWS_CONFIG_FILE=${join(process.cwd(), "conf/aws")} `);
  });

  it("prints a systemd service and timer that systemd-analyze verify accepts", async (ctx) => {
    const which = spawnSync("sh", ["-c", "command -v systemd-analyze"], { encoding: "utf8" });
    if (which.status !== 0) {
      ctx.skip("systemd-analyze is not installed (apt-get install systemd); the unit check is skipped");
    }
    const s = schedule(["-t", "dev", "--older-than", "80", "--finish-after", "3", "--then", HOOK]);
    expect(s.service).toContain(
      `ExecStart=${process.execPath} ${CLI} -t dev --older-than 80 --finish-after 3`,
    );
    // systemd expands $VAR and %x itself: the hook must reach keyctl as written.
    expect(s.service).toContain(
      `--then "gh secret set AWS_SECRET_ACCESS_KEY --body \\"$$AWS_SECRET_ACCESS_KEY\\" # 100%%"`,
    );
    expect(s.timer).toMatch(/^OnCalendar=\*-\*-\* 03:17:00$/m);
    const dir = await mkdtemp(join(tmpdir(), "keyctl-units-"));
    await writeFile(join(dir, "keyctl.service"), s.service);
    await writeFile(join(dir, "keyctl.timer"), s.timer);
    const verify = spawnSync(
      "systemd-analyze",
      ["verify", join(dir, "keyctl.service"), join(dir, "keyctl.timer")],
      {
        encoding: "utf8",
      },
    );
    expect(verify.status, verify.stderr).toBe(0);
    expect(verify.stderr, "no complaint about the units").not.toMatch(/keyctl\.(service|timer)/);
    // A unit with a broken line is refused: the check can fail.
    await writeFile(join(dir, "broken.service"), s.service.replace("Type=oneshot", "Type=sometimes"));
    const broken = spawnSync("systemd-analyze", ["verify", join(dir, "broken.service")], {
      encoding: "utf8",
    });
    expect(broken.stderr).toMatch(/broken\.service/);
  });
});
