// A read-only pass over a credentials or config file for listings: the same line rules as
// CredentialsDocument (document.ts), but it keeps only the settings asked for and builds no
// editable lines, so `keyctl --list` on a file of thousands of profiles costs little more than
// reading it. A property test holds it to the document's reading.
import { configProfileName, type Flavour } from "./document.js";

const BOM = "\uFEFF";

function isSpace(code: number): boolean {
  if (code === 32 || (code >= 9 && code <= 13)) return true;
  return code > 127 && /\s/.test(String.fromCharCode(code));
}

/** What a listing needs of a file: profile names in file order and a few settings of each. */
export class ProfileScan {
  private readonly settings = new Map<string, Map<string, string>>();
  /** Comment lines of `*-previous` sections only: keyctl's marker lives there. */
  private readonly comments = new Map<string, string[]>();

  /** `keys` in lower case; any other setting is skipped without being copied. */
  constructor(text: string, flavour: Flavour, keys: ReadonlySet<string>) {
    // Works on offsets into the text: only headers and wanted settings become strings.
    const body = text.startsWith(BOM) ? text.slice(1) : text;
    const lengths = new Set([...keys].map((k) => k.length));
    let current: Map<string, string> | undefined;
    let currentName: string | undefined;
    let subSection = false;
    // The next `#` and `;` at or after the current line, found once per occurrence rather than by
    // testing every character of every line.
    const next = (mark: string, from: number) => {
      const at = body.indexOf(mark, from);
      return at === -1 ? body.length : at;
    };
    let hash = -1;
    let semi = -1;
    let start = 0;
    while (start <= body.length) {
      let end = body.indexOf("\n", start);
      if (end === -1) end = body.length;
      const lineStart = start;
      let lineEnd = end > start && body.charCodeAt(end - 1) === 13 && end < body.length ? end - 1 : end;
      start = end + 1;
      if (end === body.length && lineEnd === lineStart) break;
      let lead = lineStart;
      while (lead < lineEnd && isSpace(body.charCodeAt(lead))) lead++;
      if (lead === lineEnd) continue;
      const first = body.charCodeAt(lead);
      if (first === 35 || first === 59) {
        if (current && currentName?.endsWith("-previous")) {
          const list = this.comments.get(currentName) ?? [];
          list.push(body.slice(lineStart, lineEnd));
          this.comments.set(currentName, list);
        }
        continue;
      }
      // An inline comment: `#` or `;` at the start or after whitespace ends the content.
      if (hash <= lead) hash = next("#", lead + 1);
      if (semi <= lead) semi = next(";", lead + 1);
      for (;;) {
        const i = Math.min(hash, semi);
        if (i >= lineEnd) break;
        if (isSpace(body.charCodeAt(i - 1))) {
          lineEnd = i - 1;
          break;
        }
        // No space before it: part of the value; look on from there.
        if (i === hash) hash = next("#", i + 1);
        else semi = next(";", i + 1);
      }
      if (first === 91) {
        let close = lineEnd;
        while (close > lead && isSpace(body.charCodeAt(close - 1))) close--;
        if (close - lead >= 2 && body.charCodeAt(close - 1) === 93) {
          const section = body.slice(lead + 1, close - 1);
          const name = flavour === "config" ? configProfileName(section) : section;
          subSection = false;
          currentName = name;
          current = name === undefined ? undefined : this.settings.get(name);
          if (name !== undefined && !current) {
            current = new Map();
            this.settings.set(name, current);
          }
          continue;
        }
      }
      if (!current) continue;
      const eq = body.indexOf("=", lead);
      if (eq === -1 || eq >= lineEnd || eq === lead) continue;
      let valueStart = eq + 1;
      while (valueStart < lineEnd && isSpace(body.charCodeAt(valueStart))) valueStart++;
      let valueEnd = lineEnd;
      while (valueEnd > valueStart && isSpace(body.charCodeAt(valueEnd - 1))) valueEnd--;
      if (valueStart === valueEnd) {
        subSection = true;
        continue;
      }
      if (subSection && lead === lineStart) subSection = false;
      if (subSection) continue;
      let keyEnd = eq;
      while (keyEnd > lead && isSpace(body.charCodeAt(keyEnd - 1))) keyEnd--;
      if (!lengths.has(keyEnd - lead)) continue;
      const key = body.slice(lead, keyEnd).toLowerCase();
      if (keys.has(key)) current.set(key, body.slice(valueStart, valueEnd));
    }
  }

  profileNames(): string[] {
    return [...this.settings.keys()];
  }

  has(name: string): boolean {
    return this.settings.has(name);
  }

  /** The asked-for settings of a profile (sections merged, later values win). */
  profile(name: string): Map<string, string> | undefined {
    return this.settings.get(name);
  }

  get(name: string, key: string): string | undefined {
    return this.settings.get(name)?.get(key.toLowerCase());
  }

  commentLines(name: string): string[] {
    return this.comments.get(name) ?? [];
  }
}
