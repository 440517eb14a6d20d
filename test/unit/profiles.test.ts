import { describe, expect, it } from "vitest";
import { CredentialsDocument } from "../../src/ini/document.js";
import { configKeyHolders, isKeyctlCopy, listProfiles } from "../../src/profiles.js";

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
