// Rules 1 and 3 under SIGKILL: kill keyctl at random moments of a rotation, then rerun the same
// command. After the kill the file is the old or the complete new version and at most one key in IAM
// has no holder (the journal names it); every rerun succeeds, says when it removed a stranded key,
// and leaves no key in IAM that no profile of the file holds.
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import type { AccessKeyPair } from "../harness/fixtures.js";
import { makeHome, profileText, runCli } from "./cli.js";
import { holders, keyIds, parseFile, secretsIn, useWorld } from "./world.js";

const w = useWorld();

const CHAINS = 5;
const KILLS_WANTED = 55;
const MAX_RUNS_PER_CHAIN = 30;

/** A small deterministic PRNG, so a failure can be replayed with the seed it prints. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface KillRecord {
  chain: number;
  delay: number;
  killed: boolean;
  strandedAfterKill: number;
}

describe("SIGKILL at random moments", () => {
  it(`${KILLS_WANTED} killed rotations, each followed by a plain rerun that succeeds`, async () => {
    const seed = Number(process.env.KEYCTL_CRASH_SEED ?? Date.now() % 1_000_000);
    const random = mulberry32(seed);
    const context = `seed ${seed} (replay with KEYCTL_CRASH_SEED=${seed})`;
    // Latency widens every window between two steps, so kills land inside all of them.
    w.proxy.setLatency(40);
    // IAM has made the key but its answer is still on the way: the moment rule 3 is about.
    w.gate.inject({ action: "CreateAccessKey", fault: "delay", ms: 300 });

    const users: string[] = [];
    const homes: { home: string; credentials: string; user: string; first: AccessKeyPair }[] = [];
    for (let i = 0; i < CHAINS; i++) {
      const user = `crash${i}`;
      users.push(user);
      const first = await w.fx.createUserWithKey(user);
      const text = `# chain ${i}\n[unrelated]\nregion = us-west-1\n\n${profileText(user, first, "region = eu-north-1\n")}`;
      homes.push({ ...(await makeHome(text)), user, first });
    }

    // How long a whole rotation takes here, under the same load (all chains at once). The machine's
    // load changes while the test runs, so each chain keeps measuring: every rerun is a complete
    // rotation, and the next kill lands at a random moment within the shortest recent one.
    const recent = await Promise.all(
      homes.map(async ({ home, user }) => {
        const started = Date.now();
        const run = await runCli(["-t", user], { home, endpoint: w.endpoint });
        expect(run.status, run.stderr).toBe(0);
        return [Date.now() - started];
      }),
    );
    const records: KillRecord[] = [];
    const killedSoFar = () => records.filter((r) => r.killed).length;
    await Promise.all(
      homes.map(async ({ home, credentials, user }, chain) => {
        for (let k = 0; k < MAX_RUNS_PER_CHAIN && killedSoFar() < KILLS_WANTED; k++) {
          const span = Math.min(...recent[chain]!.slice(-3));
          const delay = Math.floor(random() * span);
          const where = `${context}, chain ${chain}, kill ${k} after ${delay} ms`;
          const killedRun = await runCli(["-t", user], { home, endpoint: w.endpoint, killAfterMs: delay });
          const killed = killedRun.signal === "SIGKILL";
          if (!killed) expect(killedRun.status, `${where}: ${killedRun.stderr}`).toBe(0);

          // Right after the kill: the file parses and holds a key for the profile; at most one
          // key of the user has no holder, and then the journal remembers the run.
          const text = await readFile(credentials, "utf8");
          const doc = parseFile(text);
          expect(doc.get(user, "aws_access_key_id"), where).toMatch(/^AKIA/);
          expect(doc.get(user, "region"), where).toBe("eu-north-1");
          expect(doc.get("unrelated", "region"), where).toBe("us-west-1");
          const held = holders(text);
          const stranded = (await keyIds(w.fx, user)).filter((id) => !held.has(id));
          expect(stranded.length, `${where}: stranded ${stranded}`).toBeLessThanOrEqual(1);
          if (stranded.length > 0) {
            const journal = await readFile(`${credentials}.keyctl-journal`, "utf8").catch(() => "");
            expect(journal, `${where}: a stranded key without a journal entry`).toContain(`"${user}"`);
          }
          records.push({ chain, delay, killed, strandedAfterKill: stranded.length });

          const rerunStarted = Date.now();
          const rerun = await runCli(["-t", user], { home, endpoint: w.endpoint });
          recent[chain]!.push(Date.now() - rerunStarted);
          expect(rerun.status, `${where}, rerun: ${rerun.stderr}`).toBe(0);
          for (const id of stranded)
            expect(rerun.stderr, `${where}: rerun says it removed ${id}`).toContain(id);
          const after = await readFile(credentials, "utf8");
          const nowHeld = holders(after);
          const keys = await keyIds(w.fx, user);
          for (const id of keys) expect(nowHeld.has(id), `${where}: key ${id} left in IAM`).toBe(true);
          expect(keys.length, where).toBeLessThanOrEqual(2);
          for (const s of secretsIn(after)) expect(rerun.stdout + rerun.stderr, where).not.toContain(s);
        }
      }),
    );

    const killed = records.filter((r) => r.killed).length;
    const strandedSeen = records.filter((r) => r.strandedAfterKill > 0).length;
    process.stderr.write(
      `[crash] ${context}: ${records.length} runs, ${killed} SIGKILLed (delays ${Math.min(...records.map((r) => r.delay))}-${Math.max(...records.map((r) => r.delay))} ms), ${strandedSeen} left a key for the rerun to remove\n`,
    );
    expect(killed, "enough runs were actually killed mid-way").toBeGreaterThanOrEqual(KILLS_WANTED);
  }, 180_000);
});
