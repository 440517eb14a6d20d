// Reading one text file again and again at a small cost. A rotation reads the credentials file
// several times (each check that nobody changed it is a read), and on a file of megabytes every new
// buffer and every decoded copy of the text costs more than the read itself (fresh memory is slow to
// touch, and it all ends up as garbage). So the bytes are read into one reused buffer and compared
// with the last ones: an unchanged file gives back the very same text, decoded once.
// The reads are synchronous, as every file access under the credentials file's lock is (atomic.ts):
// an await there would let the other rotations of a batch run while the lock is held.
import { isUtf8 } from "node:buffer";
import { closeSync, openSync, readSync } from "node:fs";

export interface FileText {
  readonly text: string;
  /** The file's exact bytes; never changed (a reader only hands them out). */
  readonly bytes: Buffer;
}

export class NotUtf8 extends Error {}

export class TextFileReader {
  private last: FileText | undefined;
  /** Where reads land before they are compared; reused, never handed out. */
  private scratch: Buffer | undefined;

  /** The file's text and bytes. Throws the file system's error, or NotUtf8. */
  read(path: string, sizeHint = 0): FileText {
    const { buf, length } = this.readRaw(path, sizeHint);
    try {
      const view = buf.subarray(0, length);
      if (this.last?.bytes.equals(view)) return this.last;
      // As TextDecoder with ignoreBOM reads it: a byte order mark stays in the text.
      if (!isUtf8(view)) throw new NotUtf8();
      const bytes = Buffer.from(view);
      this.last = { text: bytes.toString("utf8"), bytes };
      return this.last;
    } finally {
      this.scratch = buf;
    }
  }

  /** Whether the file holds exactly `bytes` now; false when it cannot be read. */
  holds(path: string, bytes: Buffer): boolean {
    try {
      const { buf, length } = this.readRaw(path, bytes.length);
      this.scratch = buf;
      return buf.subarray(0, length).equals(bytes);
    } catch {
      return false;
    }
  }

  /** `text` in UTF-8: the bytes last read or remembered when it is their text, else encoded. */
  bytesOf(text: string): Buffer {
    return this.last?.text === text ? this.last.bytes : Buffer.from(text, "utf8");
  }

  /** The file now holds `bytes` (just written), whose text is `text`. */
  remember(text: string, bytes: Buffer): void {
    this.last = { text, bytes };
  }

  private readRaw(path: string, sizeHint: number): { buf: Buffer; length: number } {
    const fd = openSync(path, "r");
    // Room beyond the size stat saw: a file that grew a little since needs no bigger buffer.
    let buf =
      this.scratch && this.scratch.length > sizeHint ? this.scratch : Buffer.allocUnsafe(sizeHint + 4096);
    this.scratch = undefined;
    try {
      let length = 0;
      for (;;) {
        if (length === buf.length) {
          const bigger = Buffer.allocUnsafe(buf.length * 2);
          buf.copy(bigger, 0, 0, length);
          buf = bigger;
        }
        const bytesRead = readSync(fd, buf, length, buf.length - length, length);
        if (bytesRead === 0) break;
        length += bytesRead;
      }
      return { buf, length };
    } catch (err) {
      this.scratch = buf;
      throw err;
    } finally {
      closeSync(fd);
    }
  }
}
