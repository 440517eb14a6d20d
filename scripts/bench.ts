// `npm run bench`: keyctl's figures next to bare `node -e 0`, all on this machine, against local moto
// through the test proxy (nothing reaches AWS: every call goes to loopback).
//   1. start-up: --help, --list on 20 and on 5,000 profiles
//   2. the latency model: 50 ms added per request and 100 ms per new connection, as a far-away
//      AWS endpoint costs; one self-rotation (requests, connections, wall time), the same with
//      20,000 other profiles in the file, `-a admin --all` over 30 and 200 profiles against a loop
//      of single runs (and the share of the batch's wall time spent holding the file lock), and
//      `--list-all-keys` over 500 users
//   3. a table of issue 9's goals with the measured values
// Every child, bare node included, gets only PATH and HOME (plus the endpoint variables keyctl needs):
// the caller's NODE_OPTIONS or NODE_EXTRA_CA_CERTS would otherwise move the floor and the ratios.
// Options: --quick (fewer repetitions), --node PATH (the Node binary for the floor and for keyctl),
// --baseline PATH/TO/keyctl.mjs (another build, e.g. main's, measured in the same run beside this one).
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type AccessKeyPair, createFixtures, type Fixtures } from "../test/harness/fixtures.js";
import { type MotoServer, motoEnv, REPO_ROOT, startMoto } from "../test/harness/moto.js";
import { type FaultProxy, startProxy } from "../test/harness/proxy.js";

const argv = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const quick = argv.includes("--quick");
const NODE = resolve(option("--node") ?? process.execPath);
const CLI = join(REPO_ROOT, "dist", "keyctl.mjs");
const BASELINE = option("--baseline") ? resolve(option("--baseline")!) : undefined;
const RUNS = quick ? 5 : 15;
const ROTATIONS = quick ? 3 : 7;
const REQUEST_MS = 50;
const CONNECTION_MS = 100;

interface Timed {
  readonly ms: number;
  readonly code: number | null;
}

function timed(args: readonly string[], env: Record<string, string>): Promise<Timed> {
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const child = spawn(NODE, args, {
      stdio: ["ignore", "ignore", "pipe"],
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = performance.now() - t0;
      if (code !== 0) process.stderr.write(`  (exit ${code}: ${stderr.trim().split("\n").at(-1)})\n`);
      resolvePromise({ ms, code });
    });
  });
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function sample(args: readonly string[], env: Record<string, string>): Promise<number> {
  await timed(args, env); // warm the file cache
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) times.push((await timed(args, env)).ms);
  return median(times);
}

const ms = (v: number) => `${v.toFixed(0).padStart(6)} ms`;
const x = (v: number) => `${v.toFixed(2)}×`;
const line = (label: string, value: string, note = "") =>
  console.log(`   ${label.padEnd(44)} ${value}  ${note}`);

function profileBlock(name: string, key: AccessKeyPair): string {
  return `[${name}]\naws_access_key_id = ${key.accessKeyId}\naws_secret_access_key = ${key.secretAccessKey}\n`;
}

/** `count` profiles with keys no IAM user owns: the bulk of a big file, never touched by a rotation. */
function otherProfiles(count: number): string {
  const blocks: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = `AKIA${String(i).padStart(16, "0")}`;
    const secret = `${String(i).padStart(8, "0")}${"wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY".slice(0, 32)}`;
    blocks.push(
      `[other-${i}]\naws_access_key_id = ${id}\naws_secret_access_key = ${secret}\nregion = eu-west-1\n`,
    );
  }
  return blocks.join("\n");
}

let homes = 0;
async function freshHome(root: string, credentials: string): Promise<string> {
  const home = join(root, `home-${homes++}`);
  await mkdir(join(home, ".aws"), { recursive: true });
  await writeFile(join(home, ".aws", "credentials"), credentials, { mode: 0o600 });
  return home;
}

interface Lab {
  readonly root: string;
  readonly moto: MotoServer;
  readonly proxy: FaultProxy;
  readonly fx: Fixtures;
}

/** Empty moto, then fresh proxy counters with the latency model on. */
async function resetLab(lab: Lab): Promise<void> {
  await lab.moto.reset();
  restartCounters(lab);
}

/** Keeps moto's users; the proxy's reset also clears its latency, so that is set again. */
function restartCounters(lab: Lab): void {
  lab.proxy.reset();
  lab.proxy.setLatency(REQUEST_MS);
  lab.proxy.setConnectionLatency(CONNECTION_MS);
}

const env = (home: string, lab: Lab, extra: Record<string, string> = {}) => ({
  HOME: home,
  ...motoEnv(lab.proxy.url),
  ...extra,
});

async function startup(root: string) {
  const home = await freshHome(root, "");
  const small = join(root, "credentials-20");
  const big = join(root, "credentials-5000");
  await writeFile(small, otherProfiles(20), { mode: 0o600 });
  await writeFile(big, otherProfiles(5000), { mode: 0o600 });
  const bare = await sample(["-e", "0"], { HOME: home });
  const help = await sample([CLI, "--help"], { HOME: home });
  const list20 = await sample([CLI, "--list", "-c", small], { HOME: home });
  const list5000 = await sample([CLI, "--list", "-c", big], { HOME: home });
  console.log(`\n1. Start-up (median of ${RUNS})`);
  line("node -e 0", ms(bare));
  line("keyctl --help", ms(help), `${x(help / bare)} bare node`);
  line("keyctl --list, 20 profiles", ms(list20), `${x(list20 / bare)} bare node`);
  line("keyctl --list, 5,000 profiles", ms(list5000), `${x(list5000 / bare)} bare node`);
  return { bare, help, list20, list5000 };
}

interface SelfRotation {
  readonly wall: number;
  readonly requests: number;
  readonly connections: number;
}

async function selfRotation(lab: Lab, cli: string, others: number): Promise<SelfRotation> {
  const walls: number[] = [];
  let requests = 0;
  let connections = 0;
  const bulk = others > 0 ? `${otherProfiles(others)}\n` : "";
  for (let i = 0; i < ROTATIONS; i++) {
    await resetLab(lab);
    const key = await lab.fx.createUserWithKey("bench", { policy: "self" });
    const home = await freshHome(lab.root, bulk + profileBlock("bench", key));
    const run = await timed([cli, "-t", "bench", "--yes"], env(home, lab));
    if (run.code !== 0) throw new Error(`self-rotation exited ${run.code}`);
    walls.push(run.ms);
    requests = lab.proxy.calls.length;
    connections = lab.proxy.connections;
  }
  return { wall: median(walls), requests, connections };
}

/** Sums the lock holds a KEYCTL_TRACE_LOCK file recorded (one process: holds never overlap). */
async function lockHeldMs(trace: string): Promise<number | undefined> {
  const text = await readFile(trace, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  let held = 0;
  for (const row of text.split("\n")) {
    const [from, to] = row.split(" ").map(Number);
    if (from !== undefined && to !== undefined && !Number.isNaN(from) && !Number.isNaN(to)) held += to - from;
  }
  return held;
}

interface Batch {
  readonly profiles: number;
  readonly batch: number;
  readonly loop: number;
  readonly loopRuns: number;
  readonly lockShare: number | undefined;
  readonly holds: number;
}

/** `-a admin --all` over `count` user profiles, against single `-a admin -t uN` runs. */
async function batchVersusLoop(lab: Lab, cli: string, count: number): Promise<Batch> {
  const seed = async (): Promise<string> => {
    await resetLab(lab);
    const blocks: string[] = [];
    for (let i = 0; i < count; i++)
      blocks.push(profileBlock(`u${i}`, await lab.fx.createUserWithKey(`u${i}`)));
    await lab.fx.createUser("admin", { policy: "admin" });
    blocks.push(profileBlock("admin", await lab.fx.createKey("admin")));
    return blocks.join("\n");
  };
  const home = await freshHome(lab.root, await seed());
  const trace = join(home, "lock-trace");
  restartCounters(lab);
  const batchRun = await timed(
    [cli, "-a", "admin", "--all", "--yes"],
    env(home, lab, { KEYCTL_TRACE_LOCK: trace }),
  );
  if (batchRun.code !== 0) process.stderr.write(`  (the batch of ${count} exited ${batchRun.code})\n`);
  const held = await lockHeldMs(trace);
  const holds = ((await readFile(trace, "utf8").catch(() => "")).match(/\n/g) ?? []).length;
  // The loop: each single run costs about the same whatever the batch size, so a long loop is
  // estimated from its first runs.
  const loopRuns = Math.min(count, quick ? 5 : 10);
  const loopHome = await freshHome(lab.root, await seed());
  const t0 = performance.now();
  for (let i = 0; i < loopRuns; i++)
    await timed([cli, "-a", "admin", "-t", `u${i}`, "--yes"], env(loopHome, lab));
  const loop = ((performance.now() - t0) / loopRuns) * count;
  return {
    profiles: count,
    batch: batchRun.ms,
    loop,
    loopRuns,
    lockShare: held === undefined ? undefined : held / batchRun.ms,
    holds,
  };
}

/** CPU time (user + system) moto's process has used so far, where /proc tells it (Linux). */
async function motoCpuMs(lab: Lab): Promise<number | undefined> {
  const stat = await readFile(`/proc/${lab.moto.pid}/stat`, "utf8").catch(() => undefined);
  // Fields after the command name: utime and stime are the 12th and 13th, in clock ticks (100 Hz).
  const fields = stat?.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (!fields) return undefined;
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

interface ListAll {
  readonly wall: number;
  readonly requests: number;
  readonly connections: number;
  /** moto's CPU time during the run: one Python process answers every request in turn. */
  readonly motoMs: number | undefined;
}

async function listAllKeys(lab: Lab, cli: string, users: number): Promise<ListAll> {
  await resetLab(lab);
  for (let i = 0; i < users; i++) await lab.fx.createUserWithKey(`user-${i}`);
  await lab.fx.createUser("admin", { policy: "admin" });
  const home = await freshHome(lab.root, profileBlock("admin", await lab.fx.createKey("admin")));
  const walls: number[] = [];
  const moto: number[] = [];
  let requests = 0;
  let connections = 0;
  for (let i = 0; i < (quick ? 1 : 3); i++) {
    restartCounters(lab);
    const before = await motoCpuMs(lab);
    walls.push((await timed([cli, "-a", "admin", "--list-all-keys"], env(home, lab))).ms);
    const after = await motoCpuMs(lab);
    if (before !== undefined && after !== undefined) moto.push(after - before);
    requests = lab.proxy.calls.length;
    connections = lab.proxy.connections;
  }
  return { wall: median(walls), requests, connections, motoMs: moto.length ? median(moto) : undefined };
}

interface Figures {
  readonly self: SelfRotation;
  readonly big: SelfRotation;
  readonly batches: readonly Batch[];
  readonly listAll: ListAll;
}

async function latencyModel(lab: Lab, cli: string, label: string): Promise<Figures> {
  console.log(`\n2. ${label}: ${REQUEST_MS} ms added per request, ${CONNECTION_MS} ms per new connection`);
  const self = await selfRotation(lab, cli, 0);
  line(
    `one self-rotation (median of ${ROTATIONS})`,
    ms(self.wall),
    `${self.requests} requests on ${self.connections} connections`,
  );
  const big = await selfRotation(lab, cli, 20_000);
  line(
    "the same with 20,000 other profiles",
    ms(big.wall),
    `${x(big.wall / self.wall)} the rotation with none`,
  );
  const batches: Batch[] = [];
  for (const count of [30, 200]) {
    const b = await batchVersusLoop(lab, cli, count);
    batches.push(b);
    line(
      `-a admin --all, ${count} profiles`,
      ms(b.batch),
      `${x(b.loop / b.batch)} faster than a loop of single runs`,
    );
    line(
      `  loop of ${count} × -a admin -t uN`,
      ms(b.loop),
      b.loopRuns < count ? `(from the first ${b.loopRuns} runs)` : "",
    );
    line(
      "  share of the batch's wall time holding the lock",
      b.lockShare === undefined ? "   n/a" : `${(b.lockShare * 100).toFixed(1).padStart(5)} %`,
      b.lockShare === undefined ? "(this build writes no KEYCTL_TRACE_LOCK)" : `${b.holds} lock holds`,
    );
  }
  const listAll = await listAllKeys(lab, cli, 500);
  line(
    "--list-all-keys, 500 users",
    ms(listAll.wall),
    `${listAll.requests} requests on ${listAll.connections} connections`,
  );
  if (listAll.motoMs !== undefined) {
    line(
      "  moto's CPU time meanwhile (one process)",
      ms(listAll.motoMs),
      `${(listAll.motoMs / listAll.requests).toFixed(1)} ms a request, ${((listAll.motoMs / listAll.wall) * 100).toFixed(0)} % of the wall time`,
    );
  }
  return { self, big, batches, listAll };
}

function goals(start: Awaited<ReturnType<typeof startup>>, mine: Figures, base: Figures | undefined): void {
  const b200 = mine.batches.find((b) => b.profiles === 200);
  const rows: [string, string, string][] = [
    [
      "connections / requests per self-rotation",
      "≤ 2 / 4",
      `${mine.self.connections} / ${mine.self.requests}`,
    ],
    [
      "one self-rotation in the latency model",
      base ? "≤ 0.47 s, ≤ 0.55× baseline" : "≤ 0.47 s",
      `${(mine.self.wall / 1000).toFixed(2)} s${base ? `, ${x(mine.self.wall / base.self.wall)} baseline` : ""}`,
    ],
    ["rotation, 20,000 other profiles vs none", "≤ 1.30×", x(mine.big.wall / mine.self.wall)],
    [
      "batch of 200, share of wall time holding the lock",
      "≤ 25 %",
      b200?.lockShare === undefined ? "n/a" : `${(b200.lockShare * 100).toFixed(1)} %`,
    ],
    [
      "--list, 20 / 5,000 profiles vs bare node",
      "≤ 1.30× / ≤ 2.00×",
      `${x(start.list20 / start.bare)} / ${x(start.list5000 / start.bare)}`,
    ],
    ["--help vs bare node", "(1.44× before)", x(start.help / start.bare)],
    [
      "--list-all-keys, 500 users",
      "≤ 1.5 s",
      `${(mine.listAll.wall / 1000).toFixed(2)} s${mine.listAll.motoMs === undefined ? "" : `, moto busy ${(mine.listAll.motoMs / 1000).toFixed(2)} s of it`}`,
    ],
  ];
  console.log("\n3. Issue 9's goals");
  for (const [what, goal, got] of rows) console.log(`   ${what.padEnd(50)} ${goal.padEnd(28)} ${got}`);
  if (base) {
    console.log("   baseline (same run):");
    console.log(
      `   ${"".padEnd(50)} self-rotation ${(base.self.wall / 1000).toFixed(2)} s on ${base.self.connections} connections, 20,000 profiles ${x(base.big.wall / base.self.wall)}`,
    );
  }
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "keyctl-bench-"));
  let moto: MotoServer | undefined;
  let proxy: FaultProxy | undefined;
  try {
    const version = await new Promise<string>((res) => {
      const c = spawn(NODE, ["--version"], { stdio: ["ignore", "pipe", "ignore"] });
      let out = "";
      c.stdout.on("data", (d: Buffer) => {
        out += d.toString();
      });
      c.on("close", () => res(out.trim()));
    });
    console.log(
      `keyctl benchmark: keyctl and the floor on node ${version} (${NODE}), ${new Date().toISOString()}`,
    );
    const start = await startup(root);
    moto = await startMoto();
    proxy = await startProxy(moto.url);
    const lab: Lab = { root, moto, proxy, fx: createFixtures(moto.url, { proxy }) };
    const mine = await latencyModel(lab, CLI, "This build");
    const base = BASELINE ? await latencyModel(lab, BASELINE, `Baseline ${BASELINE}`) : undefined;
    goals(start, mine, base);
  } finally {
    await proxy?.close();
    await moto?.stop();
    await rm(root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
