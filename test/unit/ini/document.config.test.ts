import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CredentialsDocument, configProfileName } from "../../../src/ini/document.js";
import { credentialsFile } from "../../helpers/credentials-arbitrary.js";

const config = (text: string) => CredentialsDocument.parse(text, "config");
const obj = (m: Map<string, string> | undefined) => (m ? Object.fromEntries(m) : undefined);

const TEXT = [
  "# my config",
  "[default]",
  "region = eu-west-1",
  "",
  "[profile ops]",
  "AWS_ACCESS_KEY_ID = AKIAIOSFODNN7EXAMPLE",
  "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  "region = us-east-1",
  "",
  "[sso-session corp]",
  "sso_start_url = https://corp.awsapps.com/start",
  "",
  "[profile  spaced]",
  "output = json",
  '[profile "two words"]',
  "output = text",
  "[ops]",
  "aws_access_key_id = AKIANOTAPROFILE",
  "",
].join("\n");

describe("the config file's flavour", () => {
  it("names profiles as the AWS CLI does: [profile P] is P, [default] is default, other sections none", () => {
    const doc = config(TEXT);
    expect(doc.profileNames()).toEqual(["default", "ops", "spaced", "two words"]);
    expect(doc.get("ops", "aws_access_key_id")).toBe("AKIAIOSFODNN7EXAMPLE");
    expect(doc.has("corp")).toBe(false);
    expect(configProfileName("profile a b")).toBeUndefined();
    expect(configProfileName("sso-session corp")).toBeUndefined();
  });

  it("rotating a config profile edits [profile P] in place and appends [profile P-previous]", () => {
    const doc = config(TEXT);
    doc.putSection("ops-previous", doc.bodyLines("ops"));
    doc.set("ops", "aws_access_key_id", "AKIA2345ABCDEFGHIJKL");
    doc.set("ops", "aws_secret_access_key", "newSecretnewSecretnewSecretnewSecret1234");
    const out = doc.toString();
    const expected = TEXT.replace(
      "AWS_ACCESS_KEY_ID = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
      "AWS_ACCESS_KEY_ID = AKIA2345ABCDEFGHIJKL\naws_secret_access_key = newSecretnewSecretnewSecretnewSecret1234",
    );
    expect(out.startsWith(expected)).toBe(true);
    expect(out.slice(expected.length)).toBe(
      "\n[profile ops-previous]\nAWS_ACCESS_KEY_ID = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nregion = us-east-1\n",
    );
    // The section that is not a profile of the config file is untouched.
    expect(CredentialsDocument.parse(out).get("ops", "aws_access_key_id")).toBe("AKIANOTAPROFILE");
    expect(config(out).removeSection("ops-previous")).toBe(true);
  });

  it("a config profile reads as its section does in the plain reading, for any file", () => {
    fc.assert(
      fc.property(credentialsFile, (text) => {
        const flavoured = config(text);
        const plain = CredentialsDocument.parse(text);
        expect(flavoured.toString()).toBe(text);
        for (const section of plain.profileNames()) {
          const profile = configProfileName(section);
          if (profile === undefined) continue;
          if (plain.profileNames().filter((n) => configProfileName(n) === profile).length > 1) continue;
          expect(obj(flavoured.profile(profile)), section).toEqual(obj(plain.profile(section)));
        }
      }),
      { numRuns: 2000 },
    );
  });
});
