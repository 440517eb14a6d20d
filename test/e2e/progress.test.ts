// Progress on a terminal, under a real pseudo-terminal (util-linux `script`): a slow AWS step is
// named after a second of waiting, and Ctrl-C clears the status line for good.
import { spawn, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { motoEnv } from "../harness/moto.js";
import { cliPath, makeHome, profileText, runCli } from "./cli.js";
import { useWorld } from "./world.js";

const hasScript = spawnSync("script", ["--version"]).status === 0;

const w = useWorld();

interface Pty {
  readonly screen: () => string;
  readonly type: (text: string) => void;
  readonly exited: Promise<number | null>;
}

function inTerminal(args: readonly string[], home: string): Pty {
  // keyctl's own exit code, printed by the shell: the pty's Ctrl-C reaches the shell too, and a
  // shell that dies of it makes script(1) report 130 whatever keyctl exited with.
  const command = `trap : INT; ${[process.execPath, cliPath(), ...args].join(" ")}; echo "keyctl exited $?"`;
  const child = spawn("script", ["-qec", command, "/dev/null"], {
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
  const exited = new Promise<number | null>((resolve) =>
    child.on("close", () => {
      const code = /keyctl exited (\d+)/.exec(screen)?.[1];
      resolve(code === undefined ? null : Number(code));
    }),
  );
  return { screen: () => screen, type: (text) => child.stdin.write(text), exited };
}

async function until(what: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!what() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}

const SLOW_STEP = /Creating the new key…/;

describe.skipIf(!hasScript)("progress on a terminal", () => {
  it("a slow CreateAccessKey is named after a second; without a terminal nothing is drawn", async () => {
    const key = await w.fx.createUserWithKey("slow");
    const { home } = await makeHome(profileText("slow", key));
    w.gate.inject({ action: "CreateAccessKey", fault: "delay", ms: 2_500, times: 1 });
    const pty = inTerminal(["-t", "slow"], home);
    const code = await pty.exited;
    expect(code, pty.screen()).toBe(0);
    expect(pty.screen()).toMatch(SLOW_STEP);
    expect(pty.screen()).toMatch(/Rotated profile slow/);

    w.gate.inject({ action: "CreateAccessKey", fault: "delay", ms: 2_500, times: 1 });
    const piped = await runCli(["-t", "slow"], { home, endpoint: w.endpoint });
    expect(piped.status, piped.stderr).toBe(0);
    expect(piped.stderr).not.toMatch(SLOW_STEP);
  });

  it("a fast step draws nothing", async () => {
    const key = await w.fx.createUserWithKey("fast");
    const { home } = await makeHome(profileText("fast", key));
    const pty = inTerminal(["-t", "fast"], home);
    expect(await pty.exited, pty.screen()).toBe(0);
    expect(pty.screen()).not.toMatch(SLOW_STEP);
  });

  it("Ctrl-C while waiting for AWS to accept the key: the spinner is not drawn again below the message", async () => {
    const key = await w.fx.createUserWithKey("wait");
    const { home } = await makeHome(profileText("wait", key));
    w.proxy.setPropagationDelay(120_000);
    const pty = inTerminal(["-t", "wait", "--verify-timeout", "60"], home);
    const WAITING = /Waiting for AWS to accept the new key/;
    await until(() => WAITING.test(pty.screen()));
    expect(pty.screen()).toMatch(WAITING);
    await new Promise((r) => setTimeout(r, 300));
    pty.type("\x03");
    const code = await pty.exited;
    w.proxy.setPropagationDelay(0);
    expect(code, JSON.stringify(pty.screen())).toBe(3);
    const screen = pty.screen();
    const at = screen.lastIndexOf("stopped part-way");
    expect(at, screen).toBeGreaterThan(0);
    expect(screen.slice(0, at)).toMatch(WAITING);
    expect(screen.slice(at), "spinner drawn after the stop message").not.toMatch(WAITING);
    expect(screen.slice(at)).toMatch(/has its new key .* not yet confirmed/);
  });
});
