// Rule 3 for a batch: a SIGKILL while several rotations wait on CreateAccessKey's answer leaves at
// most one key without a holder per rotation in flight, each one named in the journal, and the plain
// rerun of the same batch removes every one of them (and says so) before rotating again.
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { motoEnv } from "../harness/moto.js";
import { cliPath, collectRun, makeHome, profileText, runCli } from "./cli.js";
import { holders, keyIds, secretsIn, useWorld } from "./world.js";

const w = useWorld();

const PROFILES = 4;

describe("SIGKILL of a batch with several rotations in flight", () => {
  it("each stranded key is in the journal and the rerun of the batch removes them all", async () => {
    const users = Array.from({ length: PROFILES }, (_, i) => `fleet${i}`);
    const texts: string[] = [];
    for (const user of users) texts.push(profileText(user, await w.fx.createUserWithKey(user)));
    const { home, credentials } = await makeHome(texts.join("\n"));
    // IAM makes every key at once, and the answers are held back: the batch dies with all of them
    // created and none of their secrets on disk.
    w.gate.inject({ action: "CreateAccessKey", fault: "delay", ms: 30_000, when: "after" });

    const child = spawn(process.execPath, [cliPath(), "--all", "--yes"], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, NO_COLOR: "1", ...motoEnv(w.endpoint) },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const killed = collectRun(child);
    const creating = () => w.gate.calls.filter((c) => c.action === "CreateAccessKey").length;
    for (let i = 0; i < 400 && creating() < PROFILES; i++) await new Promise((r) => setTimeout(r, 25));
    expect(creating(), "every rotation of the batch reached CreateAccessKey").toBe(PROFILES);
    // The gate has passed each call on; give moto a moment to make the keys before the kill.
    const made = async () =>
      (await Promise.all(users.map(async (u) => (await keyIds(w.fx, u)).length))).every((n) => n === 2);
    for (let i = 0; i < 200 && !(await made()); i++) await new Promise((r) => setTimeout(r, 25));
    child.kill("SIGKILL");
    expect((await killed).signal).toBe("SIGKILL");
    w.gate.reset();

    const text = await readFile(credentials, "utf8");
    const held = holders(text);
    const journal = await readFile(`${credentials}.keyctl-journal`, "utf8");
    const stranded: string[] = [];
    for (const user of users) {
      const mine = (await keyIds(w.fx, user)).filter((id) => !held.has(id));
      expect(mine.length, `${user}: one key made by the killed call`).toBe(1);
      expect(journal, `${user}'s rotation is in the journal`).toContain(`"${user}"`);
      stranded.push(...mine);
    }

    // Without --yes: only the journal's proof, never the make-room question, may delete a key here.
    const rerun = await runCli(["--all"], { home, endpoint: w.endpoint });
    expect(rerun.status, rerun.stderr).toBe(0);
    for (const [i, user] of users.entries()) {
      expect(rerun.stderr).toMatch(
        new RegExp(`Removed key ${stranded[i]} of IAM user ${user}: an interrupted keyctl run`),
      );
    }
    const after = await readFile(credentials, "utf8");
    const nowHeld = holders(after);
    for (const user of users) {
      const keys = await keyIds(w.fx, user);
      expect(keys.length, user).toBe(2);
      for (const id of keys) expect(nowHeld.has(id), `${user}: key ${id} has a holder`).toBe(true);
      for (const id of stranded) expect(keys, `${user}: stranded ${id} is gone`).not.toContain(id);
    }
    for (const s of secretsIn(after)) expect(rerun.stdout + rerun.stderr).not.toContain(s);
  }, 90_000);
});
