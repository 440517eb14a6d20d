import { describe, expect, it } from "vitest";
import { CredentialsDocument } from "../../../src/ini/document.js";
import { agreesUpToCase, sdkKeepsNameVerbatim, sdkParseCredentials } from "../../helpers/sdk-ini.js";

const parse = (text: string) => CredentialsDocument.parse(text);
const obj = (m: Map<string, string> | undefined) => (m ? Object.fromEntries(m) : undefined);

describe("reading", () => {
  it("reads LF, CRLF and mixed line endings alike and prints them back unchanged", () => {
    for (const eol of ["\n", "\r\n"]) {
      const text = ["[default]", "aws_access_key_id = AKIA1", "aws_secret_access_key = s1", ""].join(eol);
      const doc = parse(text);
      expect(doc.toString()).toBe(text);
      expect(obj(doc.profile("default"))).toEqual({
        aws_access_key_id: "AKIA1",
        aws_secret_access_key: "s1",
      });
      expect(doc.lineEnding).toBe(eol);
    }
    const mixed = "[a]\r\nk = 1\n[b]\r\nk = 2\r\n";
    const doc = parse(mixed);
    expect(doc.toString()).toBe(mixed);
    expect(doc.get("a", "k")).toBe("1");
    expect(doc.get("b", "k")).toBe("2");
    expect(doc.lineEnding).toBe("\r\n");
  });

  it("keeps a UTF-8 byte order mark and still reads the first header", () => {
    const text = "\uFEFF[default]\naws_access_key_id = AKIA1\n";
    const doc = parse(text);
    expect(doc.profileNames()).toEqual(["default"]);
    expect(doc.get("default", "aws_access_key_id")).toBe("AKIA1");
    expect(doc.toString()).toBe(text);
  });

  it("reads a file without a final newline, and the empty file", () => {
    const doc = parse("[a]\nk = v");
    expect(doc.get("a", "k")).toBe("v");
    expect(doc.toString()).toBe("[a]\nk = v");
    expect(parse("").toString()).toBe("");
    expect(parse("").profileNames()).toEqual([]);
  });

  it("skips # and ; comment lines, also indented ones", () => {
    const doc = parse("# top\n[a]\n; semi\nk = 1\n   # indented hash\n\t; indented semi\nj = 2\n");
    expect(obj(doc.profile("a"))).toEqual({ k: "1", j: "2" });
  });

  it("cuts an inline comment only after whitespace", () => {
    const doc = parse(
      [
        "[a]",
        "id = AKIA1 # note",
        "tok = abc ;note",
        "secret = secret;abc",
        "hash = abc#def",
        "tabbed = x\t#y",
        "",
      ].join("\n"),
    );
    expect(obj(doc.profile("a"))).toEqual({
      id: "AKIA1",
      tok: "abc",
      secret: "secret;abc",
      hash: "abc#def",
      tabbed: "x",
    });
  });

  it("reads key=value without spaces and splits at the first =", () => {
    const doc = parse("[a]\nk=v\nx = a=b==\n=nokey\nnoequals\nkey: colon\n");
    expect(obj(doc.profile("a"))).toEqual({ k: "v", x: "a=b==" });
  });

  it("reads an empty value as a sub-setting block of the indented lines after it", () => {
    const doc = parse(
      "[a]\ns3 =\n  max_concurrent_requests = 10\n  # c\n\tmax_queue = 2\nregion = eu-west-1\n  after = 1\n",
    );
    expect(obj(doc.profile("a"))).toEqual({
      "s3.max_concurrent_requests": "10",
      "s3.max_queue": "2",
      region: "eu-west-1",
      after: "1",
    });
  });

  it("reads key names in any case as the same lower-case key, later line winning", () => {
    const doc = parse("[a]\nAWS_Access_Key_ID = AKIA1\nREGION = eu-west-1\naws_access_key_id = AKIA2\n");
    expect(obj(doc.profile("a"))).toEqual({ aws_access_key_id: "AKIA2", region: "eu-west-1" });
    expect(doc.get("a", "AWS_ACCESS_KEY_ID")).toBe("AKIA2");
  });

  it("reads indented continuation-like lines as plain keys (as the JS SDK does)", () => {
    const doc = parse("[a]\naws_session_token = tok\n  region = x\n  just text\n");
    expect(obj(doc.profile("a"))).toEqual({ aws_session_token: "tok", region: "x" });
    expect(doc.bodyLines("a")).toEqual(["aws_session_token = tok", "  region = x", "  just text"]);
  });

  it("merges duplicate sections with the later value winning", () => {
    const doc = parse("[w]\nk = 1\nj = 1\n[x]\nk = 9\n[w]\nk = 2\n");
    expect(obj(doc.profile("w"))).toEqual({ k: "2", j: "1" });
    expect(doc.profileNames()).toEqual(["w", "x"]);
    expect(doc.sectionsNamed("w")).toHaveLength(2);
  });

  it("ignores text before the first section", () => {
    const doc = parse("stray = 1\njunk\n[a]\nk = v\n");
    expect(doc.profileNames()).toEqual(["a"]);
    expect(obj(doc.profile("a"))).toEqual({ k: "v" });
  });

  it("keeps section names verbatim: [profile x] is not x, indented and commented headers count", () => {
    const doc = parse("[profile x]\nk = 1\n  [ y ]  # c\nk = 2\n[Work]\nk = 3\n");
    expect(doc.profileNames()).toEqual(["profile x", " y ", "Work"]);
    expect(doc.has("x")).toBe(false);
    expect(doc.has("work")).toBe(false);
    expect(doc.get("profile x", "k")).toBe("1");
  });

  it("reads what the AWS SDK's own parser reads (key names in lower case), on tricky files", async () => {
    const files = [
      "[default]\naws_access_key_id = AKIADEFAULT # c\naws_secret_access_key=secret;notcomment\n",
      "[Work]\nk = 1\n[other]\nk=2\n[Work]\nk = 3\nj = 4\n",
      "\uFEFF[default]\r\nk = v\r\n",
      "[a]\r\nk = 1\n[b]\rk = 2\n",
      "pre = 1\n[a]\ns3 =\n  max = 1\n  # c\n  q = 2\nregion = r\n  foo = 3\n",
      "[a]\n  indented = 1\n\tk\t=\tv\t\n; c\n  # c\nx ;= 1\ny =#z\n",
      "[a] # comment\nk = 1\n [b] \nk = 2\n[c];x\nk=3\n",
      "[a]\nk: colon\n=x\n==\n k = a=b\nemptyish =   \n  sub = 1\n",
      "[a]\nAWS_SECRET_ACCESS_KEY = upper\naws_secret_access_key = lower\n",
      "[a]\nk = [x]\n[b]=[c]\nk = 2\n",
      "[a]\nk = v\r",
      "[profile x]\nk = 1\n[foo bar]\nk = 2\n[z]\nk = 3\n",
    ];
    for (const text of files) {
      const doc = parse(text);
      const sdk = await sdkParseCredentials(text);
      for (const name of doc.profileNames().filter(sdkKeepsNameVerbatim)) {
        expect(agreesUpToCase(doc.profile(name), sdk[name]), `${JSON.stringify(text)} [${name}]`).toBe(true);
      }
      // Every profile the SDK sees is a section here too (`profile x` is the SDK's `profile.x`).
      for (const name of Object.keys(sdk)) {
        const verbatim = name.replace(/^(profile|sso-session|services)\./, "$1 ");
        expect(doc.has(name) || doc.has(verbatim), `${JSON.stringify(text)} [${name}]`).toBe(true);
      }
    }
  });
});

describe("set", () => {
  it("replaces the value of an upper-case key line and keeps its spelling", () => {
    const doc = parse("[a]\nAWS_ACCESS_KEY_ID = AKIAOLD\nAWS_SECRET_ACCESS_KEY=old\n");
    doc.set("a", "aws_access_key_id", "AKIANEW");
    doc.set("a", "aws_secret_access_key", "new");
    expect(doc.toString()).toBe("[a]\nAWS_ACCESS_KEY_ID = AKIANEW\nAWS_SECRET_ACCESS_KEY=new\n");
  });

  it("changes only the value characters of the line, keeping spacing and inline comment", () => {
    const text =
      "# head\n[a]\naws_access_key_id   =\tAKIAOLD   # rotated by hand\nk=v\n[b]\naws_access_key_id = AKIAB\n";
    const doc = parse(text);
    doc.set("a", "aws_access_key_id", "AKIANEW");
    expect(doc.toString()).toBe(
      "# head\n[a]\naws_access_key_id   =\tAKIANEW   # rotated by hand\nk=v\n[b]\naws_access_key_id = AKIAB\n",
    );
  });

  it("changes the last occurrence, so the merged value is the new one", () => {
    const doc = parse("[a]\nk = 1\n[b]\nk = 0\n[a]\nk = 2\nj = 1\n");
    doc.set("a", "k", "3");
    expect(doc.toString()).toBe("[a]\nk = 1\n[b]\nk = 0\n[a]\nk = 3\nj = 1\n");
    expect(doc.get("a", "k")).toBe("3");
  });

  it("inserts a missing key after the section's last setting, in the file's line endings", () => {
    const doc = parse("[a]\r\nk = 1\r\n\r\n# about b\r\n[b]\r\nk = 2\r\n");
    doc.set("a", "aws_session_token", "tok");
    expect(doc.toString()).toBe(
      "[a]\r\nk = 1\r\naws_session_token = tok\r\n\r\n# about b\r\n[b]\r\nk = 2\r\n",
    );
  });

  it("inserts into a file without a final newline, which then still ends bare", () => {
    const doc = parse("[a]\nk = 1");
    doc.set("a", "j", "2");
    expect(doc.toString()).toBe("[a]\nk = 1\nj = 2");
  });

  it("closes an open sub-setting block by inserting unindented", () => {
    const doc = parse("[a]\ns3 =\n  max = 1\n");
    doc.set("a", "region", "r");
    expect(obj(doc.profile("a"))).toEqual({ "s3.max": "1", region: "r" });
  });

  it("refuses values that would read back differently, and unknown sections", () => {
    const doc = parse("[a]\nk = 1\n");
    for (const bad of ["", " x", "x ", "a #b", "a\nb", "#x", ";x"]) {
      expect(() => doc.set("a", "k", bad), JSON.stringify(bad)).toThrow();
    }
    expect(() => doc.set("zz", "k", "v")).toThrow();
    expect(doc.toString()).toBe("[a]\nk = 1\n");
  });
});

describe("sections", () => {
  it("appends a new <p>-previous at the end with a blank separator", () => {
    const text = "[p]\naws_access_key_id = AKIAOLD\naws_secret_access_key = old\n# trailing comment\n";
    const doc = parse(text);
    doc.putSection("p-previous", doc.bodyLines("p"));
    const out = doc.toString();
    expect(out).toBe(`${text}\n[p-previous]\naws_access_key_id = AKIAOLD\naws_secret_access_key = old\n`);
    expect(obj(parse(out).profile("p-previous"))).toEqual(obj(parse(out).profile("p")));
  });

  it("appends to a file without a final newline with the original bytes as a prefix and no final newline", () => {
    const text = "[p]\r\nk = 1";
    const doc = parse(text);
    doc.putSection("p-previous", ["k = 1"]);
    const out = doc.toString();
    expect(out.startsWith(text)).toBe(true);
    expect(out).toBe("[p]\r\nk = 1\r\n\r\n[p-previous]\r\nk = 1");
  });

  it("replaces the body of an existing section in place, keeping its comments and what follows", () => {
    const text = "[p-previous]\nk = 0\n; old note\nj = 0\n\n# keep me\n[p]\nk = 1\n";
    const doc = parse(text);
    doc.putSection("p-previous", ["k = 1"]);
    expect(doc.toString()).toBe("[p-previous]\n; old note\nk = 1\n\n# keep me\n[p]\nk = 1\n");
  });

  it("a comment line already in the new body is not kept twice", () => {
    const doc = parse("[p-previous]\n# keyctl: mark\nk = 0\n");
    doc.putSection("p-previous", ["# keyctl: mark", "k = 1"]);
    expect(doc.toString()).toBe("[p-previous]\n# keyctl: mark\nk = 1\n");
    expect(doc.commentLines("p-previous")).toEqual(["# keyctl: mark"]);
  });

  it("replacing the last section of a file without a final newline keeps it without one", () => {
    const doc = parse("[p]\nk = 1\n\n[p-previous]\nk = 0");
    doc.putSection("p-previous", ["k = 1", "j = 1"]);
    expect(doc.toString()).toBe("[p]\nk = 1\n\n[p-previous]\nk = 1\nj = 1");
    const emptied = parse("[p]\nk = 1\n\n[p-previous]\nk = 0");
    emptied.putSection("p-previous", []);
    expect(emptied.toString()).toBe("[p]\nk = 1\n\n[p-previous]");
  });

  it("refuses to put a section that appears twice", () => {
    const doc = parse("[x]\nk=1\n[x]\nk=2\n");
    expect(() => doc.putSection("x", ["k = 3"])).toThrow();
  });

  it("removes a section with its separator, leaving comments after it", () => {
    const doc = parse("[a]\nk = 1\n\n[p-previous]\nk = 0\n# after\n\n[b]\nk = 2\n");
    expect(doc.removeSection("p-previous")).toBe(true);
    expect(doc.toString()).toBe("[a]\nk = 1\n# after\n\n[b]\nk = 2\n");
    expect(doc.removeSection("nope")).toBe(false);
  });

  it("removing the last section of a file without a final newline keeps it without one", () => {
    const doc = parse("[a]\nk = 1\n\n[gone]\nk = 0");
    doc.removeSection("gone");
    expect(doc.toString()).toBe("[a]\nk = 1");
  });

  it("unset removes every occurrence of a key and nothing else", () => {
    const doc = parse("[a]\nk = 1\n# c\nj = 2\n[a]\nk = 3\n");
    expect(doc.unset("a", "k")).toBe(true);
    expect(doc.toString()).toBe("[a]\n# c\nj = 2\n[a]\n");
    expect(doc.unset("a", "k")).toBe(false);
  });
});
