import { describe, expect, it } from "vitest";
import { CredentialsDocument } from "../../src/ini/document.js";
import { configKeyHolders, isKeyctlCopy, keyHolders, listProfiles } from "../../src/profiles.js";

describe("configKeyHolders", () => {
  it("reads [default] and [profile x] of the config file, setting names in any case", () => {
    const doc = CredentialsDocument.parse(
      "[default]\naws_access_key_id = AKIADEFAULT\n[profile ci]\nAWS_Access_Key_ID = AKIACI\n[sso-session corp]\naws_access_key_id = AKIANOTAPROFILE\n[profile sso]\nsso_session = corp\n",
    );
    expect(Object.fromEntries(configKeyHolders(doc))).toEqual({
      AKIADEFAULT: ["profile default of the AWS config file"],
      AKIACI: ["profile ci of the AWS config file"],
    });
  });
});

describe("isKeyctlCopy and listProfiles (the offline rule)", () => {
  it("hides only a -previous section whose base exists and that carries keyctl's marker", () => {
    const doc = CredentialsDocument.parse(
      [
        "[dev]\naws_access_key_id = AKIADEV\naws_secret_access_key = s\n",
        "[dev-previous]\n# keyctl: previous key of [dev]\naws_access_key_id = AKIAOLD\naws_secret_access_key = s\n",
        "[foo]\naws_access_key_id = AKIAFOO\naws_secret_access_key = s\n",
        "[foo-previous]\naws_access_key_id = AKIABOB\naws_secret_access_key = s\n",
        "[gone-previous]\n# keyctl: previous key of [gone]\naws_access_key_id = AKIAX\naws_secret_access_key = s\n",
      ].join(""),
    );
    expect(isKeyctlCopy(doc, "dev-previous")).toBe(true);
    expect(isKeyctlCopy(doc, "foo-previous")).toBe(false);
    expect(isKeyctlCopy(doc, "gone-previous")).toBe(false);
    expect(listProfiles(doc).map((p) => p.name)).toEqual(["dev", "foo", "foo-previous", "gone-previous"]);
  });
});

describe("keyHolders", () => {
  it("follows the document's edits: a look-up made before an edit is not served after it", () => {
    const doc = CredentialsDocument.parse(
      "[a]\naws_access_key_id = AKIAONE\n[b]\naws_access_key_id = AKIAONE\n[b-previous]\n# keyctl: previous key of [b]\naws_access_key_id = AKIAOLD\n",
    );
    expect(Object.fromEntries(keyHolders(doc))).toEqual({ AKIAONE: ["a", "b"] });
    expect(Object.fromEntries(keyHolders(doc, { withPrevious: true }))).toEqual({
      AKIAONE: ["a", "b"],
      AKIAOLD: ["b-previous"],
    });
    const copy = doc.clone();
    copy.set("b", "aws_access_key_id", "AKIATWO");
    expect(Object.fromEntries(keyHolders(copy))).toEqual({ AKIAONE: ["a"], AKIATWO: ["b"] });
    // The document it was cloned from still reads as its own text, until it is edited itself.
    expect(Object.fromEntries(keyHolders(doc))).toEqual({ AKIAONE: ["a", "b"] });
    doc.set("a", "aws_access_key_id", "AKIATHREE");
    expect(Object.fromEntries(keyHolders(doc))).toEqual({ AKIATHREE: ["a"], AKIAONE: ["b"] });
  });
});
