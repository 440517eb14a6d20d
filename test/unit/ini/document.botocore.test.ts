import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { CredentialsDocument } from "../../../src/ini/document.js";
import { BotocoreReader, commonFile, flattened } from "../../helpers/botocore-ini.js";

const botocore = new BotocoreReader();
afterAll(() => botocore.close());

const lowerNested = (settings: Record<string, string>) =>
  Object.fromEntries(Object.entries(settings).map(([k, v]) => [k.toLowerCase(), v]));

describe("agrees with the AWS CLI's reader (botocore)", () => {
  it("reads upper- and mixed-case key names as the AWS CLI does", async () => {
    const text =
      "[work]\nAWS_ACCESS_KEY_ID = AKIAIOSFODNN7EXAMPLE\nAws_Secret_Access_Key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n";
    const doc = CredentialsDocument.parse(text);
    const aws = await botocore.read(text);
    expect(aws.ok && aws.profiles.work).toEqual({
      aws_access_key_id: "AKIAIOSFODNN7EXAMPLE",
      aws_secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    });
    expect(Object.fromEntries(doc.profile("work")!)).toEqual(aws.ok && aws.profiles.work);
    expect(doc.get("work", "aws_access_key_id")).toBe("AKIAIOSFODNN7EXAMPLE");
  });

  it("every profile and setting botocore reads, keyctl reads the same; botocore refuses only duplicates", async () => {
    await fc.assert(
      fc.asyncProperty(commonFile, async (text) => {
        const doc = CredentialsDocument.parse(text);
        const aws = await botocore.read(text);
        if (!aws.ok) {
          // The AWS CLI refuses a file with a section or a key (in any case) twice; keyctl reads it
          // with the later value winning, as the JS SDK does, and its checks refuse to edit such a profile.
          expect(["DuplicateSectionError", "DuplicateOptionError"]).toContain(aws.error);
          return;
        }
        expect(doc.profileNames()).toEqual(Object.keys(aws.profiles));
        for (const [name, section] of Object.entries(aws.profiles)) {
          expect(Object.fromEntries(doc.profile(name)!), name).toEqual(lowerNested(flattened(section)));
        }
      }),
      { numRuns: 1500 },
    );
  });

  it("a rotated key line keeps its spelling and botocore reads the new value", async () => {
    await fc.assert(
      fc.asyncProperty(commonFile, async (text) => {
        const before = await botocore.read(text);
        const doc = CredentialsDocument.parse(text);
        const name = doc.profileNames().find((n) => doc.get(n, "aws_access_key_id") !== undefined);
        fc.pre(before.ok && name !== undefined);
        doc.set(name!, "aws_access_key_id", "AKIA2345ABCDEFGHIJKL");
        const out = doc.toString();
        const after = await botocore.read(out);
        expect(after.ok && after.profiles[name!]?.aws_access_key_id).toBe("AKIA2345ABCDEFGHIJKL");
        const spelled = (t: string) => t.match(/^aws_access_key_id(?=\s*=)/gim);
        expect(spelled(out)).toEqual(spelled(text));
      }),
      { numRuns: 200 },
    );
  });
});
