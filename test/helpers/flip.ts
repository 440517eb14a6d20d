// Versions of a credentials file for the crash test: the writer flips a large section between two
// contents A and B, so the file on disk must always equal exactly the original, A or B.
import type { CredentialsDocument } from "../../src/ini/document.js";

export const BIG = "big";
export const BIG_LINES = 4000;

export type Tag = "O" | "A" | "B";

export function bigBody(tag: Tag, lines = BIG_LINES): string[] {
  const out: string[] = [];
  for (let i = 0; i < lines; i++) out.push(`key_${i} = ${tag}_${i}_${"0123456789abcdef".repeat(3)}`);
  return out;
}

/** The original file: CRLF, comments, other profiles before and after the big one, no final newline. */
export function originalText(): string {
  return [
    "\uFEFF# keyctl crash test",
    "[default]",
    "aws_access_key_id = AKIAORIGINALDEFAULT",
    "aws_secret_access_key = secret;not-a-comment",
    "",
    `[${BIG}]`,
    ...bigBody("O", 10),
    "; after big",
    "[tail]",
    "region = eu-west-1",
  ].join("\r\n");
}

/** The edit the writer applies: O or B becomes A, A becomes B. */
export function flipEdit(doc: CredentialsDocument): void {
  const next: Tag = doc.get(BIG, "key_0")?.startsWith("A") ? "B" : "A";
  doc.putSection(BIG, bigBody(next));
}
