import { readdir, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

export interface BackupFile {
  readonly path: string;
  /** YYYYMMDD_HHMMSS and the same-second counter, for ordering. */
  readonly stamp: string;
  readonly counter: number;
}

/** Backups keep the newest N by default: enough to undo several runs, not a pile of old secrets. */
export const DEFAULT_KEEP_BACKUPS = 10;

/** The backups keyctl made of `credentialsPath` (exactly its naming scheme), newest first. */
export async function listBackups(credentialsPath: string): Promise<BackupFile[]> {
  const dir = dirname(credentialsPath);
  const prefix = `${basename(credentialsPath)}.backup.`;
  const pattern = /^(\d{8}_\d{6})(?:_(\d+))?$/;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const backups: BackupFile[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = pattern.exec(name.slice(prefix.length));
    if (!m) continue;
    backups.push({ path: join(dir, name), stamp: m[1]!, counter: m[2] ? Number(m[2]) : 1 });
  }
  return backups.sort((a, b) => (a.stamp === b.stamp ? b.counter - a.counter : a.stamp < b.stamp ? 1 : -1));
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
