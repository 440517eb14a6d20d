import { describe, expect, it } from "vitest";
import { CredentialsDocument } from "../../src/ini/document.js";
import { configKeyHolders } from "../../src/profiles.js";

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
