// The record for auditors: one JSON line per profile whose keys a run changed in IAM, in
// `<credentials>.keyctl-history.jsonl` next to the (real) credentials file. No secret ever goes in.
// It answers "when was this key rotated, when was the old one removed" without CloudTrail.

import { constants } from "node:fs";
import { lstat, open, readFile } from "node:fs/promises";
import type { CliInput } from "../cli/args.js";
import type { Output } from "../cli/output.js";
import { ExitCode, errnoCode, KeyctlError } from "../errors.js";
import { credentialsPath } from "../store/paths.js";

export interface HistoryEntry {
  readonly time: string;
  readonly profile: string;
  /** rotate, deactivate, delete, finish, or failed (a run that stopped part-way). */
  readonly action: string;
  readonly status: string;
  readonly exitCode: number;
  readonly user?: string;
  readonly account?: string;
  readonly oldKeyId?: string;
  readonly newKeyId?: string;
  /** For a retirement: the profile's key, proven to work before the old one was touched. */
  readonly currentKeyId?: string;
  /** What happened to the old key in IAM. */
  readonly oldKey?: string;
  /** A key deleted to make room under IAM's 2-key limit. */
  readonly deletedKeyId?: string;
  readonly detail?: string;
}

export function historyPath(credentialsRealPath: string): string {
  return `${credentialsRealPath}.keyctl-history.jsonl`;
}

/** Only a regular 0600 file of this user is read or extended: anyone else could forge the record. */
function checkPrivate(path: string, info: { isFile(): boolean; uid: number; mode: number }): void {
  const uid = process.getuid?.();
  if (!info.isFile() || (uid !== undefined && info.uid !== uid) || (info.mode & 0o777) !== 0o600) {
    throw new KeyctlError(
      `${path} is not a private file of yours (a regular file, your own, mode 600); keyctl does not trust it. Check who wrote it, then fix it (chmod 600) or move it away.`,
    );
  }
}

export async function appendHistory(credentialsRealPath: string, entry: HistoryEntry): Promise<void> {
  const path = historyPath(credentialsRealPath);
  const handle = await open(
    path,
    constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    checkPrivate(path, await handle.stat());
    await handle.write(`${JSON.stringify(entry)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function readHistory(credentialsRealPath: string): Promise<HistoryEntry[]> {
  const path = historyPath(credentialsRealPath);
  let text: string;
  try {
    checkPrivate(path, await lstat(path));
    text = await readFile(path, "utf8");
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return [];
    if (err instanceof KeyctlError) throw err;
    throw new KeyctlError(`Cannot read ${path}: ${errnoCode(err) ?? String(err)}`);
  }
  const entries: HistoryEntry[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      entries.push(JSON.parse(line) as HistoryEntry);
    } catch {
      // A torn last line (a crash mid-append) is not a record; the others still are.
    }
  }
  return entries;
}

/** When the history says a rotation that made key `id` finished (the key was seen working). */
export function seenWorkingIn(credentialsRealPath: string): (id: string) => Promise<string | undefined> {
  return async (id) => {
    const entries = await readHistory(credentialsRealPath).catch(() => []);
    return entries.find((e) => e.action === "rotate" && e.status === "done" && e.newKeyId === id)?.time;
  };
}

/** `keyctl --history [-t P] [--json]`. */
export async function runHistory(input: CliInput, out: Output): Promise<number> {
  const { realpath } = await import("node:fs/promises");
  const path = credentialsPath(input.credentials);
  const real = await realpath(path).catch(() => path);
  const wanted = new Set(input.targets);
  const entries = (await readHistory(real)).filter((e) => wanted.size === 0 || wanted.has(e.profile));
  if (out.json) {
    out.document({ historyFile: historyPath(real), entries });
    return ExitCode.ok;
  }
  if (entries.length === 0) {
    out.note(
      `No key changes recorded in ${historyPath(real)}${wanted.size > 0 ? ` for ${[...wanted].join(", ")}` : ""}.`,
    );
    return ExitCode.ok;
  }
  for (const e of entries) {
    const keys = [
      e.oldKeyId && e.newKeyId ? `${e.oldKeyId} → ${e.newKeyId}` : (e.oldKeyId ?? e.newKeyId ?? ""),
      e.oldKey ? `old key ${e.oldKey}` : "",
      e.deletedKeyId ? `deleted ${e.deletedKeyId} to make room` : "",
    ].filter(Boolean);
    const who = e.user ? ` ${e.user}${e.account ? `@${e.account}` : ""}` : "";
    out.result(
      `${e.time}  ${e.profile}${who}  ${e.action} (${e.status}, exit ${e.exitCode})  ${keys.join("; ")}${e.detail ? `  ${e.detail}` : ""}`,
    );
  }
  return ExitCode.ok;
}
