// `npm run bench`: start-up and end-to-end figures, each next to bare `node -e 0` on this machine.
//   1. keyctl --help and keyctl --list on a 5,000-profile file (goal: --list ≤ 1.3× bare node)
//   2. one self-rotation against local moto: wall time, AWS calls, time before the first call
//      (goal: first call within 1.5× bare node's whole run)
//   3. 30 rotations: one `--all` run against 30 separate `keyctl -a admin -t uN` runs (goal ≥ 10×),
//      on bare local moto and again with 50 ms of latency per call added by the proxy
// `--quick` runs fewer repetitions. Nothing here reaches AWS: every call goes to loopback.
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AccessKeyPair, createFixtures } from "../test/harness/fixtures.js";
import { type MotoServer, motoEnv, REPO_ROOT, startMoto } from "../test/harness/moto.js";
import { type FaultProxy, startProxy } from "../test/harness/proxy.js";

const CLI = join(REPO_ROOT, "dist", "keyctl.mjs");
const quick = process.argv.includes("--quick");
const RUNS = quick ? 5 : 15;

interface Timed {
  readonly ms: number;
  readonly startedAt: number;
  readonly code: number | null;
}

function timed(args: string[], env: Record<string, string> = {}): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const startedAt = Date.now();
    const t0 = performance.now();
    const child = spawn(process.execPath, args, {
      stdio: ["ignore", "ignore", "pipe"],
      env: { PATH: process.env.PATH ?? "", ...env },
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) process.stderr.write(`  (exit ${code}: ${stderr.trim().split("\n")[0]})\n`);
      resolve({ ms: performance.now() - t0, startedAt, code });
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function sample(args: string[], env?: Record<string, string>): Promise<number> {
  const times: number[] = [];
  await timed(args, env); // warm the file cache
  for (let i = 0; i < RUNS; i++) times.push((await timed(args, env)).ms);
  return median(times);
}

const fmt = (ms: number) => `${ms.toFixed(0).padStart(6)} ms`;
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;

async function startup(home: string): Promise<number> {
  const big = join(home, "big-credentials");
  const lines: string[] = ["# 5,000 profiles"];
  for (let i = 0; i < 5000; i++) {
    lines.push(`[profile-${i}]`, `aws_access_key_id = AKIA${String(i).padStart(16, "0")}`);
    lines.push(`aws_secret_access_key = ${"s".repeat(40)}`, "region = eu-west-1", "");
  }
  await writeFile(big, lines.join("\n"), { mode: 0o600 });
  const bare = await sample(["-e", "0"]);
  const help = await sample([CLI, "--help"]);
  const list = await sample([CLI, "--list", "-c", big], { HOME: home });
  console.log(`\n1. Start-up (median of ${RUNS})`);
  console.log(`   node -e 0                          ${fmt(bare)}`);
  console.log(`   keyctl --help                      ${fmt(help)}  ${ratio(help, bare)} bare node`);
  console.log(
    `   keyctl --list (5,000 profiles)     ${fmt(list)}  ${ratio(list, bare)} bare node (goal ≤ 1.30×)`,
  );
  return bare;
}

function credentialsOf(profiles: [string, AccessKeyPair][]): string {
  return profiles
    .map(
      ([name, k]) =>
        `[${name}]\naws_access_key_id = ${k.accessKeyId}\naws_secret_access_key = ${k.secretAccessKey}\n`,
    )
    .join("\n");
}

async function freshHome(root: string, name: string, text: string): Promise<string> {
  const home = join(root, name);
  await mkdir(join(home, ".aws"), { recursive: true });
  await writeFile(join(home, ".aws", "credentials"), text, { mode: 0o600 });
  return home;
}

async function selfRotation(root: string, moto: MotoServer, proxy: FaultProxy, bare: number): Promise<void> {
  const fx = createFixtures(moto.url, { proxy });
  const walls: number[] = [];
  const firsts: number[] = [];
  let calls: string[] = [];
  const n = quick ? 3 : 7;
  for (let i = 0; i < n; i++) {
    await moto.reset();
    proxy.reset();
    const key = await fx.createUserWithKey("bench");
    const home = await freshHome(root, `self-${i}`, credentialsOf([["bench", key]]));
    const run = await timed([CLI, "-t", "bench"], { HOME: home, ...motoEnv(proxy.url) });
    walls.push(run.ms);
    firsts.push((proxy.calls[0]?.at ?? Number.NaN) - run.startedAt);
    calls = proxy.calls.map((c) => c.action);
  }
  console.log(`\n2. One self-rotation against local moto (median of ${n})`);
  console.log(`   wall time                          ${fmt(median(walls))}`);
  console.log(
    `   AWS calls                          ${String(calls.length).padStart(6)}     ${calls.join(", ")}`,
  );
  console.log(
    `   time before the first AWS call     ${fmt(median(firsts))}  ${ratio(median(firsts), bare)} bare node (goal ≤ 1.50×)`,
  );
}

async function batchVersusLoop(
  root: string,
  moto: MotoServer,
  proxy: FaultProxy,
  latencyMs = 0,
): Promise<void> {
  const fx = createFixtures(moto.url, { proxy });
  const seed = async (policy: "self" | "none" = "none"): Promise<[string, AccessKeyPair][]> => {
    await moto.reset();
    proxy.reset();
    proxy.setLatency(latencyMs);
    const profiles: [string, AccessKeyPair][] = [];
    for (let i = 0; i < 30; i++) profiles.push([`u${i}`, await fx.createUserWithKey(`u${i}`, { policy })]);
    await fx.createUser("admin", { policy: "admin" });
    profiles.push(["admin", await fx.createKey("admin")]);
    return profiles;
  };
  const batchHome = await freshHome(root, "batch", credentialsOf(await seed()));
  const batch = await timed(
    [CLI, "-a", "admin", ...Array.from({ length: 30 }, (_, i) => ["-t", `u${i}`]).flat()],
    {
      HOME: batchHome,
      ...motoEnv(proxy.url),
    },
  );
  const allHome = await freshHome(
    root,
    "all",
    credentialsOf((await seed("self")).filter(([n]) => n !== "admin")),
  );
  const all = await timed([CLI, "--all"], { HOME: allHome, ...motoEnv(proxy.url) });
  const loopHome = await freshHome(root, "loop", credentialsOf(await seed()));
  const t0 = performance.now();
  for (let i = 0; i < 30; i++)
    await timed([CLI, "-a", "admin", "-t", `u${i}`], { HOME: loopHome, ...motoEnv(proxy.url) });
  const loop = performance.now() - t0;
  const where = latencyMs
    ? `with ${latencyMs} ms of network latency added per call (like a real AWS endpoint)`
    : "against local moto";
  console.log(`\n3${latencyMs ? "b" : ""}. Thirty rotations ${where}`);
  console.log(
    `   keyctl --all (30 self-service)     ${fmt(all.ms)}  ${ratio(loop, all.ms)} faster than the loop (goal ≥ 10×)`,
  );
  console.log(
    `   keyctl -a admin -t u0 … -t u29     ${fmt(batch.ms)}  ${ratio(loop, batch.ms)} faster than the loop`,
  );
  console.log(`   30 × keyctl -a admin -t uN (loop)  ${fmt(loop)}`);
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "keyctl-bench-"));
  let moto: MotoServer | undefined;
  let proxy: FaultProxy | undefined;
  try {
    console.log(`keyctl benchmark — node ${process.version}, ${new Date().toISOString()}`);
    const bare = await startup(root);
    moto = await startMoto();
    proxy = await startProxy(moto.url);
    await selfRotation(root, moto, proxy, bare);
    await batchVersusLoop(root, moto, proxy);
    await batchVersusLoop(root, moto, proxy, 50);
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
