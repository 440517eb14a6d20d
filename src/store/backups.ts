import { readdir, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

export interface BackupFile {
  readonly path: string;
  /** When the backup was made, in ms since the epoch: what "newest" means. */
  readonly madeAt: number;
  /** The same-second counter (`_2`, `_3`, ...), for backups made within one second. */
  readonly counter: number;
}

/** Backups keep the newest N by default: enough to undo several runs, not a pile of old secrets. */
export const DEFAULT_KEEP_BACKUPS = 10;

// credentials.backup.20260102_030405Z[_N]: UTC, so the order of the names is the order of time.
// Older keyctl versions (and the original tool) wrote the same without the Z, in local time; such a
// name does not say which zone it was written in, so those backups are ordered by their mtime.
// This file is the one owner of that name: the store makes it, restore and the temp sweep read it.
const PATTERN = /^(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})(Z?)(?:_(\d+))?$/;

/** What every backup's name of `file` starts with (no directory). */
export function backupPrefix(file: string): string {
  return `${basename(file)}.backup.`;
}

/** The `n`th backup of `file` made within the second of `at` (the first has no counter). */
export function backupPath(file: string, at: Date, n = 1): string {
  const base = `${file}.backup.${backupStamp(at)}`;
  return n === 1 ? base : `${base}_${n}`;
}

/** A shell glob for the backups of `file`, for a message that tells the user how to list them. */
export function backupGlob(file: string): string {
  return join(dirname(file), `${backupPrefix(file)}*`);
}

/** The part of a backup's temp file name between the file's name and the temp tail (a RegExp source). */
export const BACKUP_INFIX_SOURCE = "\\.backup\\.[^/]+?";

function pad(n: number, width = 2): string {
  return String(n).padStart(width, "0");
}

/**
 * YYYYMMDD_HHMMSSZ in UTC. The original tool used local time without a zone, so a time-zone or DST
 * change made a newer backup sort before an older one and pruning removed the backup just made.
 */
export function backupStamp(d: Date): string {
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}_${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
}

/** The backups keyctl made of `credentialsPath` (exactly its naming scheme), newest first. */
export async function listBackups(credentialsPath: string): Promise<BackupFile[]> {
  const dir = dirname(credentialsPath);
  const prefix = backupPrefix(credentialsPath);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const backups: BackupFile[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = PATTERN.exec(name.slice(prefix.length));
    if (!m) continue;
    const path = join(dir, name);
    const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    let madeAt: number;
    if (m[7] === "Z") madeAt = Date.UTC(year, month - 1, day, hour, minute, second);
    else {
      const stats = await stat(path).catch(() => undefined);
      if (!stats) continue;
      madeAt = stats.mtimeMs;
    }
    backups.push({ path, madeAt, counter: m[8] ? Number(m[8]) : 1 });
  }
  return backups.sort((a, b) => b.madeAt - a.madeAt || b.counter - a.counter);
}

/** Removes all but the newest `keep` backups; returns the removed paths. */
export async function pruneBackups(credentialsPath: string, keep: number): Promise<string[]> {
  const removed: string[] = [];
  for (const old of (await listBackups(credentialsPath)).slice(keep)) {
    try {
      await unlink(old.path);
      removed.push(old.path);
    } catch {
      // Someone else removed it, or it is not ours to remove: leave it.
    }
  }
  return removed;
}
