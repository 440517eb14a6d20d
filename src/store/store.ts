import {
  appendFileSync,
  lstatSync,
  mkdirSync,
  realpathSync,
  rmdirSync,
  type Stats,
  statSync,
  utimesSync,
} from "node:fs";
import { homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { asDirectoryError, errnoCode, fileErrorMessage, KeyctlError } from "../errors.js";
import { CredentialsDocument, type Flavour } from "../ini/document.js";
import { noteChange } from "../util/changes.js";
import { systemClock } from "../util/clock.js";
import { shielded } from "../util/interrupt.js";
import { retry } from "../util/retry.js";
import { removeStaleTemps, replaceFileAtomic, writeNewPrivateFile } from "./atomic.js";
import { backupPath, backupStamp } from "./backups.js";
import { NotUtf8, TextFileReader } from "./textfile.js";

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
  /** The config file holds profiles as `[profile P]`; see Flavour. */
  readonly flavour?: Flavour;
}

export interface ReadOptions {
  /**
   * A file that does not exist reads as one without profiles. The AWS CLI works with keys only in
   * the config file, so the credentials file may well be absent then.
   */
  readonly missingAsEmpty?: boolean;
}

function isMissing(path: string): boolean {
  try {
    lstatSync(path);
    return false;
  } catch (err) {
    return errnoCode(err) === "ENOENT";
  }
}

export type Edit<T> = (doc: CredentialsDocument, current: CredentialsFile) => T;

/** An edit applied, ahead of the lock, to the file's text as it was then. */
interface Prepared<T> {
  /** The text the edit was applied to. */
  readonly against: string;
  readonly doc: CredentialsDocument;
  readonly value: T;
  readonly next: string;
}

export interface LockedStore {
  read(): Promise<CredentialsFile>;
  /** Applies `edit` to the file as it is on disk now and writes the result atomically. */
  commit<T>(edit: Edit<T>, prepared?: Prepared<T>): Promise<CommitResult<T>>;
  /** Makes this store's backup now (once), before a change that must not start without one. */
  backup(): Promise<string | undefined>;
}

// For `npm run bench`: a file to which every hold of the file lock appends "from to" (epoch ms), so
// the share of a batch's wall time spent holding the lock can be measured. Off unless set.
const TRACE_LOCK = process.env.KEYCTL_TRACE_LOCK;
const epochMs = () => performance.timeOrigin + performance.now();

/** Why `stats` is not a file keyctl can read and replace whole, or undefined when it is one. */
export function notRegularFile(
  stats: Stats,
  path: string,
  flavour: Flavour = "credentials",
): string | undefined {
  if (stats.isFile()) return undefined;
  if (flavour === "config") {
    // The AWS CLI reads the config file from AWS_CONFIG_FILE, or ~/.aws/config; --credentials is no help.
    const what = stats.isDirectory() ? "a directory" : "not a regular file";
    return `${path} is ${what}, not the AWS config file; move it away, or point AWS_CONFIG_FILE at your config file.`;
  }
  if (stats.isDirectory())
    return `${path} is a directory, not a credentials file; use --credentials to name the file.`;
  const kind = stats.isFIFO()
    ? "a named pipe (FIFO)"
    : stats.isSocket()
      ? "a socket"
      : stats.isCharacterDevice() || stats.isBlockDevice()
        ? "a device"
        : "a special file";
  return `${path} is ${kind}, not a regular file; keyctl reads and replaces the whole file, so point --credentials (or AWS_SHARED_CREDENTIALS_FILE) at a regular credentials file.`;
}

export function missingFileMessage(path: string): string {
  return `No credentials file at ${path}. Point keyctl at yours with --credentials PATH (or AWS_SHARED_CREDENTIALS_FILE), or create one with 'aws configure'.`;
}

export class CredentialsStore {
  readonly path: string;
  private readonly staleLockMs: number;
  private readonly lockWaitMs: number;
  private readonly now: () => Date;
  readonly flavour: Flavour;
  private backupPath: string | undefined;
  /**
   * The analysis of the text last read or written: reads of an unchanged file (a rotation reads it
   * several times) share one parse. Keyed by the exact text, so any change by anyone is a new parse.
   * Shared, so a read's document is for looking only: changes go through update().
   */
  private parsed: { readonly text: string; readonly doc: CredentialsDocument } | undefined;
  /**
   * The file's bytes and text as last read or written. The text keeps a byte order mark: the
   * document prints it back, the backup and the "changed under us" check compare exact bytes
   * (without it a file with a BOM could never be updated).
   */
  private readonly file = new TextFileReader();
  /** Whether removeCrashLeftovers has run. */
  private sweptLeftovers = false;

  constructor(path: string, options: StoreOptions = {}) {
    this.path = path;
    this.staleLockMs = options.staleLockMs ?? 5_000;
    this.lockWaitMs = options.lockWaitMs ?? 60_000;
    this.now = options.now ?? (() => new Date());
    this.flavour = options.flavour ?? "credentials";
  }

  /** The backup this store made before its first change, if any. */
  get backup(): string | undefined {
    return this.backupPath;
  }

  async read(options: ReadOptions = {}): Promise<CredentialsFile> {
    const raw = await this.readText(options);
    if (this.parsed?.text !== raw.text)
      this.parsed = { text: raw.text, doc: CredentialsDocument.parse(raw.text, this.flavour) };
    return { ...raw, doc: this.parsed.doc };
  }

  /**
   * The file's text without parsing it, for read-only commands that scan it themselves. Read with
   * synchronous calls, as the writes are (see atomic.ts): it is also the read under the lock.
   */
  async readText(options: ReadOptions = {}): Promise<Omit<CredentialsFile, "doc">> {
    if (options.missingAsEmpty && isMissing(this.path)) {
      return { path: this.path, realPath: this.path, text: "", mode: 0o600 };
    }
    const realPath = this.resolve();
    let text: string;
    let mode: number;
    try {
      // Type first: reading a FIFO or a terminal device would block for ever.
      const stats = statSync(realPath);
      const problem = notRegularFile(stats, this.path, this.flavour);
      if (problem) throw new KeyctlError(problem);
      mode = stats.mode & 0o777;
      text = this.file.read(realPath, stats.size).text;
    } catch (err) {
      if (err instanceof KeyctlError) throw err;
      if (err instanceof NotUtf8) {
        throw new KeyctlError(
          `${this.path} is not valid UTF-8 text; fix or replace the file, then run again.`,
        );
      }
      if (errnoCode(err) === "ENOENT") throw new KeyctlError(missingFileMessage(this.path));
      throw new KeyctlError(fileErrorMessage(err, "reading", this.path));
    }
    return { path: this.path, realPath, text, mode };
  }

  /**
   * Applies `edit` and writes the result. The parse, the edit and the printing happen before the
   * lock is taken; under it one read checks that the file is still the text the edit was applied
   * to (only when it is not is the edit applied again).
   */
  async update<T>(edit: Edit<T>): Promise<CommitResult<T>> {
    const result = await this.inTurn(async (realPath) => {
      // In this process's turn, so that the other rotations of a batch do not change the file
      // between this preparation and the lock.
      const prepared = this.apply(edit, await this.readText());
      return shielded(() => this.withFileLock(realPath, (locked) => locked.commit(edit, prepared)));
    });
    if (result.changed) noteChange();
    return result;
  }

  /** `edit` applied to a document of its own for `current` (a read's document is shared, never edited). */
  private apply<T>(edit: Edit<T>, current: Omit<CredentialsFile, "doc">): Prepared<T> {
    const doc =
      this.parsed?.text === current.text
        ? this.parsed.doc.clone()
        : CredentialsDocument.parse(current.text, this.flavour);
    const value = edit(doc, { ...current, doc });
    return { against: current.text, doc, value, next: doc.toString() };
  }

  /** Runs `fn` holding the cross-process lock of this credentials file. */
  async withLock<T>(fn: (locked: LockedStore) => Promise<T>): Promise<T> {
    return this.inTurn((realPath) => shielded(() => this.withFileLock(realPath, fn)));
  }

  private async inTurn<T>(fn: (realPath: string) => Promise<T>): Promise<T> {
    const realPath = this.resolve();
    // Rotations of one process queue here, so only one of them at a time contends for the file lock.
    const leave = await inProcessTurn(realPath);
    try {
      return await fn(realPath);
    } finally {
      leave();
    }
  }

  private async withFileLock<T>(realPath: string, fn: (locked: LockedStore) => Promise<T>): Promise<T> {
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
      // The lock is a new directory next to the file: refusing it is the directory's doing.
      throw new KeyctlError(fileErrorMessage(asDirectoryError(err, dirname(realPath)), "locking", this.path));
    }
    const locked: LockedStore = {
      read: () => this.read(),
      commit: async (edit, prepared) => {
        if (compromised) {
          throw new KeyctlError(
            `Lost the lock on ${this.path} (${compromised.message}); nothing was written, run again.`,
          );
        }
        return this.commitLocked(edit, prepared);
      },
      // Once made, the backup is not made again: no need to read the file for it.
      backup: async () => (this.backupPath ? undefined : this.ensureBackup((await this.readText()).text)),
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
    return retry(
      () =>
        lockfile.lock(realPath, {
          realpath: false,
          lockfilePath: `${realPath}.lock`,
          stale: this.staleLockMs,
          update: Math.max(1_000, Math.floor(this.staleLockMs / 3)),
          retries: 0,
          onCompromised,
          fs: lockFs,
        }),
      {
        clock: systemClock,
        retryable: (err) => errnoCode(err) === "ELOCKED",
        deadline: systemClock.now() + this.lockWaitMs,
        firstDelayMs: 25,
        nextDelayMs: (ms) => Math.min(250, Math.ceil(ms * 1.3)),
      },
    );
  }

  private async commitLocked<T>(edit: Edit<T>, prepared?: Prepared<T>): Promise<CommitResult<T>> {
    // A writer that ignores our lock (the AWS CLI, an editor) may change the file while we prepare
    // ours; the last check sits right before the rename, and the edit is re-applied on its text.
    let madeBackup: string | undefined;
    let ready = prepared;
    for (let attempt = 0; ; attempt++) {
      const current = await this.readText();
      if (attempt === 0 && !this.sweptLeftovers) await this.removeCrashLeftovers(current.realPath);
      const { doc, value, next } = ready?.against === current.text ? ready : this.apply(edit, current);
      ready = undefined;
      const tightenedFrom = (current.mode & 0o077) !== 0 ? current.mode : undefined;
      if (next === current.text && tightenedFrom === undefined) return { value, changed: false };
      // A retry after a concurrent change must still report the backup the first attempt made.
      madeBackup ??= await this.ensureBackup(current.text);
      const backupPath = madeBackup;
      const was = this.file.bytesOf(current.text);
      const bytes = Buffer.from(next, "utf8");
      try {
        await replaceFileAtomic(current.realPath, bytes, async () => {
          if (!this.file.holds(current.realPath, was)) throw new ConcurrentChange();
        });
        // The edited document is the analysis of the new text: the next read need not parse it.
        this.parsed = { text: next, doc };
        this.file.remember(next, bytes);
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

  /**
   * Temp files of writers that were killed mid-write (we hold the lock, so none is live). Once per
   * store, at its first commit: a writer killed later in this run would be this process (gone with
   * it), and another process's leftover waits for the next run, as it would have anyway had it been
   * killed a moment later. A batch so reads the directory once, not at every one of its commits.
   */
  private async removeCrashLeftovers(realPath: string): Promise<void> {
    this.sweptLeftovers = true;
    await removeStaleTemps(realPath).catch(() => []);
    if (this.path !== realPath) await removeStaleTemps(this.path).catch(() => []);
  }

  private async ensureBackup(text: string): Promise<string | undefined> {
    if (this.backupPath) return undefined;
    const at = this.now();
    for (let n = 1; n < 1000; n++) {
      const candidate = backupPath(this.path, at, n);
      try {
        await writeNewPrivateFile(candidate, this.file.bytesOf(text));
        this.backupPath = candidate;
        return candidate;
      } catch (err) {
        if (errnoCode(err) === "EEXIST") continue;
        throw new KeyctlError(
          `${fileErrorMessage(err, "writing the backup", candidate)} Nothing was changed in ${this.path}.`,
        );
      }
    }
    throw new KeyctlError(
      `Too many backups named ${backupPath(this.path, at)}*; remove old ones and run again.`,
    );
  }

  private resolve(): string {
    try {
      return realpathSync.native(this.path);
    } catch (err) {
      if (errnoCode(err) === "ENOENT") throw new KeyctlError(missingFileMessage(this.path));
      throw new KeyctlError(fileErrorMessage(err, "reading", this.path));
    }
  }

  /**
   * Saves `body` (a new key's secret that could not go into the file) as a new 0600 file named
   * `keyctl-recovery.<profile>.<stamp>.<pid>`: next to the credentials file, else in ~/.aws, the
   * home directory or the temp directory. Returns where it went, or undefined if nowhere would take it.
   */
  async saveRecovery(profile: string, body: string): Promise<string | undefined> {
    const name = `keyctl-recovery.${profile.replace(/[^\w.-]/g, "_")}.${backupStamp(new Date())}.${process.pid}`;
    for (const dir of [dirname(this.path), join(homedir(), ".aws"), homedir(), tmpdir()]) {
      const path = join(dir, name);
      try {
        await writeNewPrivateFile(path, Buffer.from(body, "utf8"));
        return path;
      } catch {
        // try the next place
      }
    }
    return undefined;
  }
}

class ConcurrentChange extends Error {}

/** `fn` as a Node-style callback function that calls back before it returns. */
function callingBackAtOnce<A extends unknown[], R>(fn: (...args: A) => R) {
  return (...args: [...A, (err: unknown, result?: R) => void]) => {
    const callback = args.pop() as (err: unknown, result?: R) => void;
    let result: R;
    try {
      result = fn(...(args as unknown as A));
    } catch (err) {
      callback(err);
      return;
    }
    callback(null, result);
  };
}

// The file system proper-lockfile makes and removes the lock directory with (its `fs` option):
// synchronous calls behind its callback interface. With its default (graceful-fs, asynchronous)
// the release waits for a turn of the event loop after the rmdir, behind the other rotations' work,
// while the lock is still held for every other keyctl; see atomic.ts for the writes.
const lockFs = {
  mkdir: callingBackAtOnce((path: string) => mkdirSync(path)),
  stat: callingBackAtOnce((path: string) => statSync(path)),
  rmdir: callingBackAtOnce((path: string) => rmdirSync(path)),
  utimes: callingBackAtOnce((path: string, atime: Date, mtime: Date) => utimesSync(path, atime, mtime)),
  rmdirSync: (path: string) => rmdirSync(path),
};

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
