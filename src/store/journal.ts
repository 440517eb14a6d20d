import { readFile, unlink } from "node:fs/promises";
import { errnoCode, fileErrorMessage, KeyctlError } from "../errors.js";
import { replaceFileAtomic } from "./atomic.js";

// A rotation writes its intent here before CreateAccessKey and clears it once the new secret is in
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
    const entries = { ...(await this.entries()), [entry.profile]: entry };
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
