/**
 * Runs the built CLI inside a new network namespace (`unshare -rn`) that has only loopback: a run
 * that tried a real AWS endpoint (a resolution bug in endpoints, proxies or partitions) fails there
 * instead of leaving the machine. Its one way out is RELAY_PORT on the namespace's loopback, which
 * netns-relay.mjs pipes through a Unix socket to `target` (the gate, a proxy) in the test process.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type CliRun, collectRun } from "./cli.js";

/** The port the namespace's loopback relays to the target; the namespace is new, so it is free. */
export const RELAY_PORT = 4566;
export const RELAY_URL = `http://127.0.0.1:${RELAY_PORT}`;

const RELAY = resolve(import.meta.dirname, "netns-relay.mjs");

/** Whether this machine can make a network namespace (root, or user namespaces allowed). */
export function canIsolate(): boolean {
  return spawnSync("unshare", ["-rn", "true"], { stdio: "ignore" }).status === 0;
}

/** The environment of a run in the namespace: no endpoint, proxy or region unless the test adds one. */
export function isolatedEnv(home: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    NO_COLOR: "1",
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  };
}

export async function runIsolated(
  command: readonly string[],
  options: { target: string; env: Record<string, string>; input?: string },
): Promise<CliRun> {
  const dir = await mkdtemp(join(tmpdir(), "keyctl-netns-"));
  const socketPath = join(dir, "relay.sock");
  const target = new URL(options.target);
  const server = createServer((outer) => {
    const up = connect(Number(target.port), target.hostname);
    outer.pipe(up);
    up.pipe(outer);
    outer.on("error", () => up.destroy());
    up.on("error", () => outer.destroy());
  });
  await new Promise<void>((done) => server.listen(socketPath, done));
  try {
    const child = spawn(
      "unshare",
      [
        "-rn",
        "sh",
        "-c",
        'ip link set lo up && exec "$@"',
        "sh",
        process.execPath,
        RELAY,
        socketPath,
        String(RELAY_PORT),
        "--",
        ...command,
      ],
      { env: options.env, stdio: ["pipe", "pipe", "pipe"] },
    );
    return await collectRun(child, options.input);
  } finally {
    await new Promise<void>((done) => server.close(() => done()));
    await rm(dir, { recursive: true, force: true });
  }
}
