// The document keeps its lines as offsets into its text and edits by splicing the changed lines in,
// and a key look-up reads a section on those offsets without building its entries. Both must say
// exactly what the full reading of the printed text says.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CredentialsDocument } from "../../../src/ini/document.js";
import { credentialsFile, structuralNoise } from "../../helpers/credentials-arbitrary.js";
import { applyStep, editStep } from "../../helpers/document-edits.js";

const RUNS = 2000;
const anyFile = fc.oneof(
  { weight: 4, arbitrary: credentialsFile },
  { weight: 1, arbitrary: structuralNoise },
);

/** The printed text's lines as a reader splits it (after a BOM), which the analysis's line numbers index. */
function printedLines(doc: CredentialsDocument): string[] {
  return doc
    .toString()
    .replace(/^\uFEFF/, "")
    .split("\n")
    .map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
}

/** Whether every section and entry of `doc`'s analysis points at the line of its printed text it names. */
function analysisMatchesPrint(doc: CredentialsDocument): void {
  const lines = printedLines(doc);
  for (const s of doc.sections) {
    expect(lines[s.headerLine]!.trim().startsWith(`[${s.name}]`), s.name).toBe(true);
    for (const e of s.entries) expect(lines[e.line]!.slice(e.valueStart, e.valueEnd)).toBe(e.value);
  }
}

describe("a document on offsets", () => {
  it("get(p, k) without entries says what the entries say, for every key in any spelling", () => {
    fc.assert(
      fc.property(anyFile, (text) => {
        const doc = CredentialsDocument.parse(text);
        const full = CredentialsDocument.parse(text);
        for (const name of full.profileNames()) {
          const settings = full.profile(name)!;
          for (const key of [...settings.keys(), "aws_access_key_id", "region", "nope"]) {
            for (const spelling of [key, key.toUpperCase()]) {
              expect(doc.get(name, spelling), `${name} ${spelling}`).toBe(settings.get(key));
            }
          }
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("reads a key whose spelling lower-cases to ASCII from other characters as toLowerCase does", () => {
    // U+212A KELVIN SIGN lower-cases to "k": the look-up's character test must not skip such a key.
    const text = "[p]\naws_access_\u212Aey_id = AKIAKELVIN\n";
    expect(CredentialsDocument.parse(text).get("p", "aws_access_key_id")).toBe("AKIAKELVIN");
    expect(CredentialsDocument.parse(text).profile("p")!.get("aws_access_key_id")).toBe("AKIAKELVIN");
  });

  it("after any edits, splicing prints what a fresh parse reads back, and the analysis points at the printed lines", () => {
    fc.assert(
      fc.property(anyFile, fc.array(editStep, { minLength: 1, maxLength: 5 }), (text, steps) => {
        const original = CredentialsDocument.parse(text);
        original.profileNames();
        const doc = original.clone();
        for (const step of steps) {
          applyStep(doc, step);
          analysisMatchesPrint(doc);
        }
        const fresh = CredentialsDocument.parse(doc.toString());
        expect(fresh.toString()).toBe(doc.toString());
        expect(doc.profileNames()).toEqual(fresh.profileNames());
        for (const name of fresh.profileNames()) expect(doc.profile(name)).toEqual(fresh.profile(name));
        expect(doc.lineEnding).toBe(fresh.lineEnding);
        expect(original.toString()).toBe(text);
      }),
      { numRuns: RUNS },
    );
  });
});
