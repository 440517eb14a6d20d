import { appendFileSync } from "node:fs";
import { readFile, realpath, stat } from "node:fs/promises";
import { errnoCode, fileErrorMessage, KeyctlError } from "../errors.js";
import { CredentialsDocument } from "../ini/document.js";
import { shielded } from "../util/interrupt.js";
import { removeStaleTemps, replaceFileAtomic, writeNewPrivateFile } from "./atomic.js";

export interface CredentialsFile {
  /** The path the user named (may be a symlink). */
  readonly path: string;
  /** The file the path resolves to; writes go here so a symlink stays a symlink. */
  readonly realPath: string;
  readonly text: string;
  readonly doc: CredentialsDocument;
  readonly mode: number;
}

export interface CommitResult<T> {
  readonly value: T;
  readonly changed: boolean;
  /** The backup made before this store's first change, when this commit made it. */
  readonly backupPath?: string;
  /** The file's previous mode when it was looser than 0600 and got tightened. */
  readonly tightenedFrom?: number;
}

export interface StoreOptions {
  /** A lock older than this is taken as left by a dead process. */
  readonly staleLockMs?: number;
  /** How long to wait for another keyctl to release the lock. */
  readonly lockWaitMs?: number;
  readonly now?: () => Date;
}

export type Edit<T> = (doc: CredentialsDocument, current: CredentialsFile) => T;

/** The file's bytes and mode as one read found them. */
interface Snapshot {
  readonly bytes: Buffer;
  readonly mode: number;
}

/** An edit applied before the lock was taken, to the file as it was then. */
interface Prepared<T> {
  readonly seen: Buffer;
  readonly value: T;
  readonly next: string;
  readonly changed: boolean;
}

type CommitPrepared = <T>(edit: Edit<T>, prepared?: Prepared<T>) => Promise<CommitResult<T>>;

export interface LockedStore {
  read(): Promise<CredentialsFile>;
  /** Applies `edit` to the file as it is on disk now and writes the result atomically. */
  commit<T>(edit: Edit<T>): Promise<CommitResult<T>>;
  /** Makes this store's backup now (once), before a change that must not start without one. */
  backup(): Promise<string | undefined>;
}

// ignoreBOM keeps a byte order mark in the text: the document prints it back, the backup and the
// "changed under us" check compare exact bytes (without it a file with a BOM could never be updated).
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

// For `npm run bench`: a file to which every hold of the file lock appends "from to" (epoch ms), so
// the share of a batch's wall time spent holding the lock can be measured. Off unless set.
const TRACE_LOCK = process.env.KEYCTL_TRACE_LOCK;
const epochMs = () => performance.timeOrigin + performance.now();

export function missingFileMessage(path: string): string {
  return `No credentials file at ${path}. Point keyctl at yours with --credentials PATH (or AWS_SHARED_CREDENTIALS_FILE), or create one with 'aws configure'.`;
}

export class CredentialsStore {
  readonly path: string;
  private readonly staleLockMs: number;
  private readonly lockWaitMs: number;
  private readonly now: () => Date;
  private backupPath: string | undefined;
  /** Whether this store's first locked commit has removed killed writers' temp files yet. */
  private swept = false;

  constructor(path: string, options: StoreOptions = {}) {
    this.path = path;
    this.staleLockMs = options.staleLockMs ?? 5_000;
    this.lockWaitMs = options.lockWaitMs ?? 60_000;
    this.now = options.now ?? (() => new Date());
  }

  /** The backup this store made before its first change, if any. */
  get backup(): string | undefined {
    return this.backupPath;
  }

  async read(): Promise<CredentialsFile> {
    const realPath = await this.resolve();
    return this.fileOf(realPath, await this.snapshot(realPath));
  }

  /**
   * Like `withLock((locked) => locked.commit(edit))`, but the edit is first applied before the file
   * lock is taken, in this process's turn for the file: under the lock, a file still byte-identical
   * to what the edit saw is then written without being parsed, edited or printed again.
   */
  async update<T>(edit: Edit<T>): Promise<CommitResult<T>> {
    const realPath = await this.resolve();
    const leave = await inProcessTurn(realPath);
    try {
      const prepared = await this.prepare(realPath, edit);
      return await shielded(() =>
        this.withFileLock(realPath, (locked) => locked.commitPrepared(edit, prepared)),
      );
    } finally {
      leave();
    }
  }

  private async prepare<T>(realPath: string, edit: Edit<T>): Promise<Prepared<T> | undefined> {
    try {
      const snapshot = await this.snapshot(realPath);
      const file = this.fileOf(realPath, snapshot);
      const value = edit(file.doc, file);
      const next = file.doc.toString();
      return { seen: snapshot.bytes, value, next, changed: next !== file.text };
    } catch {
      // Whatever failed is met again under the lock, on the file as it is then, and reported there.
      return undefined;
    }
  }

  private async snapshot(realPath: string): Promise<Snapshot> {
    try {
      const bytes = await readFile(realPath);
      return { bytes, mode: (await stat(realPath)).mode & 0o777 };
    } catch (err) {
      if (errnoCode(err) === "ENOENT") throw new KeyctlError(missingFileMessage(this.path));
      throw new KeyctlError(fileErrorMessage(err, "reading", this.path));
    }
  }

  private textOf(bytes: Buffer): string {
    try {
      return decoder.decode(bytes);
    } catch {
      throw new KeyctlError(`${this.path} is not valid UTF-8 text; fix or replace the file, then run again.`);
    }
  }

  private fileOf(realPath: string, { bytes, mode }: Snapshot): CredentialsFile {
    const text = this.textOf(bytes);
    return { path: this.path, realPath, text, doc: CredentialsDocument.parse(text), mode };
  }

  /** Runs `fn` holding the cross-process lock of this credentials file. */
  async withLock<T>(fn: (locked: LockedStore) => Promise<T>): Promise<T> {
    const realPath = await this.resolve();
    // Rotations of one process queue here, so only one of them at a time contends for the file lock.
    const leave = await inProcessTurn(realPath);
    try {
      return await shielded(() => this.withFileLock(realPath, fn));
    } finally {
      leave();
    }
  }

  private async withFileLock<T>(
    realPath: string,
    fn: (locked: LockedStore & { commitPrepared: CommitPrepared }) => Promise<T>,
  ): Promise<T> {
    let compromised: Error | undefined;
    let release: () => Promise<void>;
    try {
      release = await this.acquire(realPath, (err) => {
        compromised = err;
      });
    } catch (err) {
      if (errnoCode(err) === "ELOCKED") {
        throw new KeyctlError(
          `Another keyctl is still updating ${this.path} (lock ${realPath}.lock); wait for it to finish and run again.`,
        );
      }
      throw new KeyctlError(fileErrorMessage(err, "locking", this.path));
    }
    const commitPrepared: CommitPrepared = async (edit, prepared) => {
      if (compromised) {
        throw new KeyctlError(
          `Lost the lock on ${this.path} (${compromised.message}); nothing was written, run again.`,
        );
      }
      return this.commitLocked(realPath, edit, prepared);
    };
    const locked = {
      read: () => this.read(),
      commit: <U>(edit: Edit<U>) => commitPrepared(edit),
      commitPrepared,
      backup: async () => {
        if (this.backupPath) return undefined;
        const { bytes } = await this.snapshot(realPath);
        this.textOf(bytes);
        return this.ensureBackup(bytes);
      },
    };
    const heldFrom = TRACE_LOCK ? epochMs() : 0;
    try {
      return await fn(locked);
    } finally {
      await release().catch(() => {});
      if (TRACE_LOCK) appendFileSync(TRACE_LOCK, `${heldFrom.toFixed(3)} ${epochMs().toFixed(3)}\n`);
    }
  }

  /**
   * Takes the lock, waiting up to lockWaitMs while another process holds it. Only a held lock is
   * waited for: proper-lockfile's own retries would retry any error, so a read-only file system or a
   * denied mkdir kept the user waiting for the whole lockWaitMs before saying so.
   */
  private async acquire(realPath: string, onCompromised: (err: Error) => void): Promise<() => Promise<void>> {
    // Loaded on first use: read-only commands never pay for it (or for the graceful-fs it brings).
    const { default: lockfile } = await import("proper-lockfile");
    const deadline = Date.now() + this.lockWaitMs;
    let delay = 25;
    for (;;) {
      try {
        return await lockfile.lock(realPath, {
          realpath: false,
          lockfilePath: `${realPath}.lock`,
          stale: this.staleLockMs,
          update: Math.max(1_000, Math.floor(this.staleLockMs / 3)),
          retries: 0,
          onCompromised,
        });
      } catch (err) {
        const remaining = deadline - Date.now();
        if (errnoCode(err) !== "ELOCKED" || remaining <= 0) throw err;
        await new Promise((resolve) => setTimeout(resolve, Math.min(delay, remaining)));
        delay = Math.min(250, Math.ceil(delay * 1.3));
      }
    }
  }

  private async commitLocked<T>(
    realPath: string,
    edit: Edit<T>,
    prepared?: Prepared<T>,
  ): Promise<CommitResult<T>> {
    // A writer that ignores our lock (the AWS CLI, an editor) may change the file while we prepare
    // ours; the last check sits right before the rename, and the edit is re-applied on its text.
    // Under the lock: one read, the edit only if the file moved since it was prepared, one re-check.
    let madeBackup: string | undefined;
    for (let attempt = 0; ; attempt++) {
      const current = await this.snapshot(realPath);
      if (!this.swept) {
        this.swept = true;
        await this.removeCrashLeftovers(realPath);
      }
      let value: T;
      let next: string;
      let unchanged: boolean;
      if (attempt === 0 && prepared?.seen.equals(current.bytes)) {
        ({ value, next } = prepared);
        unchanged = !prepared.changed;
      } else {
        const file = this.fileOf(realPath, current);
        value = edit(file.doc, file);
        next = file.doc.toString();
        unchanged = next === file.text;
      }
      const tightenedFrom = (current.mode & 0o077) !== 0 ? current.mode : undefined;
      if (unchanged && tightenedFrom === undefined) return { value, changed: false };
      // A retry after a concurrent change must still report the backup the first attempt made.
      madeBackup ??= await this.ensureBackup(current.bytes);
      const backupPath = madeBackup;
      try {
        await replaceFileAtomic(realPath, Buffer.from(next, "utf8"), async () => {
          const now = await readFile(realPath).catch(() => undefined);
          if (!now || !current.bytes.equals(now)) throw new ConcurrentChange();
        });
      } catch (err) {
        if (err instanceof ConcurrentChange) {
          if (attempt < 3) continue;
          throw new KeyctlError(
            `${this.path} keeps changing under keyctl; stop the other writer and run again.`,
          );
        }
        throw new KeyctlError(`${fileErrorMessage(err, "writing", this.path)} The file is unchanged.`);
      }
      return {
        value,
        changed: true,
        ...(backupPath ? { backupPath } : {}),
        ...(tightenedFrom !== undefined ? { tightenedFrom } : {}),
      };
    }
  }

  /** Temp files of writers that were killed mid-write (we hold the lock, so none is live). */
  private async removeCrashLeftovers(realPath: string): Promise<void> {
    await removeStaleTemps(realPath).catch(() => []);
    if (this.path !== realPath) await removeStaleTemps(this.path).catch(() => []);
  }

  private async ensureBackup(bytes: Buffer): Promise<string | undefined> {
    if (this.backupPath) return undefined;
    const stamp = backupStamp(this.now());
    const base = `${this.path}.backup.${stamp}`;
    for (let n = 1; n < 1000; n++) {
      const candidate = n === 1 ? base : `${base}_${n}`;
      try {
        await writeNewPrivateFile(candidate, bytes);
        this.backupPath = candidate;
        return candidate;
      } catch (err) {
        if (errnoCode(err) === "EEXIST") continue;
        throw new KeyctlError(
          `${fileErrorMessage(err, "writing the backup", candidate)} Nothing was changed in ${this.path}.`,
        );
      }
    }
    throw new KeyctlError(`Too many backups named ${base}*; remove old ones and run again.`);
  }

  private async resolve(): Promise<string> {
    try {
      return await realpath(this.path);
    } catch (err) {
      if (errnoCode(err) === "ENOENT") throw new KeyctlError(missingFileMessage(this.path));
      throw new KeyctlError(fileErrorMessage(err, "reading", this.path));
    }
  }
}

class ConcurrentChange extends Error {}

const turns = new Map<string, Promise<void>>();

/** An in-process mutex per file: resolves when it is the caller's turn; call the result to leave. */
async function inProcessTurn(key: string): Promise<() => void> {
  const previous = turns.get(key) ?? Promise.resolve();
  let leave!: () => void;
  const mine = new Promise<void>((resolve) => {
    leave = resolve;
  });
  const tail = previous.then(() => mine);
  turns.set(key, tail);
  await previous;
  return () => {
    leave();
    if (turns.get(key) === tail) turns.delete(key);
  };
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, "0");
}

/** YYYYMMDD_HHMMSS in local time, as the original tool names its backups. */
export function backupStamp(d: Date): string {
  return `${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}_${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}`;
}
