// Only an AWS call's failure is translated into advice; any other exception is a bug and says so,
// with exit 1 while nothing was changed and exit 3 once IAM or the file may have been.
import { describe, expect, it } from "vitest";
import { awsFailure } from "../../../src/engine/messages.js";
import { AwsCallError } from "../../../src/engine/ports.js";
import { KeyctlError } from "../../../src/errors.js";
import { noteChange } from "../../../src/util/changes.js";

describe("the error boundary", () => {
  it("translates an AwsCallError into what to do next", () => {
    const err = awsFailure(new AwsCallError("Throttling", "ListAccessKeys", "Rate exceeded"));
    expect(err.message).toMatch(/throttled ListAccessKeys.*run again/);
    expect(err.message).not.toMatch(/bug/);
    expect(err.exitCode).toBe(1);
  });

  it("passes a KeyctlError through unchanged", () => {
    const original = new KeyctlError("Profile x is not in the file.", 2);
    expect(awsFailure(original)).toBe(original);
  });

  it("reports any other exception as a bug: exit 1 before a change, exit 3 after one", () => {
    const before = awsFailure(new TypeError("Cannot read properties of undefined (reading 'x')"));
    expect(before.message).toMatch(
      /^unexpected error: Cannot read properties.*Nothing was changed.*report it/,
    );
    expect(before.exitCode).toBe(1);

    noteChange(); // e.g. CreateAccessKey was sent
    const after = awsFailure(new RangeError("Invalid time value"));
    expect(after.message).toMatch(/^unexpected error: Invalid time value.*already changed.*report it/);
    expect(after.message).not.toMatch(/Nothing was changed/);
    expect(after.exitCode).toBe(3);
  });
});
