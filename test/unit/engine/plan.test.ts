import { describe, expect, it } from "vitest";
import { planRotation, readTarget, rotationEdit } from "../../../src/engine/plan.js";
import type { AccessKey } from "../../../src/engine/ports.js";
import { KeyctlError } from "../../../src/errors.js";
import { CredentialsDocument } from "../../../src/ini/document.js";

const day = (n: number) => new Date(Date.UTC(2026, 0, n));
const key = (id: string, created: number, status: AccessKey["status"] = "Active"): AccessKey => ({
  accessKeyId: id,
  status,
  createDate: day(created),
});

function file(text: string) {
  return CredentialsDocument.parse(text);
}

const BASE = "[dev]\naws_access_key_id = AKIAOLD\naws_secret_access_key = s1\nregion = eu-west-1\n";

describe("readTarget", () => {
  it("refuses temporary credentials, missing keys, duplicate sections and unknown profiles", () => {
    expect(() =>
      readTarget(file("[t]\naws_access_key_id = ASIAX\naws_secret_access_key = s\n"), "t", "F"),
    ).toThrow(/temporary credentials/);
    expect(() =>
      readTarget(
        file("[t]\naws_access_key_id = AKIAX\naws_secret_access_key = s\naws_session_token = z\n"),
        "t",
        "F",
      ),
    ).toThrow(/temporary credentials/);
    expect(() => readTarget(file("[t]\nregion = x\n"), "t", "F")).toThrow(/no aws_access_key_id/);
    expect(() => readTarget(file(`${BASE}${BASE}`), "dev", "F")).toThrow(/more than once/);
    expect(() => readTarget(file(BASE), "nope", "F")).toThrow(/not in F/);
  });

  it("a key written `name : value` (the AWS CLI reads it, the SDKs do not) is named with the fix", () => {
    const colon =
      "[t]\naws_access_key_id : AKIAIOSFODNN7EXAMPLE\naws_secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n";
    expect(() => readTarget(file(colon), "t", "F")).toThrow(
      /Profile t in F writes aws_access_key_id and aws_secret_access_key with ':'.*write them as 'name = value'/,
    );
    expect(() => readTarget(file("[t]\nregion = x\n"), "t", "F")).not.toThrow(/with ':'/);
  });

  it("a key set twice in the profile (the AWS CLI refuses the file) is refused, naming the key", () => {
    const twice = `[t]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\nAWS_ACCESS_KEY_ID = AKIAI44QH8DHBEXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n`;
    expect(() => readTarget(file(twice), "t", "F")).toThrow(
      /Profile t in F sets aws_access_key_id more than once \(the AWS CLI refuses such a file\); keep one/,
    );
    expect(readTarget(file(BASE), "dev", "F").key.accessKeyId).toBe("AKIAOLD");
  });

  it("an indented key line that the AWS CLI reads as part of the line above is refused", () => {
    const id = "aws_access_key_id = AKIAIOSFODNN7EXAMPLE";
    const secret = "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    expect(() => readTarget(file(`[t]\n${id}\n    ${secret}\n`), "t", "F")).toThrow(
      /Profile t in F: the AWS CLI reads the indented line of aws_secret_access_key as part of the line above; remove its indentation, then run again/,
    );
    // Indented alike, or only the first line indented: separate settings for the AWS CLI too.
    for (const ok of [
      `[t]\n  ${id}\n  ${secret}\n`,
      `[t]\n\t${id}\n${secret}\n`,
      `[t]\n${id}\n# note\n${secret}\n`,
    ])
      expect(readTarget(file(ok), "t", "F").key.accessKeyId).toBe("AKIAIOSFODNN7EXAMPLE");
  });

  it("-t d3 where the credentials file has [profile d3] says how the section must be named", () => {
    const text =
      "[profile d3]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n";
    expect(() => readTarget(file(text), "d3", "F")).toThrow(
      /Profile d3 is not in F: the file has \[profile d3\], which the AWS CLI does not read as d3 in a credentials file; rename it \[d3\] and run again/,
    );
    expect(() => readTarget(file(text), "d4", "F")).toThrow(/^Profile d4 is not in F; see keyctl --list\.$/);
  });

  it("finds the -previous key and the profiles sharing the key", () => {
    const t = readTarget(
      file(
        `${BASE}[dev-previous]\naws_access_key_id = AKIAPREV\n[ci]\naws_access_key_id = AKIAOLD\naws_secret_access_key = s1\n`,
      ),
      "dev",
      "F",
    );
    expect(t.previousKeyId).toBe("AKIAPREV");
    expect(t.sharedWith).toEqual(["ci"]);
    expect(t.key).toEqual({ accessKeyId: "AKIAOLD", secretAccessKey: "s1" });
  });
});

describe("planRotation at IAM's 2-key limit", () => {
  const plan = (text: string, keys: AccessKey[], authKeyId?: string) =>
    planRotation({
      target: readTarget(file(text), "dev", "F"),
      userName: "dev",
      account: "1",
      keys,
      oldKeyPolicy: "keep",
      ...(authKeyId ? { authKeyId } : {}),
    });

  it("needs nothing deleted below the limit", () => {
    expect(plan(BASE, [key("AKIAOLD", 1)]).deleteFirst).toBeUndefined();
  });

  it("deletes the -previous key without asking", () => {
    const p = plan(`${BASE}[dev-previous]\naws_access_key_id = AKIAPREV\n`, [
      key("AKIAPREV", 1),
      key("AKIAOLD", 2),
    ]);
    expect(p.deleteFirst).toMatchObject({ key: { accessKeyId: "AKIAPREV" }, reason: "previous" });
  });

  it("keeps the -previous key when another profile still signs with it", () => {
    const text = `${BASE}[dev-previous]\naws_access_key_id = AKIAPREV\n[ci]\naws_access_key_id = AKIAPREV\naws_secret_access_key = s\n`;
    expect(() => plan(text, [key("AKIAPREV", 1), key("AKIAOLD", 2)])).toThrow(/used by profile ci/);
  });

  it("never picks the key in use, even when it is the oldest", () => {
    const p = plan(BASE, [key("AKIAOLD", 1), key("AKIANEWER", 5)]);
    expect(p.deleteFirst).toMatchObject({ key: { accessKeyId: "AKIANEWER" }, reason: "other" });
  });

  it("refuses when the other key signs as the auth profile", () => {
    expect(() => plan(BASE, [key("AKIAOLD", 1), key("AKIAAUTH", 2)], "AKIAAUTH")).toThrow(/both are in use/);
  });

  it("refuses when another profile of the file holds the other key", () => {
    const text = `${BASE}[laptop2]\naws_access_key_id = AKIAOTHER\naws_secret_access_key = s\n`;
    expect(() => plan(text, [key("AKIAOLD", 1), key("AKIAOTHER", 2)])).toThrow(/used by profile laptop2/);
  });

  it("refuses a key IAM does not list for the user", () => {
    expect(() => plan(BASE, [key("AKIASOMETHINGELSE", 1)])).toThrow(KeyctlError);
  });
});

describe("rotationEdit", () => {
  const newKey = { accessKeyId: "AKIANEW", secretAccessKey: "s2" };

  it("moves the old settings to -previous and changes only the two values", () => {
    const doc = file(`# top\n${BASE}\n; tail\n[ci]\naws_access_key_id=AKIAOLD\naws_secret_access_key=s1\n`);
    const updated = rotationEdit("dev", "AKIAOLD", newKey, ["ci"])(doc);
    expect(updated).toEqual(["ci"]);
    expect(doc.toString()).toBe(
      "# top\n[dev]\naws_access_key_id = AKIANEW\naws_secret_access_key = s2\nregion = eu-west-1\n\n; tail\n[ci]\naws_access_key_id=AKIANEW\naws_secret_access_key=s2\n\n[dev-previous]\n# keyctl: previous key of [dev]\naws_access_key_id = AKIAOLD\naws_secret_access_key = s1\nregion = eu-west-1\n",
    );
  });

  it("refuses when the profile's key changed since the plan", () => {
    const doc = file(BASE.replace("AKIAOLD", "AKIASOMEONEELSE"));
    expect(() => rotationEdit("dev", "AKIAOLD", newKey, [])(doc)).toThrow(/changed while keyctl/);
  });

  it("replaces an existing -previous in place", () => {
    const doc = file(
      `${BASE}\n[dev-previous]\naws_access_key_id = AKIAPREV\naws_secret_access_key = s0\n\n# after\n`,
    );
    rotationEdit("dev", "AKIAOLD", newKey, [])(doc);
    expect(doc.get("dev-previous", "aws_access_key_id")).toBe("AKIAOLD");
    expect(doc.toString().endsWith("region = eu-west-1\n\n# after\n")).toBe(true);
  });
});

describe("planRotation keeps the last proven key and keys used elsewhere on this machine", () => {
  const PREV = `${BASE}[dev-previous]\naws_access_key_id = AKIAPREV\naws_secret_access_key = s0\n`;
  const keys = [key("AKIAPREV", 1), key("AKIAOLD", 2)];

  it("never makes room with the -previous key while the current key has not been seen working", () => {
    const run = () =>
      planRotation({
        target: readTarget(file(PREV), "dev", "F"),
        userName: "dev",
        account: "1",
        keys,
        oldKeyPolicy: "keep",
        currentKeyProven: false,
      });
    expect(run).toThrow(/has not been seen working.*changed nothing/);
    try {
      run();
    } catch (err) {
      expect((err as KeyctlError).exitCode).toBe(3);
    }
    const proven = planRotation({
      target: readTarget(file(PREV), "dev", "F"),
      userName: "dev",
      account: "1",
      keys,
      oldKeyPolicy: "keep",
      currentKeyProven: true,
    });
    expect(proven.deleteFirst).toEqual({ key: keys[0], reason: "previous" });
  });

  it("never chooses a key a profile of the AWS config file holds", () => {
    expect(() =>
      planRotation({
        target: readTarget(file(BASE), "dev", "F"),
        userName: "dev",
        account: "1",
        keys: [key("AKIACONF", 1), key("AKIAOLD", 2)],
        oldKeyPolicy: "keep",
        inUseElsewhere: new Map([["AKIACONF", ["profile ci of the AWS config file"]]]),
      }),
    ).toThrow(/AKIACONF\) is used by profile ci of the AWS config file/);
  });
});
