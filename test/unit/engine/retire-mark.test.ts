import { describe, expect, it } from "vitest";
import { deactivationMark } from "../../../src/engine/retire.js";
import { CredentialsDocument } from "../../../src/ini/document.js";

describe("deactivationMark", () => {
  it("reads the keyctl comment inside the -previous section only", () => {
    const doc = CredentialsDocument.parse(
      "# keyctl: deactivated 2026-01-01T00:00:00Z\r\n[dev]\r\naws_access_key_id = AKIANEW\r\n[dev-previous]\r\n# keyctl: deactivated 2026-12-02T10:00:00Z\r\naws_access_key_id = AKIAOLD\r\n",
    );
    expect(deactivationMark(doc, "dev-previous")?.toISOString()).toBe("2026-12-02T10:00:00.000Z");
    expect(deactivationMark(doc, "dev")).toBeUndefined();
  });

  it("ignores a mark that is not a time", () => {
    const doc = CredentialsDocument.parse(
      "[dev-previous]\n# keyctl: deactivated soon\naws_access_key_id = AKIAOLD\n",
    );
    expect(deactivationMark(doc, "dev-previous")).toBeUndefined();
  });
});
