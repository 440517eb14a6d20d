// Edits patch the document's analysis (a value set in place) or defer it to the next look-up,
// instead of re-analysing the whole file after each edit. Whatever the sequence of edits, what the
// document then says must be what a fresh parse of its printed text says.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CredentialsDocument } from "../../../src/ini/document.js";
import { credentialsFile, structuralNoise } from "../../helpers/credentials-arbitrary.js";
import { applyStep, editStep } from "../../helpers/document-edits.js";

/** Everything a caller can read from a document, in a form that compares by value. */
function view(doc: CredentialsDocument) {
  return {
    names: doc.profileNames(),
    sections: doc.sections.map((s) => ({ ...s, entries: s.entries.map((e) => ({ ...e })) })),
    profiles: doc.profileNames().map((n) => [n, [...(doc.profile(n) ?? new Map())]]),
  };
}

describe("incremental analysis", () => {
  it("a clone edits independently: the original still reads as its text, the clone as its own", () => {
    fc.assert(
      fc.property(
        fc.oneof({ weight: 4, arbitrary: credentialsFile }, { weight: 1, arbitrary: structuralNoise }),
        fc.array(editStep, { minLength: 1, maxLength: 4 }),
        (text, steps) => {
          const original = CredentialsDocument.parse(text);
          const before = view(original);
          const copy = original.clone();
          for (const step of steps) applyStep(copy, step);
          expect(original.toString()).toBe(text);
          expect(view(original)).toEqual(before);
          expect(view(copy)).toEqual(view(CredentialsDocument.parse(copy.toString())));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("after any sequence of edits the document reads as a fresh parse of its text", () => {
    fc.assert(
      fc.property(
        fc.oneof({ weight: 4, arbitrary: credentialsFile }, { weight: 1, arbitrary: structuralNoise }),
        fc.array(editStep, { minLength: 1, maxLength: 6 }),
        (text, steps) => {
          const doc = CredentialsDocument.parse(text);
          for (const step of steps) {
            if (doc.profileNames().length === 0) break;
            if (!applyStep(doc, step)) continue;
            expect(view(doc)).toEqual(view(CredentialsDocument.parse(doc.toString())));
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
