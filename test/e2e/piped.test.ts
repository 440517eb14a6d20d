// Scripts written for the original pipe their answers in: menu choices and confirmations read
// standard input line by line when it is not a terminal, and the end of input names the flag.
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { callerIdentity } from "../harness/fixtures.js";
import { motoEnv } from "../harness/moto.js";
import { type CliRun, cliPath, keyOf, makeHome, profileText, readProfile, runCli } from "./cli.js";
import { useWorld } from "./world.js";

const w = useWorld();

/** Runs `<feeder> | keyctl args` (or `keyctl args </dev/null`) through the shell, as a script would. */
function shell(feeder: string, args: readonly string[], home: string): Promise<CliRun> {
  const cli = [process.execPath, cliPath(), ...args].map((a) => `'${a}'`).join(" ");
  const line = feeder === "</dev/null" ? `${cli} </dev/null` : `${feeder} | ${cli}`;
  return new Promise((resolve, reject) => {
    const child = spawn("sh", ["-c", line], {
      env: { PATH: process.env.PATH ?? "", HOME: home, NO_COLOR: "1", ...motoEnv(w.endpoint) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", reject);
    child.on("close", (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

async function adminAndDev() {
  const admin = await w.fx.createUserWithKey("admin", { policy: "admin" });
  const dev = await w.fx.createUserWithKey("dev", { policy: "none" });
  return { admin, dev, ...(await makeHome(`${profileText("admin", admin)}\n${profileText("dev", dev)}`)) };
}

describe("answers piped in", () => {
  it("printf '1\\n2\\n' | keyctl picks admin to sign, rotates dev, and logs both answers", async () => {
    const { dev, home, credentials } = await adminAndDev();
    const run = await shell("printf '1\\n2\\n'", [], home);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/\(or 'q' to quit\): 1\n/);
    expect(run.stderr).toMatch(/\(or 'q' to quit\): 2\n/);
    expect(run.stdout).toMatch(/Rotated profile dev/);
    const now = keyOf(await readProfile(credentials, "dev"));
    expect(now.accessKeyId).not.toBe(dev.accessKeyId);
    expect(await callerIdentity(w.endpoint, now)).toContain(":user/dev");
  });

  it("printf 'q\\n' | keyctl quits with 130 and changes nothing", async () => {
    const { home, credentials } = await adminAndDev();
    const before = await readFile(credentials, "utf8");
    const run = await shell("printf 'q\\n'", [], home);
    expect(run.status, run.stderr).toBe(130);
    expect(await readFile(credentials, "utf8")).toBe(before);
    expect(w.proxy.calls).toHaveLength(0);
  });

  it("yes | keyctl -t dev answers the confirmation for a profile sharing the key", async () => {
    const dev = await w.fx.createUserWithKey("dev");
    const { home, credentials } = await makeHome(`${profileText("dev", dev)}\n${profileText("dev-ci", dev)}`);
    const run = await shell("yes", ["-t", "dev"], home);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/\[y\/N\] y\n/);
    const now = keyOf(await readProfile(credentials, "dev"));
    expect(now.accessKeyId).not.toBe(dev.accessKeyId);
    expect(keyOf(await readProfile(credentials, "dev-ci"))).toEqual(now);
  });

  it("keyctl </dev/null fails at once naming the flags that answer the menu, and changes nothing", async () => {
    const { home, credentials } = await adminAndDev();
    const before = await readFile(credentials, "utf8");
    const run = await shell("</dev/null", [], home);
    expect(run.status).toBe(2);
    const errors = run.stderr.split("\n").filter((l) => l.startsWith("keyctl:"));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/pass -t PROFILE \[-a AUTH_PROFILE\]/);
    expect(await readFile(credentials, "utf8")).toBe(before);
    expect(w.proxy.calls).toHaveLength(0);
  });

  it("a confirmation at the end of piped input fails naming --yes and changes nothing", async () => {
    const dev = await w.fx.createUserWithKey("dev");
    const { home, credentials } = await makeHome(`${profileText("dev", dev)}\n${profileText("dev-ci", dev)}`);
    const before = await readFile(credentials, "utf8");
    const run = await runCli(["-t", "dev"], { home, endpoint: w.endpoint, input: "" });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/dev-ci .*--yes/);
    expect(await readFile(credentials, "utf8")).toBe(before);
  });

  it("a menu answer that is not on the menu stops a script instead of asking for ever", async () => {
    const { home, credentials } = await adminAndDev();
    const before = await readFile(credentials, "utf8");
    const run = await shell("yes", [], home);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/"y" is not on the menu; pass -t PROFILE/);
    expect(await readFile(credentials, "utf8")).toBe(before);
  });
});
