import { readFile, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { errnoCode, fileErrorMessage, KeyctlError } from "../errors.js";
import { replaceFileAtomic } from "./atomic.js";

// Writers hold the credentials file's lock. A rotation writes its intent here before CreateAccessKey and clears it once the new secret is in
// the credentials file. An entry found later means a run died in between and may have left a key
// in IAM whose secret nobody has; the next run for that profile removes it. No secrets are stored.

export interface JournalEntry {
  readonly profile: string;
  readonly userName: string;
  readonly account: string;
  /** The user's key ids before CreateAccessKey: anything else found later came from this run. */
  readonly keysBefore: readonly string[];
  readonly startedAt: string;
  readonly pid: number;
  /** Where the run happened: a pid says nothing about a process on another machine. */
  readonly hostname?: string;
}

const FOREIGN_ENTRY_MAX_AGE_MS = 60 * 60 * 1000;
const STALE_ENTRY_MS = 24 * 60 * 60 * 1000;

/** True when the run that wrote `entry` is gone (it died between its journal and its write). */
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

interface JournalFile {
  readonly version: 1;
  readonly entries: Record<string, JournalEntry>;
}

export class Journal {
  readonly path: string;

  constructor(credentialsPath: string) {
    this.path = `${credentialsPath}.keyctl-journal`;
  }

  async entries(): Promise<Record<string, JournalEntry>> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return {};
      throw new KeyctlError(fileErrorMessage(err, "reading", this.path));
    }
    try {
      const parsed = JSON.parse(text) as Partial<JournalFile>;
      return parsed.entries ?? {};
    } catch {
      throw new KeyctlError(
        `The rotation journal ${this.path} is damaged; check your IAM keys by hand (keyctl -k), then delete that file.`,
      );
    }
  }

  async entry(profile: string): Promise<JournalEntry | undefined> {
    return (await this.entries())[profile];
  }

  /** Must be called holding the credentials file's lock. */
  async put(entry: JournalEntry): Promise<void> {
    const existing = await this.entries();
    // Two runs on one IAM user at once could each take the other's new key for a stray one.
    const sameUser = Object.values(existing).find(
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
    const other = existing[entry.profile];
    if (other && other.pid !== entry.pid) {
      throw new KeyctlError(
        isAbandoned(other)
          ? `An interrupted rotation of profile ${entry.profile} was found just now; run keyctl again to clean it up first.`
          : `Another keyctl (pid ${other.pid}) is rotating profile ${entry.profile} right now; wait for it to finish, then run again.`,
      );
    }
    const entries = { ...existing, [entry.profile]: entry };
    await this.save(entries);
  }

  /** Must be called holding the credentials file's lock. */
  async remove(profile: string): Promise<void> {
    const entries = { ...(await this.entries()) };
    if (!(profile in entries)) return;
    delete entries[profile];
    await this.save(entries);
  }

  private async save(entries: Record<string, JournalEntry>): Promise<void> {
    try {
      if (Object.keys(entries).length === 0) {
        await unlink(this.path).catch((err: unknown) => {
          if (errnoCode(err) !== "ENOENT") throw err;
        });
        return;
      }
      const file: JournalFile = { version: 1, entries };
      await replaceFileAtomic(this.path, Buffer.from(`${JSON.stringify(file, null, 2)}\n`, "utf8"));
    } catch (err) {
      throw new KeyctlError(fileErrorMessage(err, "writing the rotation journal", this.path));
    }
  }
}
