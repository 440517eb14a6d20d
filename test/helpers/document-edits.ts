// Random edit sequences of a credentials document, as a rotation and the other commands make them.
import fc from "fast-check";
import type { CredentialsDocument } from "../../src/ini/document.js";
import { accessKeyId } from "./credentials-arbitrary.js";

const SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

export const editStep = fc.oneof(
  fc.record({ op: fc.constant("rotate" as const), pick: fc.nat(), id: accessKeyId }),
  fc.record({ op: fc.constant("set" as const), pick: fc.nat(), id: accessKeyId }),
  fc.record({ op: fc.constant("unset" as const), pick: fc.nat() }),
  fc.record({ op: fc.constant("remove" as const), pick: fc.nat() }),
);

export type Step = typeof editStep extends fc.Arbitrary<infer S> ? S : never;

/** One edit of the sequence on `doc`; false when it was skipped. */
export function applyStep(doc: CredentialsDocument, step: Step): boolean {
  const names = doc.profileNames();
  if (names.length === 0) return false;
  const name = names[step.pick % names.length]!;
  if (step.op === "rotate") {
    // What a rotation does: keep the old body in -previous, then set both halves of the key.
    if (doc.sectionsNamed(`${name}-previous`).length > 1) return false;
    doc.putSection(`${name}-previous`, doc.bodyLines(name));
    doc.set(name, "aws_access_key_id", step.id);
    doc.set(name, "aws_secret_access_key", SECRET);
  } else if (step.op === "set") doc.set(name, "aws_access_key_id", step.id);
  else if (step.op === "unset") doc.unset(name, "aws_secret_access_key");
  else doc.removeSection(name);
  return true;
}
