import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CredentialsDocument, type Flavour } from "../../../src/ini/document.js";
import { ProfileScan } from "../../../src/ini/scan.js";
import { credentialsFile, structuralNoise } from "../../helpers/credentials-arbitrary.js";

const KEYS = new Set(["aws_access_key_id", "aws_secret_access_key", "aws_session_token", "region", "s3"]);

function expectSameReading(text: string, flavour: Flavour) {
  const doc = CredentialsDocument.parse(text, flavour);
  const scan = new ProfileScan(text, flavour, KEYS);
  expect(scan.profileNames()).toEqual(doc.profileNames());
  for (const name of doc.profileNames()) {
    const wanted = [...(doc.profile(name) ?? [])].filter(([k]) => KEYS.has(k));
    expect([...(scan.profile(name) ?? [])].sort(), name).toEqual(wanted.sort());
  }
}

describe("the listing's read-only scan", () => {
  it("reads the same profiles and settings as the editable document, in both flavours", () => {
    fc.assert(
      fc.property(
        fc.oneof(credentialsFile, structuralNoise),
        fc.constantFrom<Flavour>("credentials", "config"),
        (text, flavour) => expectSameReading(text, flavour),
      ),
      { numRuns: 5000 },
    );
  });

  it("agrees on the corners: a BOM, CRLF, a lone CR, sub-settings, upper-case keys, config sections", () => {
    for (const text of [
      "\uFEFF[a]\r\naws_access_key_id = AKIA1\r\n",
      "[a]\nk = v\r",
      "[a]\r\nAWS_ACCESS_KEY_ID=AKIA1 # c\n[b]\rk = 2\n",
      "[a]\ns3 =\n  aws_access_key_id = nested\nregion = r\n  aws_access_key_id = top\n",
      "[profile x]\naws_access_key_id = AKIA1\n[sso-session s]\naws_access_key_id = no\n[default]\nregion = r\n",
    ]) {
      expectSameReading(text, "credentials");
      expectSameReading(text, "config");
    }
  });
});
