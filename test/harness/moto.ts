/**
 * Start / stop the moto AWS emulator in server mode for end-to-end tests.
 *
 *   const moto = await startMoto();          // auth is ON when this resolves
 *   ...
 *   await moto.stop();
 *
 * Python discovery (cached per process): $KEYCTL_PYTHON, then `python3` on PATH, then
 * `<repo>/.venv/bin/python`; if none can `import moto.server`, create `<repo>/.venv` and
 * `pip install "moto[server]==5.2.1"` into it; if that fails too, throw a one-line error.
 *
 * The server is started through a tiny Python wrapper equivalent to
 * `python -m moto.server -H 127.0.0.1 -p PORT` that also exits when its stdin pipe closes,
 * so moto never outlives the test process, even if the test process is SIGKILLed
 * (process.on("exit") only covers orderly exits).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export interface MotoServer {
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  url: string;
  port: number;
  pid: number;
  /** SIGTERM, then SIGKILL after 3 s; resolves once the process has exited. Idempotent. */
  stop(): Promise<void>;
  /** `POST /moto-api/reset`: wipes all emulated state. The auth setting is kept. */
  reset(): Promise<void>;
  /** `POST /moto-api/reset-auth`: `true` = moto checks signatures/keys/IAM policies, `false` = accepts anything. */
  setAuth(on: boolean): Promise<void>;
  /** Last ~64 KiB of moto's stdout+stderr (request log, tracebacks). */
  output(): string;
}

export interface StartMotoOptions {
  /** Turn moto's authentication/authorization on before resolving (default true). */
  auth?: boolean;
  /** How long to wait for the server to answer (default 30 000 ms). */
  startTimeoutMs?: number;
}

export const MOTO_VERSION = "5.2.1";
export const MOTO_ACCOUNT_ID = "123456789012";
export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const OUTPUT_LIMIT = 64 * 1024;
const INSTALL_HINT = `pip install "moto[server]" (or set KEYCTL_PYTHON to a Python that has it)`;

/**
 * Environment for child processes (the CLI under test) so that every AWS SDK call goes to `url`
 * (moto or the fault proxy) and never to a real AWS endpoint or the EC2 metadata service.
 * Use as `{ ...process.env, ...motoEnv(url), HOME: tmp, ... }`. AWS_REGION is left alone.
 */
export function motoEnv(url: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: url,
    // Service-specific variables win over AWS_ENDPOINT_URL, so pin them too in case the
    // developer's shell has them set to something real.
    AWS_ENDPOINT_URL_IAM: url,
    AWS_ENDPOINT_URL_STS: url,
    AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: "false",
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  };
}

// ---------------------------------------------------------------------------------------------
// Python discovery
// ---------------------------------------------------------------------------------------------

export interface FindPythonOptions {
  /** Environment to read KEYCTL_PYTHON / PATH from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Directory that holds (or will hold) `.venv` (default: the repository root). */
  root?: string;
  /** Use and fill the per-process cache (default true; only the defaults are cached). */
  cache?: boolean;
  /** Log line sink for the one-time venv install (default stderr). */
  log?: (line: string) => void;
}

let cachedPython: Promise<string> | undefined;

interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
  error?: Error;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : null) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr), ...(error ? { error } : {}) });
      },
    );
  });
}

/** Returns the interpreter's real path (sys.executable) if it can import moto.server. */
async function probePython(python: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const r = await run(python, ["-c", "import sys, moto, moto.server; print(sys.executable)"], env, 60_000);
  if (r.code !== 0) return undefined;
  const exe = r.stdout.trim().split("\n").pop()?.trim();
  return exe ? exe : python;
}

function venvPython(root: string): string {
  return process.platform === "win32"
    ? join(root, ".venv", "Scripts", "python.exe")
    : join(root, ".venv", "bin", "python");
}

function lastLine(text: string): string {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  return lines[lines.length - 1] ?? "";
}

async function discoverPython(opts: FindPythonOptions): Promise<string> {
  const env = opts.env ?? process.env;
  const root = opts.root ?? REPO_ROOT;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const venvPy = venvPython(root);

  const candidates: string[] = [];
  const fromEnv = env.KEYCTL_PYTHON?.trim();
  if (fromEnv) candidates.push(fromEnv);
  candidates.push("python3");
  candidates.push(venvPy);

  for (const candidate of candidates) {
    if (candidate === venvPy && !existsSync(venvPy)) continue;
    const found = await probePython(candidate, env);
    if (found) return found;
  }

  // Last resort: a project-local virtualenv.
  log(
    `[keyctl e2e] no Python with moto found; creating ${join(root, ".venv")} and installing moto[server]==${MOTO_VERSION} ...`,
  );
  let reason: string;
  if (!existsSync(venvPy)) {
    const mk = await run("python3", ["-m", "venv", join(root, ".venv")], env, 120_000);
    if (mk.code !== 0) {
      reason = `"python3 -m venv .venv" failed: ${lastLine(mk.stderr) || mk.error?.message || `exit ${mk.code}`}`;
      throw missingMoto(candidates, reason);
    }
  }
  const pip = await run(
    venvPy,
    ["-m", "pip", "install", "--disable-pip-version-check", "--quiet", `moto[server]==${MOTO_VERSION}`],
    env,
    10 * 60_000,
  );
  if (pip.code !== 0) {
    reason = `pip install into .venv failed: ${lastLine(pip.stderr) || pip.error?.message || `exit ${pip.code}`}`;
    throw missingMoto(candidates, reason);
  }
  const found = await probePython(venvPy, env);
  if (found) return found;
  throw missingMoto(candidates, "moto installed into .venv but `import moto.server` still fails");
}

function missingMoto(tried: string[], reason: string): Error {
  return new Error(
    `moto is missing: no Python can "import moto.server" (tried ${tried.join(", ")}; ${reason}). ` +
      `Install it with: ${INSTALL_HINT}.`.replace(/\s+/g, " "),
  );
}

/** Find (or install) a Python interpreter with moto[server]. Cached per process. */
export function findMotoPython(opts: FindPythonOptions = {}): Promise<string> {
  const useCache = (opts.cache ?? true) && !opts.env && !opts.root;
  if (!useCache) return discoverPython(opts);
  cachedPython ??= discoverPython(opts);
  return cachedPython;
}

// ---------------------------------------------------------------------------------------------
// Server lifecycle
// ---------------------------------------------------------------------------------------------

/** A free TCP port on 127.0.0.1 (listen on port 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error("could not get a free port"))));
    });
  });
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of live) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
  });
}

// Equivalent of `python -m moto.server ARGS`, plus: exit as soon as stdin (a pipe from us) closes.
const WRAPPER = [
  "import os, sys, threading",
  "def _watch():",
  "    try:",
  "        while sys.stdin.buffer.read(4096):",
  "            pass",
  "    except Exception:",
  "        pass",
  "    os._exit(0)",
  "threading.Thread(target=_watch, daemon=True).start()",
  "from moto.server import main",
  "main(sys.argv[1:])",
].join("\n");

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off("exit", onExit);
      resolve(false);
    }, ms);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once("exit", onExit);
  });
}

async function killChild(child: ChildProcess): Promise<void> {
  if (!exited(child)) {
    child.kill("SIGTERM");
    if (!(await waitExit(child, 3_000))) {
      child.kill("SIGKILL");
      await waitExit(child, 10_000);
    }
  }
  live.delete(child);
}

async function motoPost(url: string, path: string, body?: string): Promise<string> {
  const res = await fetch(`${url}${path}`, {
    method: "POST",
    ...(body !== undefined ? { headers: { "Content-Type": "text/plain" }, body } : {}),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`moto ${path} -> HTTP ${res.status}: ${text.slice(0, 300)}`);
  return text;
}

/**
 * `POST /moto-api/reset-auth` with body `value` ("0" = auth on, "inf" = auth off).
 * Returns the previous value as moto reports it (e.g. "0.0" or "inf").
 */
export async function motoResetAuth(url: string, value: string): Promise<string> {
  const text = await motoPost(url, "/moto-api/reset-auth", value);
  const parsed: unknown = JSON.parse(text);
  if (parsed && typeof parsed === "object" && "PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT" in parsed) {
    return String(parsed.PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT);
  }
  return "inf";
}

async function launch(python: string, timeoutMs: number): Promise<MotoServer> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(python, ["-c", WRAPPER, "-H", "127.0.0.1", "-p", String(port)], {
    detached: false,
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, PYTHONUNBUFFERED: "1", PYTHONDONTWRITEBYTECODE: "1" },
  });
  let output = "";
  const capture = (chunk: Buffer) => {
    output += chunk.toString("utf8");
    if (output.length > OUTPUT_LIMIT) output = output.slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on("data", capture);
  child.stderr?.on("data", capture);
  let spawnError: Error | undefined;
  child.once("error", (err) => {
    spawnError = err;
  });
  child.stdin?.on("error", () => {
    // EPIPE after the child exits: nothing to do
  });
  live.add(child);
  installExitHook();

  const stop = () => killChild(child);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (spawnError || exited(child)) {
      live.delete(child);
      const why = spawnError ? spawnError.message : `exited with ${child.exitCode ?? child.signalCode}`;
      throw new Error(`moto server on port ${port} ${why} before answering.\n--- moto output ---\n${output}`);
    }
    try {
      const res = await fetch(`${url}/moto-api/`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.status < 500) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `moto server did not answer on ${url} within ${timeoutMs} ms.\n--- moto output ---\n${output}`,
      );
    }
    await sleep(100);
  }

  // Don't keep the event loop alive just for moto: the exit hook / stdin watchdog end it.
  child.unref();
  for (const s of [child.stdin, child.stdout, child.stderr]) {
    if (s && "unref" in s && typeof s.unref === "function") s.unref();
  }

  const pid = child.pid;
  if (pid === undefined) throw new Error("moto server has no pid");
  return {
    url,
    port,
    pid,
    stop,
    async reset() {
      await motoPost(url, "/moto-api/reset");
    },
    async setAuth(on: boolean) {
      await motoResetAuth(url, on ? "0" : "inf");
    },
    output: () => output,
  };
}

/** Start a fresh moto server on a free loopback port. Auth is ON unless `{ auth: false }`. */
export async function startMoto(opts: StartMotoOptions = {}): Promise<MotoServer> {
  const python = await findMotoPython();
  const timeoutMs = opts.startTimeoutMs ?? 30_000;
  let lastError: unknown;
  // The free port can be stolen between close() and moto's bind(); retry a couple of times.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const server = await launch(python, timeoutMs);
      if (opts.auth ?? true) {
        try {
          await server.setAuth(true);
        } catch (err) {
          await server.stop();
          throw err;
        }
      }
      return server;
    } catch (err) {
      lastError = err;
      const msg = err instanceof Error ? err.message : String(err);
      if (!/address already in use|errno 98/i.test(msg)) break;
    }
  }
  throw lastError;
}
