// A lossless editor for the AWS shared credentials file.
//
// The document is its text with the lines as offsets into it (Lines); an edit splices the lines it
// changes into the text, so printing is the text itself and a parsed document prints back to the
// exact input. Reading follows the AWS SDK for JavaScript's rules
// for the line structure: whole-line `#`/`;` comments, a `#`/`;` preceded by whitespace starts an
// inline comment, the first `=` splits key from value, section names are verbatim, an empty value
// opens an indented sub-setting block, duplicate sections merge with the later value winning.
// Option names follow the AWS CLI (botocore's configparser) instead: they are case-insensitive, so
// `AWS_ACCESS_KEY_ID = …` is a key; they are read in lower case and a line keeps its own spelling
// when its value is replaced. Edits replace only the lines they touch.

export type LineEnding = "\n" | "\r\n";

/**
 * Which file the text is. In the credentials file profile P is section `[P]`. In the config file
 * it is `[profile P]` (`[default]` for default) and other sections (`sso-session`, `services`) are
 * no profile; the profile-level methods take and give profile names either way, so the same
 * rotation code edits both files.
 */
export type Flavour = "credentials" | "config";

/** What reading profiles needs: the editable document and the listing's scan (scan.ts) both give it. */
export interface ProfileReader {
  profileNames(): string[];
  has(name: string): boolean;
  profile(name: string): Map<string, string> | undefined;
  get(name: string, key: string): string | undefined;
  /** The comment lines inside profile `name`'s sections. */
  commentLines(name: string): string[];
}

/** The profile a config-file section holds, as botocore names it; undefined for other sections. */
export function configProfileName(section: string): string | undefined {
  if (section === "default") return "default";
  const m = /^profile\s+(.*)$/.exec(section);
  if (!m) return undefined;
  const rest = m[1]!.trim();
  // botocore splits the header like a shell: `profile "a b"` is a b, `profile a b` is no profile.
  const quoted = /^(["'])(.*)\1$/.exec(rest);
  if (quoted) return quoted[2]!;
  return rest === "" || /\s/.test(rest) ? undefined : rest;
}

/** The header a new config-file section for profile P gets. */
function configSectionName(profile: string): string {
  if (profile === "default") return "default";
  return /\s/.test(profile) ? `profile "${profile}"` : `profile ${profile}`;
}

interface RawLine {
  text: string;
  eol: "" | LineEnding;
}

/**
 * The lines of a text, as offsets into it: no object or string per line, so a file of 100,000
 * lines costs one array of numbers. Immutable: an edit makes a new table whose text is the old one
 * with the changed range spliced in, so printing is the text itself and every other byte stays.
 */
class Lines {
  readonly body: string;
  /** Where each line starts, and the text's length last: line i is `starts[i]`..`starts[i + 1]`. */
  private readonly starts: Int32Array;
  readonly count: number;
  private ending: LineEnding | undefined;
  /** What look-ups over the whole text computed (CredentialsDocument.memo): this text's only. */
  readonly memos = new Map<string, unknown>();

  private constructor(body: string, starts: Int32Array) {
    this.body = body;
    this.starts = starts;
    this.count = starts.length - 1;
  }

  static of(body: string): Lines {
    let count = 0;
    for (let lf = body.indexOf("\n"); lf >= 0; lf = body.indexOf("\n", lf + 1)) count++;
    const bare = body.length > 0 && body.charCodeAt(body.length - 1) !== 10;
    const starts = new Int32Array(count + (bare ? 1 : 0) + 1);
    let i = 1;
    for (let lf = body.indexOf("\n"); lf >= 0; lf = body.indexOf("\n", lf + 1)) starts[i++] = lf + 1;
    starts[starts.length - 1] = body.length;
    return new Lines(body, starts);
  }

  /** Offset of line i's first character. */
  start(i: number): number {
    return this.starts[i]!;
  }

  /** Offset just past line i's text (before its line ending). */
  end(i: number): number {
    const start = this.starts[i]!;
    let end = this.starts[i + 1]!;
    if (end > start && this.body.charCodeAt(end - 1) === 10) {
      end--;
      // A CR right before the LF belongs to the ending, unless it is all the line has.
      if (end > start && this.body.charCodeAt(end - 1) === 13) end--;
    }
    return end;
  }

  text(i: number): string {
    return this.body.slice(this.starts[i]!, this.end(i));
  }

  eol(i: number): "" | LineEnding {
    const length = this.starts[i + 1]! - this.end(i);
    return length === 0 ? "" : length === 1 ? "\n" : "\r\n";
  }

  /** The line ending most lines use (LF for a text without line breaks). */
  get lineEnding(): LineEnding {
    if (this.ending === undefined) {
      let crlf = 0;
      let lf = 0;
      for (let i = 0; i < this.count; i++) {
        const length = this.starts[i + 1]! - this.end(i);
        if (length === 2) crlf++;
        else if (length === 1) lf++;
      }
      this.ending = crlf > lf ? "\r\n" : "\n";
    }
    return this.ending;
  }

  /** The lines with `remove` lines from `at` on replaced by `fresh` (which hold no line break). */
  splice(at: number, remove: number, fresh: readonly RawLine[]): Lines {
    const from = this.starts[at]!;
    const to = this.starts[at + remove]!;
    let chunk = "";
    for (const line of fresh) chunk += line.text + line.eol;
    const body = this.body.slice(0, from) + chunk + this.body.slice(to);
    const starts = new Int32Array(this.starts.length - remove + fresh.length);
    starts.set(this.starts.subarray(0, at));
    let offset = from;
    for (let j = 0; j < fresh.length; j++) {
      starts[at + j] = offset;
      offset += fresh[j]!.text.length + fresh[j]!.eol.length;
    }
    const shift = chunk.length - (to - from);
    for (let j = at + remove; j < this.starts.length; j++)
      starts[j - remove + fresh.length] = this.starts[j]! + shift;
    return new Lines(body, starts);
  }

  /** The lines for which `keep` holds, each with its own ending. */
  filter(keep: (i: number) => boolean): Lines {
    const parts: string[] = [];
    let run = -1;
    for (let i = 0; i <= this.count; i++) {
      const kept = i < this.count && keep(i);
      if (kept && run < 0) run = i;
      if (!kept && run >= 0) {
        parts.push(this.body.slice(this.starts[run]!, this.starts[i]!));
        run = -1;
      }
    }
    return Lines.of(parts.join(""));
  }
}

export interface Entry {
  /** Key in lower case: `name`, or `parent.name` inside a sub-setting block. */
  readonly key: string;
  readonly value: string;
  readonly line: number;
  /** Character offsets of the value within the line text, for in-place replacement. */
  readonly valueStart: number;
  readonly valueEnd: number;
}

/** A section as the document's last analysis found it; valid until the document's next edit. */
export interface Section {
  readonly name: string;
  readonly headerLine: number;
  /** Index of the last line that belongs to the section's body (entries, continuations). */
  readonly lastContentLine: number;
  readonly entries: readonly Entry[];
}

const INLINE_COMMENT = /(^|\s)[;#]/;
const NO_SECTIONS: readonly never[] = [];
const BOM = "\uFEFF";

/** The part of a line before an inline comment, as the SDK's reader cuts it. */
function contentOf(text: string): string {
  const m = INLINE_COMMENT.exec(text);
  return m ? text.slice(0, m.index) : text;
}

/** The section name of a line already cut at its inline comment, if it is a header. */
function headerName(uncommented: string): string | undefined {
  const content = uncommented.trim();
  if (content.length >= 2 && content.startsWith("[") && content.endsWith("]")) {
    return content.slice(1, -1);
  }
  return undefined;
}

/** Whitespace as String.prototype.trim and the SDK's `\\s` see it. */
function isSpace(code: number): boolean {
  if (code === 32 || (code >= 9 && code <= 13)) return true;
  return code > 127 && /\s/.test(String.fromCharCode(code));
}

function isBlankOrComment(text: string): boolean {
  const t = text.trim();
  return t === "" || t.startsWith("#") || t.startsWith(";");
}

/**
 * A section of the analysis. Its entries are read from the lines only when asked for: a look-up
 * over every profile of a big file (which profiles hold a key) then keeps no entry objects alive.
 * The line array it reads is never changed once an analysis refers to it (edits copy it first).
 */
class ParsedSection implements Section {
  readonly name: string;
  readonly headerLine: number;
  readonly lastContentLine: number;
  readonly #lines: Lines;
  #entries: readonly Entry[] | undefined;

  constructor(
    name: string,
    headerLine: number,
    lastContentLine: number,
    lines: Lines,
    entries?: readonly Entry[],
  ) {
    this.name = name;
    this.headerLine = headerLine;
    this.lastContentLine = lastContentLine;
    this.#lines = lines;
    this.#entries = entries;
  }

  get entries(): readonly Entry[] {
    if (!this.#entries) {
      const out: Entry[] = [];
      scanEntries(this.#lines, this.headerLine + 1, this.lastContentLine, (e) => {
        out.push(e);
      });
      this.#entries = out;
    }
    return this.#entries;
  }

  /** The last value of `key` (lower case) here, without keeping the entries. */
  lastValue(key: string): string | undefined {
    if (this.#entries) {
      for (let j = this.#entries.length - 1; j >= 0; j--)
        if (this.#entries[j]!.key === key) return this.#entries[j]!.value;
      return undefined;
    }
    let found: string | undefined;
    scanEntries(
      this.#lines,
      this.headerLine + 1,
      this.lastContentLine,
      (e) => {
        found = e.value;
      },
      key,
    );
    return found;
  }

  /** The same section with entry `at` replaced (an edit of one value, on that one line). */
  withEntry(at: number, entry: Entry, lines: Lines): ParsedSection {
    const entries = [...this.entries];
    entries[at] = entry;
    return new ParsedSection(this.name, this.headerLine, this.lastContentLine, lines, entries);
  }
}

/**
 * The entries of body lines `from`..`to` of one section, in order. Whole-line comments and blank
 * lines are none; an empty value opens a sub-setting block that an unindented line closes. With
 * `wanted` (a key in lower case) only the entries of that key are made: the others are read on
 * offsets into the text without a string of their own (a look-up over every profile of a big file).
 */
function scanEntries(
  lines: Lines,
  from: number,
  to: number,
  visit: (entry: Entry) => void,
  wanted?: string,
): void {
  const body = lines.body;
  let subSection: string | undefined;
  for (let index = from; index <= to; index++) {
    const start = lines.start(index);
    const lineEnd = lines.end(index);
    let lead = start;
    while (lead < lineEnd && isSpace(body.charCodeAt(lead))) lead++;
    if (lead === lineEnd) continue;
    const first = body.charCodeAt(lead);
    if (first === 35 || first === 59) continue; // # or ; : a whole-line comment
    const eq = body.indexOf("=", lead);
    if (eq < 0 || eq >= lineEnd || eq === lead) continue;
    // An inline comment (a `#` or `;` right after whitespace) before the `=` leaves no setting.
    if (commentMark(body, lead + 1, eq) >= 0) continue;
    let keyEnd = eq;
    while (keyEnd > lead && isSpace(body.charCodeAt(keyEnd - 1))) keyEnd--;
    let valueStart = eq + 1;
    while (valueStart < lineEnd && isSpace(body.charCodeAt(valueStart))) valueStart++;
    const mark = body.charCodeAt(valueStart);
    if (
      valueStart === lineEnd ||
      ((mark === 35 || mark === 59) && isSpace(body.charCodeAt(valueStart - 1)))
    ) {
      subSection = body.slice(lead, keyEnd).toLowerCase();
      continue;
    }
    if (subSection !== undefined && lead === start) subSection = undefined;
    if (wanted !== undefined && subSection === undefined && !sameKey(body, lead, keyEnd, wanted)) continue;
    // Only a setting that is kept pays for finding where its value ends.
    const comment = commentMark(body, valueStart + 1, lineEnd);
    let valueEnd = comment >= 0 ? comment - 1 : lineEnd;
    while (valueEnd > valueStart && isSpace(body.charCodeAt(valueEnd - 1))) valueEnd--;
    const name = body.slice(lead, keyEnd).toLowerCase();
    const key = subSection !== undefined ? `${subSection}.${name}` : name;
    if (wanted !== undefined && key !== wanted) continue;
    visit({
      key,
      value: body.slice(valueStart, valueEnd),
      line: index,
      valueStart: valueStart - start,
      valueEnd: valueEnd - start,
    });
  }
}

/** The first `#` or `;` in `body[from..to)` right after whitespace (an inline comment), or -1. */
function commentMark(body: string, from: number, to: number): number {
  for (let p = from; p < to; p++) {
    const c = body.charCodeAt(p);
    if ((c === 35 || c === 59) && isSpace(body.charCodeAt(p - 1))) return p;
  }
  return -1;
}

/**
 * Whether `body[from..to)` may be `key` (lower case) read case-insensitively; a cheap first test
 * on character codes, exact for ASCII (anything else is left to toLowerCase).
 */
function sameKey(body: string, from: number, to: number, key: string): boolean {
  if (to - from !== key.length) return hasNonAscii(body, from, to);
  for (let i = 0; i < key.length; i++) {
    let c = body.charCodeAt(from + i);
    if (c > 127) return true;
    if (c >= 65 && c <= 90) c += 32;
    if (c !== key.charCodeAt(i)) return false;
  }
  return true;
}

function hasNonAscii(body: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (body.charCodeAt(i) > 127) return true;
  return false;
}

export class CredentialsDocument implements ProfileReader {
  private bom: string;
  /** The text after the BOM, and its lines; a clone and the analysis share it (it never changes). */
  private lines: Lines;
  private parsed: ParsedSection[] = [];
  /** Sections by name, in file order: profile look-ups stay O(1) on files with thousands of them. */
  private byName = new Map<string, ParsedSection[]>();
  /**
   * Whether `lines` changed since the last analysis. Edits only mark it and the next look-up
   * analyses once: a rotation's several edits of a big file cost one analysis, not one each.
   */
  private stale = true;
  /** The analysis is shared with another document (see clone): copied before an edit patches it. */
  private shared = false;

  readonly flavour: Flavour;

  private constructor(bom: string, lines: Lines, flavour: Flavour) {
    this.flavour = flavour;
    this.bom = bom;
    this.lines = lines;
  }

  private index(): void {
    if (!this.stale) return;
    this.analyze();
    this.stale = false;
  }

  static parse(text: string, flavour: Flavour = "credentials"): CredentialsDocument {
    const bom = text.startsWith(BOM) ? BOM : "";
    return new CredentialsDocument(bom, Lines.of(text.slice(bom.length)), flavour);
  }

  /**
   * An independent document with the same text, to edit while this one stays as it is: cheaper
   * than parsing the text again (the lines and the analysis are shared until an edit copies them).
   */
  clone(): CredentialsDocument {
    const copy = new CredentialsDocument(this.bom, this.lines, this.flavour);
    if (!this.stale) {
      copy.parsed = this.parsed;
      copy.byName = this.byName;
      copy.stale = false;
      copy.shared = true;
      this.shared = true;
    }
    return copy;
  }

  /** Makes the shared analysis this document's own before an edit patches it (sections stay shared). */
  private unshare(): void {
    if (!this.shared) return;
    this.parsed = [...this.parsed];
    this.byName = new Map(this.byName);
    this.shared = false;
  }

  /** Gives line `at` a new text or ending. */
  private replaceLine(at: number, change: Partial<RawLine>): void {
    const lines = this.lines;
    this.lines = lines.splice(at, 1, [{ text: lines.text(at), eol: lines.eol(at), ...change }]);
  }

  toString(): string {
    return this.bom + this.lines.body;
  }

  /** The line ending new lines get: the one most lines of the file use (LF for an empty file). */
  get lineEnding(): LineEnding {
    return this.lines.lineEnding;
  }

  /**
   * `compute()` once for this document's text, for a look-up over every profile that several
   * steps make (which profiles hold which key): kept until the next edit, shared with clones of
   * the same text. The value must not be changed by its users.
   */
  memo<T>(key: string, compute: () => T): T {
    const memos = this.lines.memos;
    if (!memos.has(key)) memos.set(key, compute());
    return memos.get(key) as T;
  }

  get sections(): readonly Section[] {
    this.index();
    return this.parsed;
  }

  /** Profile names in file order, each once (in a credentials file, the section names). */
  profileNames(): string[] {
    this.index();
    return [...this.byName.keys()];
  }

  sectionsNamed(name: string): Section[] {
    return [...this.named(name)];
  }

  /** The sections of a profile without a copy, for the look-ups here (callers get a copy). */
  private named(name: string): readonly ParsedSection[] {
    this.index();
    return this.byName.get(name) ?? NO_SECTIONS;
  }

  has(name: string): boolean {
    this.index();
    return this.byName.has(name);
  }

  /** The profile's settings as the SDK sees them: sections merged, later values win. */
  profile(name: string): Map<string, string> | undefined {
    const sections = this.named(name);
    if (sections.length === 0) return undefined;
    const merged = new Map<string, string>();
    for (const s of sections) for (const e of s.entries) merged.set(e.key, e.value);
    return merged;
  }

  /** One setting; the key matches whatever its spelling in the file. */
  get(name: string, key: string): string | undefined {
    // The last occurrence wins, as in profile(), without building the merged map: hot in the
    // look-ups over every profile of a big file (which profiles hold a key).
    const wanted = key.toLowerCase();
    const sections = this.named(name);
    for (let i = sections.length - 1; i >= 0; i--) {
      const value = sections[i]!.lastValue(wanted);
      if (value !== undefined) return value;
    }
    return undefined;
  }

  /**
   * Sets one key of a profile. Only the value's characters change on an existing line, so the key
   * keeps the spelling it has in the file.
   */
  set(name: string, key: string, value: string): void {
    assertValue(key, value);
    this.unshare();
    const sections = this.named(name);
    if (sections.length === 0) throw new Error(`no section [${name}]`);
    const wanted = key.toLowerCase();
    for (let i = sections.length - 1; i >= 0; i--) {
      const section = sections[i]!;
      const at = findLastIndex(section.entries, (e) => e.key === wanted);
      const entry = section.entries[at];
      if (entry) {
        const text = this.lines.text(entry.line);
        const gap =
          entry.valueStart === entry.valueEnd && !/\s$/.test(text.slice(0, entry.valueStart)) ? " " : "";
        this.replaceLine(entry.line, {
          text: text.slice(0, entry.valueStart) + gap + value + text.slice(entry.valueEnd),
        });
        // assertValue keeps the line what it was (same key, no comment, no break): only this
        // entry's value moves, so the analysis is patched instead of redone over the whole file.
        const valueStart = entry.valueStart + gap.length;
        const patched = section.withEntry(
          at,
          { ...entry, value, valueStart, valueEnd: valueStart + value.length },
          this.lines,
        );
        this.parsed[this.parsed.indexOf(section)] = patched;
        const profile = this.flavour === "config" ? configProfileName(section.name) : section.name;
        this.byName.set(
          profile!,
          sections.map((s) => (s === section ? patched : s)),
        );
        return;
      }
    }
    const last = sections[sections.length - 1]!;
    this.insertLines(last.lastContentLine + 1, [`${key} = ${value}`]);
  }

  /** Removes one key of a profile (every occurrence). Returns whether anything was removed. */
  unset(name: string, key: string): boolean {
    const doomed = new Set<number>();
    const wanted = key.toLowerCase();
    for (const s of this.named(name)) for (const e of s.entries) if (e.key === wanted) doomed.add(e.line);
    if (doomed.size === 0) return false;
    this.removeLineSet(doomed);
    return true;
  }

  /** The raw body lines (entries and their continuations, no comments or blanks) of a profile. */
  bodyLines(name: string): string[] {
    const out: string[] = [];
    for (const s of this.named(name)) {
      for (let i = s.headerLine + 1; i <= s.lastContentLine; i++) {
        const text = this.lines.text(i);
        if (!isBlankOrComment(text)) out.push(text);
      }
    }
    return out;
  }

  /** The whole-line comments (`#`, `;`) among a section's body lines, as written. */
  commentLines(name: string): string[] {
    const out: string[] = [];
    for (const s of this.named(name)) {
      for (let i = s.headerLine + 1; i <= s.lastContentLine; i++) {
        const text = this.lines.text(i);
        const t = text.trim();
        if (t.startsWith("#") || t.startsWith(";")) out.push(text);
      }
    }
    return out;
  }

  /**
   * Writes `[name]` with the given body lines. An existing single section keeps its header line,
   * its position and its comments (those not already in `body`, ahead of it); otherwise the section
   * is appended at the end of the file.
   */
  putSection(name: string, body: readonly string[]): void {
    // Body lines come from bodyLines() and may hold a lone CR (a CRLF file that lost its final LF):
    // only a LF would split the line, for the SDK's reader as for this one.
    for (const line of body) if (line.includes("\n")) throw new Error("a line may not contain a line break");
    const existing = this.named(name);
    if (existing.length > 1) throw new Error(`section [${name}] appears more than once`);
    const s = existing[0];
    if (s) {
      // A section that ends the file without a final newline must leave the file still ending bare.
      const endedBare =
        s.lastContentLine === this.lines.count - 1 && this.lines.eol(s.lastContentLine) === "";
      const kept = this.commentLines(name).filter((c) => !body.includes(c));
      this.lines = this.lines.splice(s.headerLine + 1, s.lastContentLine - s.headerLine, []);
      this.stale = true;
      this.insertLines(s.headerLine + 1, [...kept, ...body]);
      if (endedBare) this.replaceLine(this.lines.count - 1, { eol: "" });
      return;
    }
    const block = [`[${this.flavour === "config" ? configSectionName(name) : name}]`, ...body];
    const last = this.lines.count - 1;
    if (last >= 0 && this.lines.text(last).trim() !== "") block.unshift("");
    this.insertLines(this.lines.count, block);
  }

  /** Removes every `[name]` section (header and body; comments after the body stay). */
  removeSection(name: string): boolean {
    const doomed = new Set<number>();
    for (const s of this.named(name)) {
      for (let i = s.headerLine; i <= s.lastContentLine; i++) doomed.add(i);
      // A blank line right before the header was its separator; keep the file from growing gaps.
      const before = s.headerLine - 1;
      if (before >= 0 && this.lines.text(before).trim() === "" && !this.inAnySectionBody(before)) {
        doomed.add(before);
      }
    }
    if (doomed.size === 0) return false;
    this.removeLineSet(doomed);
    return true;
  }

  /** Replaces the whole content (restoring a backup goes through the same locked write). */
  replaceAll(text: string): void {
    this.bom = text.startsWith(BOM) ? BOM : "";
    this.lines = Lines.of(text.slice(this.bom.length));
    this.stale = true;
  }

  private inAnySectionBody(line: number): boolean {
    this.index();
    return this.parsed.some((s) => line > s.headerLine && line <= s.lastContentLine);
  }

  private removeLineSet(doomed: Set<number>): void {
    const endedBare = this.lines.count > 0 && this.lines.eol(this.lines.count - 1) === "";
    this.lines = this.lines.filter((i) => !doomed.has(i));
    if (endedBare && this.lines.count > 0) this.replaceLine(this.lines.count - 1, { eol: "" });
    this.stale = true;
  }

  /** Inserts new lines before index `at`, in the file's line-ending style. */
  private insertLines(at: number, texts: readonly string[]): void {
    if (texts.length === 0) return;
    const eol = this.lineEnding;
    const fresh: RawLine[] = texts.map((text) => ({ text, eol }));
    const append = at === this.lines.count && !this.stale;
    if (at > 0 && this.lines.eol(at - 1) === "") {
      // The file had no final newline: the original bytes stay a prefix and the file still ends bare.
      fresh.unshift({ text: this.lines.text(at - 1), eol });
      fresh[fresh.length - 1]!.eol = "";
      this.lines = this.lines.splice(at - 1, 1, fresh);
    } else this.lines = this.lines.splice(at, 0, fresh);
    // A block appended at the end that opens with its own header (a new section: a rotation's
    // -previous) leaves every earlier section as it was: only the new lines are analysed.
    if (!append || !this.analyzeTail(at)) this.stale = true;
  }

  private analyzeTail(from: number): boolean {
    const tail = this.scan(from);
    if (tail.orphans) return false;
    this.unshare();
    this.parsed = [...this.parsed, ...tail.sections];
    this.addNames(tail.sections);
    return true;
  }

  private analyze(): void {
    this.shared = false;
    this.parsed = this.scan(0).sections;
    this.byName = new Map();
    this.addNames(this.parsed);
  }

  /** Files the sections under their profile's name; lists are new arrays (the old may be shared). */
  private addNames(sections: readonly ParsedSection[]): void {
    const config = this.flavour === "config";
    for (const s of sections) {
      const profile = config ? configProfileName(s.name) : s.name;
      if (profile === undefined) continue;
      const list = this.byName.get(profile);
      this.byName.set(profile, list ? [...list, s] : [s]);
    }
  }

  /**
   * The sections from line `from` on. `orphans`: a setting came before the first header, which
   * belongs to the section before `from` (scanning from 0, such lines belong to no section).
   * Their entries are read when asked for (ParsedSection), so this pass only finds the headers.
   */
  private scan(from: number): { sections: ParsedSection[]; orphans: boolean } {
    // Hot on files with thousands of profiles (keyctl --list must start nearly as fast as bare
    // node), so lines are classified with character codes rather than trims and regexes.
    const sections: ParsedSection[] = [];
    let orphans = false;
    let name: string | undefined;
    let headerLine = 0;
    let lastContentLine = 0;
    const lines = this.lines;
    const body = lines.body;
    for (let index = from; index < lines.count; index++) {
      // On offsets into the text: only header lines become strings.
      const end = lines.end(index);
      let lead = lines.start(index);
      while (lead < end && isSpace(body.charCodeAt(lead))) lead++;
      if (lead === end) continue;
      const first = body.charCodeAt(lead);
      if (first === 35 || first === 59) continue; // # or ; : a whole-line comment
      if (first === 91) {
        const text = lines.text(index);
        const header = headerName(text.includes("#") || text.includes(";") ? contentOf(text) : text);
        if (header !== undefined) {
          if (name !== undefined) sections.push(new ParsedSection(name, headerLine, lastContentLine, lines));
          name = header;
          headerLine = index;
          lastContentLine = index;
          continue;
        }
      }
      if (name === undefined) orphans = true;
      else lastContentLine = index;
    }
    if (name !== undefined) sections.push(new ParsedSection(name, headerLine, lastContentLine, lines));
    return { sections, orphans };
  }
}

function findLastIndex<T>(items: readonly T[], pred: (item: T) => boolean): number {
  for (let i = items.length - 1; i >= 0; i--) if (pred(items[i]!)) return i;
  return -1;
}

function assertLine(text: string): void {
  if (/[\r\n]/.test(text)) throw new Error("a line may not contain a line break");
}

function assertValue(key: string, value: string): void {
  assertLine(key);
  assertLine(value);
  if (value.trim() !== value || value === "" || INLINE_COMMENT.test(value)) {
    throw new Error(`invalid value for ${key}`);
  }
}
