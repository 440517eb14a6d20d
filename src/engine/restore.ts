import { readFile, stat } from "node:fs/promises";
import { dirname, isAbsolute, join } from "node:path";
import { ExitCode, errnoCode, fileErrorMessage, KeyctlError } from "../errors.js";
import { CredentialsDocument } from "../ini/document.js";
import { backupGlob, listBackups } from "../store/backups.js";
import { type CredentialsStore, notRegularFile } from "../store/store.js";
import type { Confirm } from "./types.js";

export interface ProfileChange {
  readonly profile: string;
  readonly change: "key changes" | "added" | "removed";
  readonly from?: string;
  readonly to?: string;
}

export interface RestoreResult {
  readonly backup: string;
  readonly status: "done" | "planned" | "unchanged";
  readonly exitCode: number;
  readonly changes: readonly ProfileChange[];
  /** The backup of the file as it was before the restore. */
  readonly savedCurrent?: string;
  /** The file's mode before, when it was looser than 0600 and got tightened. */
  readonly tightenedFrom?: number;
}

async function chooseBackup(store: CredentialsStore, named: string | true): Promise<string> {
  if (named === true) {
    const newest = (await listBackups(store.path))[0];
    if (!newest) throw new KeyctlError(`There is no keyctl backup of ${store.path} to restore.`);
    return newest.path;
  }
  return isAbsolute(named) || named.includes("/") ? named : join(dirname(store.path), named);
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Why `text` is not something to install as the credentials file: no profile at all, or a line that
 * is neither a comment, a [section] header nor a setting (indented lines continue a nested value).
 */
function notCredentials(text: string, doc: CredentialsDocument): string | undefined {
  if (doc.profileNames().length === 0) return "it has no [profile] section";
  let inSection = false;
  for (const [index, line] of text.split(/\r?\n/).entries()) {
    const content = line.trim();
    if (content === "" || content.startsWith("#") || content.startsWith(";")) continue;
    if (content.startsWith("[") && content.includes("]")) {
      inSection = true;
      continue;
    }
    // botocore takes ':' as a separator too: `key : value` is a setting the AWS CLI reads.
    if (!inSection || (!/[=:]/.test(content) && !/^\s/.test(line))) {
      return `line ${index + 1} is neither a [section], a setting nor a comment`;
    }
  }
  return undefined;
}

/** Which profiles' keys differ between two versions of the file. */
export function keyChanges(current: CredentialsDocument, restored: CredentialsDocument): ProfileChange[] {
  const names = [...new Set([...current.profileNames(), ...restored.profileNames()])];
  const changes: ProfileChange[] = [];
  for (const profile of names) {
    const from = current.get(profile, "aws_access_key_id");
    const to = restored.get(profile, "aws_access_key_id");
    if (!current.has(profile)) changes.push({ profile, change: "added", ...(to ? { to } : {}) });
    else if (!restored.has(profile)) changes.push({ profile, change: "removed", ...(from ? { from } : {}) });
    else if (from !== to)
      changes.push({ profile, change: "key changes", ...(from ? { from } : {}), ...(to ? { to } : {}) });
  }
  return changes;
}

/** Puts a backup back through the same locked, atomic, backed-up write as every other change. */
export async function restoreBackup(
  request: { backup: string | true; yes: boolean; dryRun: boolean },
  deps: {
    store: CredentialsStore;
    confirm: Confirm;
    show: (backup: string, changes: readonly ProfileChange[]) => void;
  },
): Promise<RestoreResult> {
  const backup = await chooseBackup(deps.store, request.backup);
  let text: string;
  try {
    const problem = notRegularFile(await stat(backup), backup);
    if (problem) throw new KeyctlError(`${problem} Nothing was changed.`);
    text = strictUtf8.decode(await readFile(backup));
  } catch (err) {
    if (err instanceof KeyctlError) throw err;
    if (err instanceof TypeError) {
      throw new KeyctlError(`${backup} is not UTF-8 text, so not a credentials file; nothing was changed.`);
    }
    if (errnoCode(err) === "ENOENT") {
      throw new KeyctlError(`No backup ${backup}; list them with: ls ${backupGlob(deps.store.path)}`);
    }
    throw new KeyctlError(fileErrorMessage(err, "reading", backup));
  }
  const restored = CredentialsDocument.parse(text, deps.store.flavour);
  const problem = notCredentials(text, restored);
  if (problem) {
    throw new KeyctlError(
      `${backup} is not a credentials file (${problem}); nothing was changed. Restore one of the backups: ls ${backupGlob(deps.store.path)}`,
    );
  }
  const current = await deps.store.read();
  const changes = keyChanges(current.doc, restored);
  if (current.text === text) return { backup, status: "unchanged", exitCode: ExitCode.ok, changes };
  if (request.dryRun) return { backup, status: "planned", exitCode: ExitCode.ok, changes };
  deps.show(backup, changes);
  const summary = changes.length === 0 ? "no profile's key changes" : `${changes.length} profile(s) change`;
  const ok = await deps.confirm(`Replace ${deps.store.path} with ${backup} (${summary})?`, "--yes");
  if (!ok) throw new KeyctlError("Cancelled; nothing was changed.", ExitCode.cancelled);
  const result = await deps.store.update((doc) => doc.replaceAll(text));
  return {
    backup,
    status: "done",
    exitCode: ExitCode.ok,
    changes,
    ...(result.backupPath ? { savedCurrent: result.backupPath } : {}),
    ...(result.tightenedFrom !== undefined ? { tightenedFrom: result.tightenedFrom } : {}),
  };
}
