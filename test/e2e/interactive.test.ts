// The interactive flow of the original: a numbered menu for the auth profile, then the target,
// `q` quits. Run under a real pseudo-terminal (util-linux `script`), answers typed ahead.
import { spawn, spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { callerIdentity } from "../harness/fixtures.js";
import { motoEnv } from "../harness/moto.js";
import { cliPath, keyOf, makeHome, profileText, readProfile } from "./cli.js";
import { useWorld } from "./world.js";

const hasScript = spawnSync("script", ["--version"]).status === 0;

const w = useWorld();

function inTerminal(answers: string, home: string): Promise<{ code: number | null; screen: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("script", ["-qec", `${process.execPath} ${cliPath()}`, "/dev/null"], {
      env: { PATH: process.env.PATH ?? "", HOME: home, NO_COLOR: "1", TERM: "xterm", ...motoEnv(w.endpoint) },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let screen = "";
    child.stdout.on("data", (d: Buffer) => {
      screen += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      screen += d.toString();
    });
    child.stdin.end(answers);
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, screen }));
  });
}

describe.skipIf(!hasScript)("interactive menu", () => {
  it("picks the auth profile, then the target, and rotates with no further question", async () => {
    const admin = await w.fx.createUserWithKey("admin", { policy: "admin" });
    const dev = await w.fx.createUserWithKey("dev", { policy: "none" });
    const { home, credentials } = await makeHome(
      `${profileText("admin", admin)}\n${profileText("dev", dev)}`,
    );
    const run = await inTerminal("1\n2\n", home);
    expect(run.code, run.screen).toBe(0);
    expect(run.screen).toMatch(/1\. admin/);
    expect(run.screen).toMatch(/2\. dev/);
    expect(run.screen).toMatch(/Rotated profile dev/);
    const now = keyOf(await readProfile(credentials, "dev"));
    expect(now.accessKeyId).not.toBe(dev.accessKeyId);
    expect(await callerIdentity(w.endpoint, now)).toContain(":user/dev");
    expect(run.screen).not.toContain(now.secretAccessKey);
  });

  it("q quits with exit 130 and changes nothing", async () => {
    const dev = await w.fx.createUserWithKey("dev");
    const { home, credentials } = await makeHome(profileText("dev", dev));
    const before = await readFile(credentials, "utf8");
    const run = await inTerminal("1\nq\n", home);
    expect(run.code).toBe(130);
    expect(await readFile(credentials, "utf8")).toBe(before);
    expect(w.proxy.calls).toHaveLength(0);
  });
});
