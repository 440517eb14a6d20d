import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { CredentialsDocument } from "../../src/ini/document.js";
import type { AccessKeyPair } from "../harness/fixtures.js";
import { motoEnv } from "../harness/moto.js";

export const CLI = resolve(import.meta.dirname, "../../dist/keyctl.mjs");

let snapshot: string | undefined;

/**
 * The CLI the tests run: a private copy of dist/ taken on first use. `npm run build` empties dist/
 * before writing it again, so a build in the same checkout while a long test runs would otherwise
 * pull chunks from under the running CLI. Falls back to dist/ itself if no complete copy can be made.
 */
export function cliPath(): string {
  if (snapshot) return snapshot;
  // KEYCTL_E2E_CLI runs the suite against another build (e.g. a deliberately broken one, to see
  // the tests catch it).
  snapshot = process.env.KEYCTL_E2E_CLI || CLI;
  if (process.env.KEYCTL_E2E_CLI) return snapshot;
  try {
    const copy = join(mkdtempSync(join(tmpdir(), "keyctl-e2e-dist-")), "dist");
    cpSync(dirname(CLI), copy, { recursive: true });
    const entry = join(copy, "keyctl.mjs");
    const files = [entry, ...readdirSync(join(copy, "chunks")).map((f) => join(copy, "chunks", f))];
    const complete = files.every((f) =>
      [...readFileSync(f, "utf8").matchAll(/"\.\.?\/(?:chunks\/)?([\w.-]+\.mjs)"/g)].every((m) =>
        existsSync(join(copy, "chunks", m[1]!)),
      ),
    );
    if (complete) snapshot = entry;
    process.once("exit", () => rmSync(dirname(copy), { recursive: true, force: true }));
  } catch {
    // dist/ is being rebuilt right now: run it in place
  }
  return snapshot;
}

export interface CliRun {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A throwaway HOME with ~/.aws/credentials; never the real one. */
export async function makeHome(credentials: string): Promise<{ home: string; credentials: string }> {
  const home = await mkdtemp(join(tmpdir(), "keyctl-e2e-"));
  await mkdir(join(home, ".aws"), { recursive: true });
  const path = join(home, ".aws", "credentials");
  await writeFile(path, credentials, { mode: 0o600 });
  return { home, credentials: path };
}

export function profileText(name: string, key: AccessKeyPair, extra = ""): string {
  return `[${name}]\naws_access_key_id = ${key.accessKeyId}\naws_secret_access_key = ${key.secretAccessKey}\n${extra}`;
}

export async function readProfile(path: string, name: string): Promise<Map<string, string> | undefined> {
  return CredentialsDocument.parse(await readFile(path, "utf8")).profile(name);
}

export function keyOf(settings: Map<string, string> | undefined): AccessKeyPair {
  return {
    accessKeyId: settings?.get("aws_access_key_id") ?? "",
    secretAccessKey: settings?.get("aws_secret_access_key") ?? "",
  };
}

/**
 * Runs the built CLI against `endpoint` (the fault proxy or moto) with a private HOME. Async, so
 * the proxy living in the test process keeps answering while the CLI runs.
 */
export function runCli(
  args: readonly string[],
  options: {
    home: string;
    endpoint: string;
    env?: Record<string, string>;
    input?: string;
    killAfterMs?: number;
  },
): Promise<CliRun> {
  return new Promise((resolvePromise, reject) => {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: options.home,
      NO_COLOR: "1",
      ...motoEnv(options.endpoint),
      ...options.env,
    };
    const child = spawn(process.execPath, [cliPath(), ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
    const timer =
      options.killAfterMs !== undefined
        ? setTimeout(() => child.kill("SIGKILL"), options.killAfterMs)
        : undefined;
    collectRun(child, options.input).then((run) => {
      if (timer) clearTimeout(timer);
      resolvePromise(run);
    }, reject);
  });
}

/** Feeds `input` to a child spawned with three pipes and collects what it printed and how it ended. */
export function collectRun(child: ChildProcessWithoutNullStreams, input = ""): Promise<CliRun> {
  return new Promise((resolvePromise, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdin.end(input);
    child.on("error", reject);
    child.on("close", (status, signal) => resolvePromise({ status, signal, stdout, stderr }));
  });
}
