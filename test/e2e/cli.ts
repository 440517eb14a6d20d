import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { CredentialsDocument } from "../../src/ini/document.js";
import type { AccessKeyPair } from "../harness/fixtures.js";
import { motoEnv } from "../harness/moto.js";

export const CLI = resolve(import.meta.dirname, "../../dist/keyctl.mjs");

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
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdin.end(options.input ?? "");
    const timer =
      options.killAfterMs !== undefined
        ? setTimeout(() => child.kill("SIGKILL"), options.killAfterMs)
        : undefined;
    child.on("error", reject);
    child.on("close", (status, signal) => {
      if (timer) clearTimeout(timer);
      resolvePromise({ status, signal, stdout, stderr });
    });
  });
}
