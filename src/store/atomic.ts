import { constants } from "node:fs";
import { type FileHandle, link, open, readdir, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { asDirectoryError, errnoCode } from "../errors.js";
import { BACKUP_INFIX_SOURCE } from "./backups.js";

// Written by hand rather than with write-file-atomic: that package opens its temp file without
// O_EXCL, never fsyncs the directory (so a crash right after rename can lose the new name), and
// its current major needs Node 22.

let counter = 0;

/** Unique within the process; O_EXCL guards against anything else. node:crypto costs start-up. */
function uniqueSuffix(): string {
  counter += 1;
  return `${Date.now().toString(36)}${counter.toString(36)}${Math.floor(Math.random() * 2 ** 32).toString(36)}`;
}

const PRIVATE = 0o600;

async function fsyncDir(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, constants.O_RDONLY);
    await handle.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the rename itself has still happened.
  } finally {
    await handle?.close().catch(() => {});
  }
}

/**
 * Replaces `target` (already resolved through symlinks) with `data`: a private temp file in the same
 * directory, fsynced, renamed over the target, then the directory fsynced. On any failure the temp
 * file is removed and the target is untouched. The result is mode 0600 and keeps the owner.
 */
export async function replaceFileAtomic(
  target: string,
  data: Uint8Array,
  beforeRename?: () => Promise<void>,
): Promise<void> {
  const dir = dirname(target);
  const tmp = tempPathFor(target);
  const owner = await stat(target).catch(() => undefined);
  let handle: FileHandle | undefined;
  let created = false;
  try {
    handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, PRIVATE).catch(
      (err: unknown) => {
        throw asDirectoryError(err, dir);
      },
    );
    created = true;
    await handle.chmod(PRIVATE);
    if (owner && process.getuid?.() === 0 && (owner.uid !== 0 || owner.gid !== 0)) {
      await handle.chown(owner.uid, owner.gid);
    }
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await beforeRename?.();
    await rename(tmp, target);
    created = false;
  } finally {
    await handle?.close().catch(() => {});
    if (created) await unlink(tmp).catch(() => {});
  }
  await fsyncDir(dir);
}

/**
 * Creates a new private file that must not exist yet (backups, recovery files), fsynced. It is written
 * under a temp name and hard-linked into place: link() refuses an existing name just as O_EXCL does,
 * and a crash leaves either no file or the complete one, never a truncated backup that a later
 * restore would pick up.
 */
export async function writeNewPrivateFile(path: string, data: Uint8Array): Promise<void> {
  const tmp = tempPathFor(path);
  let handle: FileHandle | undefined = await open(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
    PRIVATE,
  ).catch((err: unknown) => {
    throw asDirectoryError(err, dirname(path));
  });
  try {
    await handle.chmod(PRIVATE);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    try {
      await link(tmp, path);
    } catch (err) {
      if (!NO_HARD_LINKS.has(errnoCode(err) ?? "")) throw err;
      await writeExclusive(path, data);
    }
  } finally {
    await handle?.close().catch(() => {});
    await unlink(tmp).catch(() => {});
  }
  await fsyncDir(dirname(path));
}

// What link() answers on file systems without hard links (FAT, some FUSE and network mounts).
const NO_HARD_LINKS = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS", "EMLINK"]);

async function writeExclusive(path: string, data: Uint8Array): Promise<void> {
  const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, PRIVATE);
  try {
    await handle.chmod(PRIVATE);
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => {});
    await unlink(path).catch(() => {});
    throw err;
  }
  await handle.close();
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
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = pattern.exec(name);
    if (!m || processAlive(Number(m[1]))) continue;
    try {
      await unlink(join(dir, name));
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
