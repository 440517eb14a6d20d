// fast-check arbitraries that build realistic-but-nasty AWS credentials files from line fragments.
import fc from "fast-check";

// No names that collide with Object.prototype members: the SDK stores profiles in a plain object.
export const PROFILE_NAMES = [
  "default",
  "work",
  "Work",
  "prod",
  "dev-1",
  "a.b",
  "x_y",
  "work-previous",
  "prod-previous",
  "default-previous",
  "profile prod",
  "profile  work",
  "foo bar",
  "",
] as const;

const KEYS = [
  "aws_access_key_id",
  "aws_secret_access_key",
  "aws_session_token",
  "region",
  "output",
  "s3",
  "max_concurrent_requests",
  "AWS_SECRET_ACCESS_KEY",
  "x",
] as const;

const VALUES = [
  "AKIAIOSFODNN7EXAMPLE",
  "ASIAIOSFODNN7EXAMPLE",
  "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  "secret;abc",
  "abc#def",
  "a b",
  "eu-west-1",
  "==x",
  "[x]",
  "",
] as const;

const SPACE = fc.constantFrom("", " ", "  ", "\t");
const INDENT = fc.constantFrom("", "", "", " ", "  ", "\t");
const TRAIL = fc.constantFrom("", "", " ", " # note", " ;note", "\t#x", "# not a comment");

const header = fc
  .tuple(INDENT, fc.constantFrom(...PROFILE_NAMES), fc.constantFrom("", "", " ", " # c", "  ; c"))
  .map(([indent, name, trail]) => `${indent}[${name}]${trail}`);

const entry = fc
  .tuple(INDENT, fc.constantFrom(...KEYS), SPACE, SPACE, fc.constantFrom(...VALUES), TRAIL)
  .map(([indent, key, before, after, value, trail]) => `${indent}${key}${before}=${after}${value}${trail}`);

const comment = fc
  .tuple(
    INDENT,
    fc.constantFrom("#", ";"),
    fc.constantFrom("", " comment", " [fake] = 1", "aws_access_key_id = X"),
  )
  .map(([indent, mark, text]) => `${indent}${mark}${text}`);

const other = fc.constantFrom(
  "",
  "",
  "",
  "   ",
  "\t",
  "key: colon",
  "=novalue",
  "just some text",
  "[",
  "]",
  "[]",
  "[a #b]",
  "  sub = 1",
  "\u00a0indented = nbsp",
);

export const line = fc.oneof(
  { weight: 3, arbitrary: header },
  { weight: 6, arbitrary: entry },
  { weight: 2, arbitrary: comment },
  { weight: 3, arbitrary: other },
);

const keyLine = fc
  .tuple(INDENT, SPACE, SPACE, fc.constantFrom("AKIAIOSFODNN7EXAMPLE", "AKIAOLD", "ASIAX"), TRAIL)
  .map(
    ([indent, before, after, value, trail]) => `${indent}aws_access_key_id${before}=${after}${value}${trail}`,
  );

/** A section: a header and a body that often holds a key id. */
const section = fc
  .tuple(
    header,
    fc.array(fc.oneof({ weight: 3, arbitrary: line }, { weight: 1, arbitrary: keyLine }), { maxLength: 8 }),
  )
  .map(([h, body]) => [h, ...body]);

/** Mostly section-shaped files (text before the first header, then sections), some free-form. */
const fileLines = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.array(line, { maxLength: 3 }), fc.array(section, { minLength: 1, maxLength: 6 }))
      .map(([pre, sections]) => [...pre, ...sections.flat()]),
  },
  { weight: 1, arbitrary: fc.array(line, { maxLength: 30 }) },
);

/** A whole file: optional BOM, lines with LF/CRLF/mixed endings, optional missing final newline. */
export const credentialsFile: fc.Arbitrary<string> = fc
  .record({
    bom: fc.boolean(),
    lines: fileLines,
    style: fc.constantFrom("lf", "crlf", "mixed"),
    mixedEols: fc.array(fc.constantFrom("\n", "\r\n"), { minLength: 60, maxLength: 60 }),
    finalNewline: fc.boolean(),
  })
  .map(({ bom, lines, style, mixedEols, finalNewline }) => {
    let text = bom ? "\uFEFF" : "";
    lines.forEach((l, i) => {
      const eol = style === "lf" ? "\n" : style === "crlf" ? "\r\n" : mixedEols[i % mixedEols.length]!;
      const last = i === lines.length - 1;
      text += l + (last && !finalNewline ? "" : eol);
    });
    return text;
  });

/** A new access key id, as IAM makes them. */
export const accessKeyId = fc
  .string({ unit: fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), minLength: 16, maxLength: 16 })
  .map((s) => `AKIA${s}`);

/** Random text dense in the characters that matter to the format (brackets, `=`, comments, CR, LF, BOM). */
export const structuralNoise = fc.string({
  unit: fc.constantFrom("\r", "\n", "\r\n", "[", "]", "=", "#", ";", " ", "\t", "a", "k", "\uFEFF", "\u00a0"),
  maxLength: 120,
});
