import { closeSync, constants, fstatSync, openSync, readFileSync, unlinkSync } from "node:fs";
import { hostname } from "node:os";
import { errnoCode, fileErrorMessage, KeyctlError } from "../errors.js";
import { replaceFileAtomic } from "./atomic.js";

// Writers hold the credentials file's lock. A rotation writes its intent here before CreateAccessKey
// and keeps the entry until the run ends: while it lives, no other keyctl touches that profile.
// An entry whose run is gone and that has no saved key means the run died in between and may have
// left a key in IAM whose secret nobody has; the next run for that profile removes it, if it can
// prove that the dead call made it. No secrets are stored.
//
// The journal decides which keys are deleted, so it is trusted only when this user alone can have
// written it: a regular file (not a symlink) owned by the current uid, mode 0600, of the right shape.

export interface JournalEntry {
  readonly profile: string;
  readonly userName: string;
  readonly account: string;
  /** The user's key ids before CreateAccessKey: a key among them is not the crashed call's. */
  readonly keysBefore: readonly string[];
  readonly startedAt: string;
  readonly pid: number;
  /** Where the run happened: a pid says nothing about a process on another machine. */
  readonly hostname?: string;
  /** The instant just before CreateAccessKey was sent: the start of the call's bounded window. */
  readonly createSentAt?: string;
  /** The new key once its secret is in the file: nothing is stranded, the run may still be live. */
  readonly savedKeyId?: string;
}

const FOREIGN_ENTRY_MAX_AGE_MS = 60 * 60 * 1000;
const STALE_ENTRY_MS = 24 * 60 * 60 * 1000;

/** True when the run that wrote `entry` is gone (it died before clearing its entry). */
export function isAbandoned(entry: JournalEntry, now = Date.now()): boolean {
  if (entry.pid === process.pid) return false;
  // A pid can be reused (after a reboot, say): no rotation runs for a day.
  if (now - Date.parse(entry.startedAt) > STALE_ENTRY_MS) return true;
  if (entry.hostname && entry.hostname !== hostname()) {
    return now - Date.parse(entry.startedAt) > FOREIGN_ENTRY_MAX_AGE_MS;
  }
  try {
    process.kill(entry.pid, 0);
    return false;
  } catch (err) {
    return errnoCode(err) === "ESRCH";
  }
}

const isString = (v: unknown): v is string => typeof v === "string";
const isTime = (v: unknown): v is string => isString(v) && !Number.isNaN(Date.parse(v));

/** The entry if `value` has exactly the shape keyctl writes, else undefined. */
function validEntry(name: string, value: unknown): JournalEntry | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const e = value as Record<string, unknown>;
  const ok =
    e.profile === name &&
    isString(e.userName) &&
    e.userName !== "" &&
    isString(e.account) &&
    Array.isArray(e.keysBefore) &&
    e.keysBefore.every(isString) &&
    isTime(e.startedAt) &&
    Number.isSafeInteger(e.pid) &&
    (e.pid as number) > 0 &&
    (e.hostname === undefined || isString(e.hostname)) &&
    (e.createSentAt === undefined || isTime(e.createSentAt)) &&
    (e.savedKeyId === undefined || isString(e.savedKeyId));
  if (!ok) return undefined;
  return {
    profile: name,
    userName: e.userName as string,
    account: e.account as string,
    keysBefore: [...(e.keysBefore as string[])],
    startedAt: e.startedAt as string,
    pid: e.pid as number,
    ...(isString(e.hostname) ? { hostname: e.hostname } : {}),
    ...(isString(e.createSentAt) ? { createSentAt: e.createSentAt } : {}),
    ...(isString(e.savedKeyId) ? { savedKeyId: e.savedKeyId } : {}),
  };
}

export class Journal {
  readonly path: string;
  /**
   * Profiles whose run in this process has ended (end()): their entries are left out of every read
   * from then on, and of the next write, whoever makes it (flush() makes one if nobody does).
   */
  private readonly ended = new Set<string>();
  /** Profiles this process has claimed whose run has not ended: each will write here again. */
  private readonly running = new Set<string>();
  /** This process's entries with their saved-key note (note()), for the next write to carry. */
  private readonly notes = new Map<string, JournalEntry>();

  constructor(credentialsPath: string) {
    this.path = `${credentialsPath}.keyctl-journal`;
  }

  private untrusted(why: string): KeyctlError {
    return new KeyctlError(
      `keyctl does not trust the rotation journal ${this.path} (${why}) and touched no key; if you did not make it, remove it (rm ${this.path}) and run again.`,
    );
  }

  /** Entries by profile name (a Map: any name the AWS CLI accepts, `__proto__` included). */
  async entries(): Promise<Map<string, JournalEntry>> {
    // Read synchronously: it is read under the credentials file's lock, see atomic.ts.
    let fd: number;
    try {
      // O_NOFOLLOW: a symlink planted here is refused, not followed to a file someone else chose.
      fd = openSync(this.path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      const code = errnoCode(err);
      if (code === "ENOENT") return new Map();
      if (code === "ELOOP") throw this.untrusted("it is a symlink");
      throw new KeyctlError(fileErrorMessage(err, "reading", this.path));
    }
    let text: string;
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw this.untrusted("it is not a regular file");
      const uid = process.getuid?.();
      if (uid !== undefined && st.uid !== uid)
        throw this.untrusted(`it is owned by uid ${st.uid}, not by you`);
      if ((st.mode & 0o777) !== 0o600)
        throw this.untrusted(`its mode is ${(st.mode & 0o777).toString(8)}, not 600`);
      text = readFileSync(fd, "utf8");
    } catch (err) {
      if (err instanceof KeyctlError) throw err;
      throw new KeyctlError(fileErrorMessage(err, "reading", this.path));
    } finally {
      try {
        closeSync(fd);
      } catch {
        // The text is read; a failed close changes nothing.
      }
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw this.untrusted("it is not JSON");
    }
    const file = parsed as { version?: unknown; entries?: unknown };
    if (
      typeof parsed !== "object" ||
      parsed === null ||
      file.version !== 1 ||
      typeof file.entries !== "object" ||
      file.entries === null ||
      Array.isArray(file.entries)
    ) {
      throw this.untrusted("it is not a keyctl journal");
    }
    const entries = new Map<string, JournalEntry>();
    for (const [name, value] of Object.entries(file.entries)) {
      const entry = validEntry(name, value);
      if (!entry) throw this.untrusted(`its entry for profile ${name} is malformed`);
      if (entry.pid === process.pid && this.ended.has(name)) continue;
      const noted = this.notes.get(name);
      const mine = noted && entry.pid === noted.pid && entry.startedAt === noted.startedAt;
      entries.set(name, mine ? noted : entry);
    }
    return entries;
  }

  async entry(profile: string): Promise<JournalEntry | undefined> {
    return (await this.entries()).get(profile);
  }

  /**
   * Claims `entry.profile` for this run, or updates this run's own entry. Refuses while another live
   * run holds the profile or the same IAM user. Must be called holding the credentials file's lock.
   * A claim is durable when this resolves (file and directory fsynced): CreateAccessKey may follow.
   */
  async put(entry: JournalEntry): Promise<void> {
    const existing = await this.entries();
    // Two runs on one IAM user at once could each take the other's new key for a stray one.
    const sameUser = [...existing.values()].find(
      (e) =>
        e.profile !== entry.profile &&
        e.userName === entry.userName &&
        e.account === entry.account &&
        !isAbandoned(e),
    );
    if (sameUser) {
      throw new KeyctlError(
        `Another keyctl (pid ${sameUser.pid}) is rotating a key of IAM user ${entry.userName} (profile ${sameUser.profile}) right now; wait for it to finish, then run again.`,
      );
    }
    const other = existing.get(entry.profile);
    if (other && (other.pid !== entry.pid || other.startedAt !== entry.startedAt)) {
      throw new KeyctlError(
        isAbandoned(other)
          ? `An interrupted rotation of profile ${entry.profile} was found just now; run keyctl again to clean it up first.`
          : `Another keyctl (pid ${other.pid}) is rotating profile ${entry.profile} right now; wait for it to finish, then run again.`,
      );
    }
    // A new run of a profile whose earlier run here has ended: this entry is not to be left out.
    this.ended.delete(entry.profile);
    existing.set(entry.profile, entry);
    await this.save(existing, true);
    this.running.add(entry.profile);
  }

  /**
   * The run of `profile` in this process has ended: its entry is gone for this process at once, and
   * from the file with the next write of the journal (any put, remove or flush; best effort, like
   * remove). True when such a write is due anyway, so the caller need not make one: another run of
   * this process holds a claim (in a batch, nearly always), so a write follows (the next claim, or
   * the end of the last such run, which finds no other and flushes); false when the caller should
   * flush(). A run that keeps its entry on purpose never ends: the batch flushes after its runs. An
   * ended run's entry stays in the file until then: another keyctl is kept off its profile a moment
   * longer, and a process that dies first leaves it to the next run (see Durability below).
   */
  end(profile: string): boolean {
    this.ended.add(profile);
    this.running.delete(profile);
    this.notes.delete(profile);
    return this.running.size > 0;
  }

  /**
   * Notes that this run's new key is in the credentials file (`entry` with savedKeyId): at once for
   * this process's reads, and in the file with the journal's next write (another run's claim, or
   * removal), without a write of its own. Best effort: the recovery does not depend on it (see
   * Durability below), and a run's own end makes it moot.
   */
  note(entry: JournalEntry): void {
    this.notes.set(entry.profile, entry);
  }

  /** Whether end() left removals that no write has carried yet. */
  get unflushed(): boolean {
    return this.ended.size > 0;
  }

  /** Writes the removals end() left, if no write has carried them yet. Must be called holding the lock. */
  async flush(): Promise<void> {
    if (this.ended.size === 0) return;
    await this.save(await this.entries(), false);
  }

  /**
   * Removes the entry of a run that ended (best effort, not durable: see Durability below). Must be
   * called holding the credentials file's lock.
   */
  async remove(profile: string): Promise<void> {
    const entries = await this.entries();
    if (!entries.delete(profile)) return;
    await this.save(entries, false);
  }

  // Durability. Every write replaces the whole file with a complete, fsynced version (temp file,
  // fsync, rename), so the journal on disk is always one version or the one before it. A claim
  // also fsyncs the directory: it must survive a power loss before CreateAccessKey is sent. The
  // removal of an ended run's entry does not, and the note of the saved key waits for another write:
  // a kill or a power loss can leave the entry without its note, or an ended run's entry (with or
  // without it). That is the state of a run killed right after writing its secret, which the next
  // run handles (recoverInterruptedRun: the new key is held by the credentials file, so it is not
  // taken for a stranded one; the entry is dropped). A crash of the process never undoes a rename
  // (the kernel has it); entries of other runs are in both versions, and the next claim makes them
  // durable too.
  private async save(entries: ReadonlyMap<string, JournalEntry>, durable: boolean): Promise<void> {
    try {
      if (entries.size === 0) {
        try {
          unlinkSync(this.path);
        } catch (err) {
          if (errnoCode(err) !== "ENOENT") throw err;
        }
      } else {
        // Object.fromEntries defines own properties, so even a profile named __proto__ is a plain key.
        const file = { version: 1, entries: Object.fromEntries(entries) };
        const text = `${JSON.stringify(file, null, 2)}\n`;
        await replaceFileAtomic(this.path, Buffer.from(text, "utf8"), undefined, { durable });
      }
    } catch (err) {
      throw new KeyctlError(fileErrorMessage(err, "writing the rotation journal", this.path));
    }
    // This write carried the removal of every ended run whose entry it left out, and these notes.
    for (const profile of this.ended)
      if (entries.get(profile)?.pid !== process.pid) this.ended.delete(profile);
    for (const [profile, noted] of this.notes) if (entries.get(profile) === noted) this.notes.delete(profile);
  }
}
