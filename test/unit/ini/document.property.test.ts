import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CredentialsDocument } from "../../../src/ini/document.js";
import { accessKeyId, credentialsFile, structuralNoise } from "../../helpers/credentials-arbitrary.js";
import { agreesUpToCase, sdkKeepsNameVerbatim, sdkParseCredentials } from "../../helpers/sdk-ini.js";

// Generated cases: 4 properties x RUNS, plus removeSection (2,000) and SDK parity (3,000): 25,000 in all.
const RUNS = 5000;
const KEY = "aws_access_key_id";

const parse = (text: string) => CredentialsDocument.parse(text);

/** Lines with their endings attached; the BOM (if any) stays on the first line. */
function linesOf(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

function profilesOf(doc: CredentialsDocument): Map<string, Map<string, string> | undefined> {
  return new Map(doc.profileNames().map((n) => [n, doc.profile(n)]));
}

const endsWithNewline = (text: string) => text.endsWith("\n");

/** A credentials file, or denser noise, and a pick of one of its section names. */
const fileWithProfile = fc
  .tuple(
    fc.oneof({ weight: 4, arbitrary: credentialsFile }, { weight: 1, arbitrary: structuralNoise }),
    fc.nat(),
  )
  .filter(([text]) => parse(text).profileNames().length > 0)
  .map(([text, pick]) => {
    const names = parse(text).profileNames();
    // Half the time prefer a profile whose `-previous` copy exists, so replacing one gets exercised.
    const withPrevious = names.filter((n) => names.includes(`${n}-previous`));
    const pool = pick % 2 === 1 && withPrevious.length > 0 ? withPrevious : names;
    return { text, name: pool[Math.floor(pick / 2) % pool.length]! };
  });

describe("parse and print", () => {
  it("prints a generated credentials file back byte for byte", () => {
    fc.assert(
      fc.property(credentialsFile, (text) => {
        expect(parse(text).toString()).toBe(text);
      }),
      { numRuns: RUNS },
    );
  });

  it("prints any string back byte for byte", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: "grapheme-composite", maxLength: 200 }),
          fc.string({ unit: "binary", maxLength: 200 }),
          structuralNoise,
        ),
        (text) => {
          const doc = parse(text);
          expect(doc.toString()).toBe(text);
          for (const name of doc.profileNames()) doc.profile(name);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe("edits stay inside their section", () => {
  it(`set(p, ${KEY}) changes only that value (or inserts one line) and no other profile`, () => {
    fc.assert(
      fc.property(fileWithProfile, accessKeyId, ({ text, name }, newId) => {
        const before = parse(text);
        const doc = parse(text);
        doc.set(name, KEY, newId);
        const out = doc.toString();
        const after = parse(out);

        expect(after.get(name, KEY)).toBe(newId);
        const expectedP = new Map(before.profile(name));
        expectedP.set(KEY, newId);
        expect(after.profile(name)).toEqual(expectedP);
        const others = profilesOf(before);
        others.delete(name);
        for (const [other, settings] of others) expect(after.profile(other), other).toEqual(settings);
        expect(after.profileNames()).toEqual(before.profileNames());

        const sections = before.sectionsNamed(name);
        const oldValue = before.get(name, KEY);
        const a = linesOf(text);
        const b = linesOf(out);
        if (oldValue !== undefined) {
          // Exactly one line differs, it is in a body of [name], and only the value changed on it.
          expect(b.length).toBe(a.length);
          const diffs = a.flatMap((l, i) => (l === b[i] ? [] : [i]));
          expect(diffs.length).toBe(1);
          const i = diffs[0]!;
          expect(sections.some((s) => i > s.headerLine && i <= s.lastContentLine)).toBe(true);
          const old = a[i]!;
          const replaced = [...old.matchAll(new RegExp(escapeRegExp(oldValue), "g"))].some(
            (m) => old.slice(0, m.index) + newId + old.slice(m.index + oldValue.length) === b[i],
          );
          expect(replaced, `${JSON.stringify(old)} -> ${JSON.stringify(b[i])}`).toBe(true);
        } else {
          // One new line right after the last content line of the last [name] section.
          const last = sections[sections.length - 1]!;
          const eol = before.lineEnding;
          const added = `${KEY} = ${newId}`;
          const cut = a.slice(0, last.lastContentLine + 1).join("").length;
          const expected = endsWithNewline(text.slice(0, cut))
            ? text.slice(0, cut) + added + eol + text.slice(cut)
            : text + eol + added;
          expect(out).toBe(expected);
        }
        expect(endsWithNewline(out)).toBe(endsWithNewline(text));
      }),
      { numRuns: RUNS },
    );
  });

  it("putSection(p-previous, bodyLines(p)) keeps every other profile and every byte outside it", () => {
    fc.assert(
      fc.property(fileWithProfile, ({ text, name }) => {
        const prev = `${name}-previous`;
        const before = parse(text);
        const existing = before.sectionsNamed(prev);
        fc.pre(existing.length <= 1);
        const doc = parse(text);
        const body = doc.bodyLines(name);
        doc.putSection(prev, body);
        const out = doc.toString();
        const after = parse(out);

        const others = profilesOf(before);
        others.delete(prev);
        for (const [other, settings] of others) expect(after.profile(other), other).toEqual(settings);
        expect(after.profileNames()).toEqual(
          existing.length ? before.profileNames() : [...before.profileNames(), prev],
        );
        if (before.sectionsNamed(name).length === 1) {
          // A single section copies over exactly (duplicate sections: see the note in the report).
          expect(after.profile(prev)).toEqual(before.profile(name));
        }
        expect(endsWithNewline(out)).toBe(endsWithNewline(text));

        const eol = before.lineEnding;
        const block = [`[${prev}]`, ...body].join(eol);
        if (existing.length === 0) {
          expect(out.startsWith(text)).toBe(true);
          const tail = out.slice(text.length);
          const sep = tail.slice(0, tail.indexOf("["));
          expect(["", eol, eol + eol]).toContain(sep);
          expect(tail.slice(sep.length)).toBe(endsWithNewline(text) ? block + eol : block);
        } else {
          const s = existing[0]!;
          const a = linesOf(text);
          const upToHeader = a.slice(0, s.headerLine + 1).join("");
          const afterBody = a.slice(s.lastContentLine + 1).join("");
          expect(out.startsWith(upToHeader.replace(/\r?\n$/, ""))).toBe(true);
          expect(out.endsWith(afterBody)).toBe(true);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("removeSection(p) keeps every other profile and ends the file as before", () => {
    fc.assert(
      fc.property(fileWithProfile, ({ text, name }) => {
        const before = parse(text);
        const doc = parse(text);
        expect(doc.removeSection(name)).toBe(true);
        const out = doc.toString();
        const after = parse(out);
        expect(after.has(name)).toBe(false);
        const others = profilesOf(before);
        others.delete(name);
        for (const [other, settings] of others) expect(after.profile(other), other).toEqual(settings);
        // A file that ended with a newline still does. (One that ended bare may now end with the newline
        // of an empty last line, which cannot stay bare; the example tests cover the ordinary case.)
        if (endsWithNewline(text) && out.replace(/^\uFEFF/, "") !== "")
          expect(endsWithNewline(out)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("agrees with the AWS SDK's reader", () => {
  it("profile(name) equals the SDK's parse, up to the case of key names, for every name the SDK keeps verbatim", async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(credentialsFile, structuralNoise), async (text) => {
        const doc = parse(text);
        const sdk = await sdkParseCredentials(text);
        for (const name of doc.profileNames().filter(sdkKeepsNameVerbatim)) {
          const mine = doc.profile(name);
          expect(
            agreesUpToCase(mine, sdk[name]),
            `${name}: ${JSON.stringify([...mine!])} vs ${JSON.stringify(sdk[name])}`,
          ).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
