import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fsyncSync,
  linkSync,
  openSync,
  readdirSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { asDirectoryError, errnoCode } from "../errors.js";
import { BACKUP_INFIX_SOURCE } from "./backups.js";

// Written by hand rather than with write-file-atomic: that package opens its temp file without
// O_EXCL, never fsyncs the directory (so a crash right after rename can lose the new name), and
// its current major needs Node 22.
//
// The system calls are synchronous on purpose. These writes run while the credentials file's lock
// is held, and every await of an asynchronous call lets the other rotations of a batch run their
// JavaScript (SDK signing, XML parsing) before the write goes on: the hold, which every waiting
// rotation and every other keyctl pays for, stretched to several times its I/O. A small file's
// write and fsync block the event loop for about a millisecond, time the lock would be held anyway.

let counter = 0;

/** Unique within the process; O_EXCL guards against anything else. node:crypto costs start-up. */
function uniqueSuffix(): string {
  counter += 1;
  return `${Date.now().toString(36)}${counter.toString(36)}${Math.floor(Math.random() * 2 ** 32).toString(36)}`;
}

const PRIVATE = 0o600;

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, constants.O_RDONLY);
    fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on a directory; the rename itself has still happened.
  } finally {
    if (fd !== undefined) closeQuietly(fd);
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Already closed, or the close failed after the data was written and synced.
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Gone already.
  }
}

/** Writes all of `data` at the start of the new file `fd`. */
function writeAll(fd: number, data: Uint8Array): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, done);
}

/** Opens `path` as a new private file (O_EXCL), mode 0600 whatever the umask. */
function createPrivate(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, PRIVATE);
  } catch (err) {
    throw asDirectoryError(err, dirname(path));
  }
  try {
    fchmodSync(fd, PRIVATE);
  } catch (err) {
    closeQuietly(fd);
    unlinkQuietly(path);
    throw err;
  }
  return fd;
}

export interface ReplaceOptions {
  /**
   * False for a best-effort write: the directory is not fsynced after the rename, so a power loss
   * may bring back the previous version of the file (the data itself is synced before the rename,
   * so the file is always one complete version or the other). A crash of the process alone never
   * undoes a rename: the kernel has it.
   */
  readonly durable?: boolean;
}

/**
 * Replaces `target` (already resolved through symlinks) with `data`: a private temp file in the same
 * directory, fsynced, renamed over the target, then the directory fsynced (unless `durable` is
 * false). `beforeRename` is the last check, once the temp file is complete: its throw leaves the
 * target untouched. On any failure the temp file is removed and the target is untouched. The result
 * is mode 0600 and keeps the owner.
 */
export async function replaceFileAtomic(
  target: string,
  data: Uint8Array,
  beforeRename?: () => Promise<void>,
  options: ReplaceOptions = {},
): Promise<void> {
  const tmp = tempPathFor(target);
  let owner: { uid: number; gid: number } | undefined;
  try {
    owner = statSync(target);
  } catch {
    owner = undefined;
  }
  let fd: number | undefined = createPrivate(tmp);
  let created = true;
  try {
    if (owner && process.getuid?.() === 0 && (owner.uid !== 0 || owner.gid !== 0)) {
      fchownSync(fd, owner.uid, owner.gid);
    }
    writeAll(fd, data);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    await beforeRename?.();
    renameSync(tmp, target);
    created = false;
  } finally {
    if (fd !== undefined) closeQuietly(fd);
    if (created) unlinkQuietly(tmp);
  }
  if (options.durable !== false) fsyncDir(dirname(target));
}

/**
 * Creates a new private file that must not exist yet (backups, recovery files), fsynced. It is written
 * under a temp name and hard-linked into place: link() refuses an existing name just as O_EXCL does,
 * and a crash leaves either no file or the complete one, never a truncated backup that a later
 * restore would pick up.
 */
export async function writeNewPrivateFile(path: string, data: Uint8Array): Promise<void> {
  const tmp = tempPathFor(path);
  let fd: number | undefined = createPrivate(tmp);
  try {
    writeAll(fd, data);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    try {
      linkSync(tmp, path);
    } catch (err) {
      if (!NO_HARD_LINKS.has(errnoCode(err) ?? "")) throw err;
      writeExclusive(path, data);
    }
  } finally {
    if (fd !== undefined) closeQuietly(fd);
    unlinkQuietly(tmp);
  }
  fsyncDir(dirname(path));
}

// What link() answers on file systems without hard links (FAT, some FUSE and network mounts).
const NO_HARD_LINKS = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS", "EMLINK"]);

function writeExclusive(path: string, data: Uint8Array): void {
  const fd = createPrivate(path);
  try {
    writeAll(fd, data);
    fsyncSync(fd);
  } catch (err) {
    closeQuietly(fd);
    unlinkQuietly(path);
    throw err;
  }
  closeSync(fd);
}

/**
 * How every temp file of this module ends: `.keyctl-<pid>-<base-36 suffix>.tmp` (group 1: the pid).
 * The one definition: the stale-temp sweep and the tests that look for leftovers match with it.
 */
export const TEMP_NAME_TAIL = /\.keyctl-(\d+)-[0-9a-z]+\.tmp$/;

function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.keyctl-${process.pid}-${uniqueSuffix()}.tmp`);
}

/**
 * Removes the temp files a killed keyctl left next to `path` (for the file itself and for its
 * backups): names this module makes, whose process is gone. A SIGKILL cannot clean up after itself,
 * and each such file holds a full copy of the credentials. Call only while holding the file's lock,
 * so no live writer of `path` can be mid-write; best effort. Returns the removed paths.
 */
export async function removeStaleTemps(path: string): Promise<string[]> {
  const dir = dirname(path);
  const base = basename(path).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const pattern = new RegExp(`^\\.${base}(?:${BACKUP_INFIX_SOURCE})?${TEMP_NAME_TAIL.source}`);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = pattern.exec(name);
    if (!m || processAlive(Number(m[1]))) continue;
    try {
      unlinkSync(join(dir, name));
      removed.push(join(dir, name));
    } catch {
      // Gone already, or not ours to remove.
    }
  }
  return removed;
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === "EPERM";
  }
}
