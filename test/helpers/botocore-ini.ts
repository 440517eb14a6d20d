// The AWS CLI's own reading of a credentials or config file, for parity tests: botocore's
// `configloader.raw_config_parse` (the function the AWS CLI reads both files with), run by the
// system python3 that moto already needs. One python process serves a whole test file.
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import fc from "fast-check";

/** A section as botocore returns it: a value, or a dict for a nested (`key =` + indented) value. */
export type BotocoreProfiles = Record<string, Record<string, string | Record<string, string>>>;
export type BotocoreResult = { ok: true; profiles: BotocoreProfiles } | { ok: false; error: string };
// \`error\` is the configparser error class botocore wrapped, e.g. DuplicateOptionError.

const SERVER = `
import json, os, sys
from botocore.configloader import raw_config_parse
from botocore.exceptions import ConfigParseError
path = os.path.join(sys.argv[1], "file")
for line in sys.stdin:
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(json.loads(line))
    try:
        out = {"ok": True, "profiles": raw_config_parse(path)}
    except ConfigParseError as e:
        out = {"ok": False, "error": type(e.kwargs.get("error")).__name__}
    print(json.dumps(out), flush=True)
`;

export class BotocoreReader {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly dir = mkdtempSync(join(tmpdir(), "keyctl-botocore-"));
  private readonly pending: ((line: string) => void)[] = [];

  constructor() {
    // UTF-8 whatever the locale: botocore opens the file with the default encoding.
    this.child = spawn("python3", ["-c", SERVER, this.dir], { env: { ...process.env, PYTHONUTF8: "1" } });
    createInterface({ input: this.child.stdout }).on("line", (line) => this.pending.shift()?.(line));
  }

  read(text: string): Promise<BotocoreResult> {
    return new Promise((resolve) => {
      this.pending.push((line) => resolve(JSON.parse(line) as BotocoreResult));
      this.child.stdin.write(`${JSON.stringify(text)}\n`);
    });
  }

  close(): void {
    this.child.stdin.end();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** botocore's sections flattened the way keyctl names keys: nested values become `parent.name`. */
export function flattened(section: BotocoreProfiles[string]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(section)) {
    if (typeof value === "string") out[key] = value;
    else for (const [sub, v] of Object.entries(value)) out[`${key}.${sub}`] = v;
  }
  return out;
}

// The grammar both readers share: what `aws configure` and people write. It leaves out where the
// AWS CLI and the JS SDK (whose line rules keyctl keeps) knowingly differ: inline comments,
// indented continuation lines, `:` as delimiter, text before the first section, a BOM, lone CRs.
const NAMES = ["default", "work", "Work", "prod", "dev-1", "a.b", "profile prod", "work-previous", " y "];
const KEY_NAMES = ["aws_access_key_id", "aws_secret_access_key", "aws_session_token", "region", "output"];
const VALUES = [
  "AKIAIOSFODNN7EXAMPLE",
  "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  "secret;abc",
  "abc#def",
  "a b",
  "eu-west-1",
  "==x",
  "x:y",
];
const SPACE = fc.constantFrom("", " ", "  ", "\t");

/** A key name in any spelling: lower, upper, or mixed case. */
const keyName = fc
  .tuple(fc.constantFrom(...KEY_NAMES), fc.array(fc.boolean(), { minLength: 24, maxLength: 24 }))
  .map(([name, upper]) => [...name].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join(""));

const setting = fc
  .tuple(keyName, SPACE, SPACE, fc.constantFrom(...VALUES), fc.constantFrom("", " ", "\t"))
  .map(([key, before, after, value, trail]) => `${key}${before}=${after}${value}${trail}`);

const nested = fc
  .tuple(
    fc.constantFrom("s3", "S3"),
    fc.uniqueArray(fc.constantFrom("max_concurrent_requests", "addressing_style"), { minLength: 1 }),
    fc.constantFrom("  ", "    ", "\t"),
  )
  .map(([key, subs, indent]) => [`${key} =`, ...subs.map((s) => `${indent}${s} = 10`)]);

const filler = fc.constantFrom("", "# comment", "; comment", "#aws_access_key_id = X", "   ");

const sectionLines = fc
  .tuple(
    fc.constantFrom(...NAMES),
    fc.constantFrom("", " ", "  # c"),
    fc.array(
      fc.oneof(
        { weight: 5, arbitrary: setting.map((l) => [l]) },
        { weight: 1, arbitrary: nested },
        { weight: 1, arbitrary: filler.map((l) => [l]) },
      ),
      { maxLength: 6 },
    ),
  )
  .map(([name, trail, body]) => [`[${name}]${trail}`, ...body.flat()]);

export const commonFile: fc.Arbitrary<string> = fc
  .tuple(
    fc.array(filler, { maxLength: 2 }),
    fc.array(sectionLines, { minLength: 1, maxLength: 5 }),
    fc.constantFrom("\n", "\r\n"),
    fc.boolean(),
  )
  .map(([pre, sections, eol, finalNewline]) => {
    const text = [...pre, ...sections.flat()].join(eol);
    return finalNewline ? text + eol : text;
  });
