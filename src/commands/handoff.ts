// --then: hands a new key to the other places it lives (a CI secret, a password manager, another
// credentials file). The secret goes to the command only through its environment, never argv, and
// the command's output is passed on with the secret masked.

import { spawn } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import { StringDecoder } from "node:string_decoder";
import { errnoCode, KeyctlError } from "../errors.js";
import { CredentialsDocument } from "../ini/document.js";
import { after } from "../util/clock.js";

export interface HandOffKey {
  readonly profile: string;
  readonly userName: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly oldAccessKeyId?: string;
}

export const MASK = "****";

/**
 * Replaces every occurrence of `secret` in a stream of text chunks. A chunk may end inside the
 * secret, so the longest tail that could begin it is held back until the next chunk (or the end).
 */
export function secretMasker(secret: string, emit: (text: string) => void) {
  let held = "";
  return {
    write(chunk: string): void {
      const text = (held + chunk).split(secret).join(MASK);
      let keep = 0;
      for (let n = Math.min(secret.length - 1, text.length); n > 0; n--) {
        if (secret.startsWith(text.slice(text.length - n))) {
          keep = n;
          break;
        }
      }
      held = text.slice(text.length - keep);
      const out = text.slice(0, text.length - keep);
      if (out) emit(out);
    },
    end(): void {
      if (held) emit(held);
      held = "";
    },
  };
}

/** The section of the AWS config file that holds keyctl's own settings for a profile. */
export function keyctlSection(profile: string): string {
  return `keyctl profile ${profile}`;
}

/**
 * `then = COMMAND` of `[keyctl profile P]` in the AWS config file. A command from a file others can
 * change would run with the new key: such a file is refused.
 */
export async function configuredHandOff(configPath: string, profile: string): Promise<string[]> {
  let text: string;
  try {
    const info = await stat(configPath);
    text = await readFile(configPath, "utf8");
    const doc = CredentialsDocument.parse(text);
    const command = doc.get(keyctlSection(profile), "then");
    if (command === undefined || command.trim() === "") return [];
    const uid = process.getuid?.();
    if ((uid !== undefined && info.uid !== uid) || (info.mode & 0o022) !== 0) {
      throw new KeyctlError(
        `${configPath} sets a hand-off command for ${profile} but others can change the file (owner or mode ${(info.mode & 0o777).toString(8)}); make it yours and chmod go-w it, then run again.`,
      );
    }
    return [command];
  } catch (err) {
    if (err instanceof KeyctlError) throw err;
    if (errnoCode(err) === "ENOENT") return [];
    throw new KeyctlError(`Cannot read the AWS config file ${configPath}: ${errnoCode(err) ?? String(err)}`);
  }
}

export type HandOffRun =
  | { readonly ok: true }
  | { readonly ok: false; readonly command: string; readonly why: string };

/** Runs each command in turn through /bin/sh; stops at the first that fails or times out. */
export async function runHandOff(
  commands: readonly string[],
  key: HandOffKey,
  options: { timeoutMs: number; note: (line: string) => void },
): Promise<HandOffRun> {
  for (const command of commands) {
    options.note(`${key.profile}: handing the new key on: ${command}`);
    const why = await runOne(command, key, options.timeoutMs);
    if (why) return { ok: false, command, why };
  }
  return { ok: true };
}

function runOne(command: string, key: HandOffKey, timeoutMs: number): Promise<string | undefined> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // A session token or profile from keyctl's own environment would not match the key handed on.
  for (const name of ["AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"]) {
    delete env[name];
  }
  Object.assign(env, {
    AWS_ACCESS_KEY_ID: key.accessKeyId,
    AWS_SECRET_ACCESS_KEY: key.secretAccessKey,
    KEYCTL_PROFILE: key.profile,
    KEYCTL_USER: key.userName,
    KEYCTL_OLD_ACCESS_KEY_ID: key.oldAccessKeyId ?? "",
  });
  return new Promise((resolve) => {
    // Its own process group, so a timeout stops the command's children too.
    const child = spawn("/bin/sh", ["-c", command], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const pass = (stream: NodeJS.ReadableStream) => {
      const decoder = new StringDecoder("utf8");
      const masker = secretMasker(key.secretAccessKey, (text) => process.stderr.write(text));
      stream.on("data", (d: Buffer) => masker.write(decoder.write(d)));
      stream.on("end", () => {
        masker.write(decoder.end());
        masker.end();
      });
    };
    pass(child.stdout);
    pass(child.stderr);
    let timedOut = false;
    const kill = (signal: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // already gone
      }
    };
    // keyctl stopped by a signal must not leave the command running on with the key.
    const onExit = () => kill("SIGTERM");
    process.once("exit", onExit);
    const cancel = after(timeoutMs, () => {
      timedOut = true;
      kill("SIGTERM");
      after(5_000, () => kill("SIGKILL"), { unref: true });
    });
    child.on("error", (err) => {
      cancel();
      process.off("exit", onExit);
      resolve(`could not start /bin/sh (${err.message})`);
    });
    child.on("close", (code, signal) => {
      cancel();
      process.off("exit", onExit);
      if (timedOut) resolve(`it did not finish within ${Math.round(timeoutMs / 1000)} s (--then-timeout)`);
      else if (code === 0) resolve(undefined);
      else resolve(code !== null ? `it exited with status ${code}` : `it was killed by ${signal}`);
    });
  });
}

export { shellQuote } from "../util/shell.js";
