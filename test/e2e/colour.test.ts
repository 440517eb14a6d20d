// Colour is decided per stream: stdout redirected to a file gets none even when stderr is a terminal.
import { spawn, spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { motoEnv } from "../harness/moto.js";
import { cliPath, makeHome, profileText } from "./cli.js";
import { useWorld } from "./world.js";

const hasScript = spawnSync("script", ["--version"]).status === 0;
const w = useWorld();
const ESC = "\u001b[";

/** Runs keyctl under a pseudo-terminal (util-linux `script`); `redirect` sends stdout to a file. */
function inTerminal(
  args: string,
  home: string,
  redirect?: string,
): Promise<{ code: number | null; screen: string }> {
  const command = `${process.execPath} ${cliPath()} ${args}${redirect ? ` > ${redirect}` : ""}`;
  return new Promise((resolve, reject) => {
    const child = spawn("script", ["-qec", command, "/dev/null"], {
      env: { PATH: process.env.PATH ?? "", HOME: home, TERM: "xterm", ...motoEnv(w.endpoint) },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let screen = "";
    child.stdout.on("data", (d: Buffer) => {
      screen += d.toString();
    });
    child.stdin.end();
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, screen }));
  });
}

describe.skipIf(!hasScript)("colour per stream", () => {
  it("keyctl -k on a terminal is coloured, and the same with stdout redirected writes no colour codes", async () => {
    const dev = await w.fx.createUserWithKey("dev");
    const { home } = await makeHome(profileText("dev", dev));
    const shown = await inTerminal("-k -t dev", home);
    expect(shown.code, shown.screen).toBe(0);
    expect(shown.screen).toContain(dev.accessKeyId);
    expect(shown.screen).toContain(ESC);

    const file = join(home, "keys.txt");
    const redirected = await inTerminal("-k -t dev", home, file);
    expect(redirected.code, redirected.screen).toBe(0);
    const written = await readFile(file, "utf8");
    expect(written).toContain(dev.accessKeyId);
    expect(written).not.toContain(ESC);
  });
});
