// A lossless editor for the AWS shared credentials file.
//
// Every line keeps its raw text and its own line ending, so printing is concatenation and a parsed
// document prints back to the exact input. Reading follows the AWS SDK for JavaScript's rules
// (which is what keyctl authenticates with): whole-line `#`/`;` comments, a `#`/`;` preceded by
// whitespace starts an inline comment, the first `=` splits key from value, section names are
// verbatim, an empty value opens an indented sub-setting block, duplicate sections merge with the
// later value winning. Edits replace only the lines they touch.

export type LineEnding = "\n" | "\r\n";

interface RawLine {
  text: string;
  eol: "" | LineEnding;
}

export interface Entry {
  /** Key as the SDK names it: `name`, or `parent.name` inside a sub-setting block. */
  readonly key: string;
  readonly value: string;
  readonly line: number;
  /** Character offsets of the value within the line text, for in-place replacement. */
  readonly valueStart: number;
  readonly valueEnd: number;
}

export interface Section {
  readonly name: string;
  readonly headerLine: number;
  /** Index of the last line that belongs to the section's body (entries, continuations). */
  readonly lastContentLine: number;
  readonly entries: readonly Entry[];
}

const INLINE_COMMENT = /(^|\s)[;#]/;
const BOM = "\uFEFF";

function splitLines(text: string): RawLine[] {
  const lines: RawLine[] = [];
  let start = 0;
  while (start < text.length) {
    const nl = text.indexOf("\n", start);
    if (nl === -1) {
      lines.push({ text: text.slice(start), eol: "" });
      break;
    }
    const crlf = nl > start && text[nl - 1] === "\r";
    lines.push({ text: text.slice(start, crlf ? nl - 1 : nl), eol: crlf ? "\r\n" : "\n" });
    start = nl + 1;
  }
  return lines;
}

/** The part of a line before an inline comment, as the SDK's reader cuts it. */
function contentOf(text: string): string {
  const m = INLINE_COMMENT.exec(text);
  return m ? text.slice(0, m.index) : text;
}

function headerName(text: string): string | undefined {
  const content = contentOf(text).trim();
  if (content.length >= 2 && content.startsWith("[") && content.endsWith("]")) {
    return content.slice(1, -1);
  }
  return undefined;
}

interface ParsedEntry {
  name: string;
  value: string;
  valueStart: number;
  valueEnd: number;
}

function parseEntry(text: string): ParsedEntry | undefined {
  const content = contentOf(text);
  const lead = content.length - content.trimStart().length;
  const eq = content.indexOf("=");
  if (eq <= lead) return undefined;
  const name = content.slice(lead, eq).trim();
  let valueStart = eq + 1;
  while (valueStart < content.length && /\s/.test(content[valueStart]!)) valueStart++;
  let valueEnd = content.length;
  while (valueEnd > valueStart && /\s/.test(content[valueEnd - 1]!)) valueEnd--;
  return { name, value: content.slice(valueStart, valueEnd), valueStart, valueEnd };
}

function isIndented(text: string): boolean {
  return text.length > 0 && text.trimStart() !== text;
}

function isBlankOrComment(text: string): boolean {
  const t = text.trim();
  return t === "" || t.startsWith("#") || t.startsWith(";");
}

export class CredentialsDocument {
  private bom: string;
  private lines: RawLine[];
  private parsed: Section[] = [];

  private constructor(bom: string, lines: RawLine[]) {
    this.bom = bom;
    this.lines = lines;
    this.analyze();
  }

  static parse(text: string): CredentialsDocument {
    const bom = text.startsWith(BOM) ? BOM : "";
    return new CredentialsDocument(bom, splitLines(text.slice(bom.length)));
  }

  toString(): string {
    let out = this.bom;
    for (const line of this.lines) out += line.text + line.eol;
    return out;
  }

  /** The line ending new lines get: the one most lines of the file use (LF for an empty file). */
  get lineEnding(): LineEnding {
    let crlf = 0;
    let lf = 0;
    for (const l of this.lines) {
      if (l.eol === "\r\n") crlf++;
      else if (l.eol === "\n") lf++;
    }
    return crlf > lf ? "\r\n" : "\n";
  }

  get sections(): readonly Section[] {
    return this.parsed;
  }

  /** Section names in file order, each once. */
  profileNames(): string[] {
    return [...new Set(this.parsed.map((s) => s.name))];
  }

  sectionsNamed(name: string): Section[] {
    return this.parsed.filter((s) => s.name === name);
  }

  has(name: string): boolean {
    return this.parsed.some((s) => s.name === name);
  }

  /** The profile's settings as the SDK sees them: sections merged, later values win. */
  profile(name: string): Map<string, string> | undefined {
    const sections = this.sectionsNamed(name);
    if (sections.length === 0) return undefined;
    const merged = new Map<string, string>();
    for (const s of sections) for (const e of s.entries) merged.set(e.key, e.value);
    return merged;
  }

  get(name: string, key: string): string | undefined {
    return this.profile(name)?.get(key);
  }

  /** Sets one key of a profile. Only the value's characters change on an existing line. */
  set(name: string, key: string, value: string): void {
    assertValue(key, value);
    const sections = this.sectionsNamed(name);
    if (sections.length === 0) throw new Error(`no section [${name}]`);
    for (let i = sections.length - 1; i >= 0; i--) {
      const entry = findLast(sections[i]!.entries, (e) => e.key === key);
      if (entry) {
        const line = this.lines[entry.line]!;
        const text = line.text;
        const gap =
          entry.valueStart === entry.valueEnd && !/\s$/.test(text.slice(0, entry.valueStart)) ? " " : "";
        line.text = text.slice(0, entry.valueStart) + gap + value + text.slice(entry.valueEnd);
        this.analyze();
        return;
      }
    }
    const last = sections[sections.length - 1]!;
    this.insertLines(last.lastContentLine + 1, [`${key} = ${value}`]);
  }

  /** Removes one key of a profile (every occurrence). Returns whether anything was removed. */
  unset(name: string, key: string): boolean {
    const doomed = new Set<number>();
    for (const s of this.sectionsNamed(name))
      for (const e of s.entries) if (e.key === key) doomed.add(e.line);
    if (doomed.size === 0) return false;
    this.removeLineSet(doomed);
    return true;
  }

  /** The raw body lines (entries and their continuations, no comments or blanks) of a profile. */
  bodyLines(name: string): string[] {
    const out: string[] = [];
    for (const s of this.sectionsNamed(name)) {
      for (let i = s.headerLine + 1; i <= s.lastContentLine; i++) {
        const text = this.lines[i]!.text;
        if (!isBlankOrComment(text)) out.push(text);
      }
    }
    return out;
  }

  /**
   * Writes `[name]` with exactly the given body lines. An existing single section keeps its header
   * line and position; otherwise the section is appended at the end of the file.
   */
  putSection(name: string, body: readonly string[]): void {
    // Body lines come from bodyLines() and may hold a lone CR (a CRLF file that lost its final LF):
    // only a LF would split the line, for the SDK's reader as for this one.
    for (const line of body) if (line.includes("\n")) throw new Error("a line may not contain a line break");
    const existing = this.sectionsNamed(name);
    if (existing.length > 1) throw new Error(`section [${name}] appears more than once`);
    const s = existing[0];
    if (s) {
      // A section that ends the file without a final newline must leave the file still ending bare.
      const endedBare =
        s.lastContentLine === this.lines.length - 1 && this.lines[s.lastContentLine]!.eol === "";
      this.lines.splice(s.headerLine + 1, s.lastContentLine - s.headerLine);
      this.analyze();
      this.insertLines(s.headerLine + 1, body);
      if (endedBare) this.lines[this.lines.length - 1]!.eol = "";
      return;
    }
    const block = [`[${name}]`, ...body];
    const lastLine = this.lines[this.lines.length - 1];
    if (lastLine && lastLine.text.trim() !== "") block.unshift("");
    this.insertLines(this.lines.length, block);
  }

  /** Removes every `[name]` section (header and body; comments after the body stay). */
  removeSection(name: string): boolean {
    const doomed = new Set<number>();
    for (const s of this.sectionsNamed(name)) {
      for (let i = s.headerLine; i <= s.lastContentLine; i++) doomed.add(i);
      // A blank line right before the header was its separator; keep the file from growing gaps.
      const before = s.headerLine - 1;
      if (before >= 0 && this.lines[before]!.text.trim() === "" && !this.inAnySectionBody(before)) {
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
    this.lines = splitLines(text.slice(this.bom.length));
    this.analyze();
  }

  private inAnySectionBody(line: number): boolean {
    return this.parsed.some((s) => line > s.headerLine && line <= s.lastContentLine);
  }

  private removeLineSet(doomed: Set<number>): void {
    const endedBare = this.lines.length > 0 && this.lines[this.lines.length - 1]!.eol === "";
    this.lines = this.lines.filter((_, i) => !doomed.has(i));
    const tail = this.lines[this.lines.length - 1];
    if (endedBare && tail) tail.eol = "";
    this.analyze();
  }

  /** Inserts new lines before index `at`, in the file's line-ending style. */
  private insertLines(at: number, texts: readonly string[]): void {
    if (texts.length === 0) return;
    const eol = this.lineEnding;
    const fresh: RawLine[] = texts.map((text) => ({ text, eol }));
    const prev = this.lines[at - 1];
    if (prev && prev.eol === "") {
      // The file had no final newline: the original bytes stay a prefix and the file still ends bare.
      prev.eol = eol;
      fresh[fresh.length - 1]!.eol = "";
    }
    this.lines.splice(at, 0, ...fresh);
    this.analyze();
  }

  private analyze(): void {
    const sections: Section[] = [];
    let current: { name: string; headerLine: number; lastContentLine: number; entries: Entry[] } | undefined;
    let subSection: string | undefined;
    this.lines.forEach((line, index) => {
      const { text } = line;
      const header = headerName(text);
      if (header !== undefined) {
        if (current) sections.push(current);
        current = { name: header, headerLine: index, lastContentLine: index, entries: [] };
        subSection = undefined;
        return;
      }
      if (!current || isBlankOrComment(text)) return;
      current.lastContentLine = index;
      const parsed = parseEntry(text);
      if (!parsed) return;
      if (parsed.value === "") {
        subSection = parsed.name;
        return;
      }
      if (subSection !== undefined && !isIndented(text)) subSection = undefined;
      current.entries.push({
        key: subSection !== undefined ? `${subSection}.${parsed.name}` : parsed.name,
        value: parsed.value,
        line: index,
        valueStart: parsed.valueStart,
        valueEnd: parsed.valueEnd,
      });
    });
    if (current) sections.push(current);
    this.parsed = sections;
  }
}

function findLast<T>(items: readonly T[], pred: (item: T) => boolean): T | undefined {
  for (let i = items.length - 1; i >= 0; i--) if (pred(items[i]!)) return items[i];
  return undefined;
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
