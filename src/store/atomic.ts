import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { type FileHandle, open, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

// Written by hand rather than with write-file-atomic: that package opens its temp file without
// O_EXCL, never fsyncs the directory (so a crash right after rename can lose the new name), and
// its current major needs Node 22.

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
  const tmp = join(dir, `.${basename(target)}.keyctl-${process.pid}-${randomBytes(6).toString("hex")}.tmp`);
  const owner = await stat(target).catch(() => undefined);
  let handle: FileHandle | undefined;
  let created = false;
  try {
    handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, PRIVATE);
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

/** Creates a new private file that must not exist yet (backups, recovery files), fsynced. */
export async function writeNewPrivateFile(path: string, data: Uint8Array): Promise<void> {
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
  await fsyncDir(dirname(path));
}
