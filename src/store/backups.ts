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
const PATTERN = /^(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})(Z?)(?:_(\d+))?$/;

/** The backups keyctl made of `credentialsPath` (exactly its naming scheme), newest first. */
export async function listBackups(credentialsPath: string): Promise<BackupFile[]> {
  const dir = dirname(credentialsPath);
  const prefix = `${basename(credentialsPath)}.backup.`;
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
