// Small file-system helpers for the store's integration tests.
import { execFileSync, spawn } from "node:child_process";
import { closeSync, openSync, writeSync } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { TEMP_NAME_TAIL } from "../../src/store/atomic.js";
import { backupPrefix } from "../../src/store/backups.js";

/** Temp files the atomic writer makes; the pattern is the writer's own, so the two cannot drift. */
export const TEMP_FILE = TEMP_NAME_TAIL;

export async function tempFilesIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => TEMP_FILE.test(n));
}

export async function backupsIn(dir: string, base = "credentials"): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.startsWith(backupPrefix(base))).sort();
}

export async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

/** Runs a command, returning whether it succeeded (and its stderr when it did not). */
export function tryRun(cmd: string, args: readonly string[]): { ok: boolean; error: string } {
  try {
    execFileSync(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    return { ok: true, error: "" };
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    return { ok: false, error: stderr || (err instanceof Error ? err.message : String(err)) };
  }
}

export function run(cmd: string, args: readonly string[]): void {
  const r = tryRun(cmd, args);
  if (!r.ok) throw new Error(`${cmd} ${args.join(" ")}: ${r.error}`);
}

/** Writes zeros to `path` until the file system is full; returns the bytes written. */
export function fillDisk(path: string): number {
  const fd = openSync(path, "w");
  const chunk = Buffer.alloc(1024);
  let written = 0;
  try {
    for (;;) {
      try {
        written += writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOSPC") return written;
        throw err;
      }
    }
  } finally {
    closeSync(fd);
  }
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node args…` to the end. */
export function runNode(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 30_000,
): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
