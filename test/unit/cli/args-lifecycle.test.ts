import { describe, expect, it } from "vitest";
import { type CliInput, parseArgs } from "../../../src/cli/args.js";
import { UsageError } from "../../../src/errors.js";

function input(argv: string[]): CliInput {
  const parsed = parseArgs(argv);
  if (parsed.kind !== "run") throw new Error("expected a run");
  return parsed.input;
}

describe("lifecycle flags", () => {
  it("--finish-after alone retires without rotating; with --older-than or --old-key it rotates too", () => {
    expect(input(["-t", "dev", "--finish-after", "7"]).command).toBe("retire");
    expect(input(["--all", "--finish-after", "7"]).command).toBe("retire");
    expect(input(["--all", "--older-than", "90", "--finish-after", "7", "--yes"])).toMatchObject({
      command: "rotate",
      finishAfterDays: 7,
      olderThanDays: 90,
    });
    expect(input(["-t", "dev", "--old-key", "delete", "--finish-after", "3"]).command).toBe("rotate");
    expect(input(["--finish", "-t", "dev", "--finish-after", "3"]).command).toBe("finish");
  });

  it("refuses what cannot work, with a one-line hint", () => {
    for (const [argv, message] of [
      [["-t", "dev", "--finish-after", "0"], /at least 1/],
      [["-t", "dev", "--old-key", "keep", "--finish-after", "7"], /contradict/],
      [["-k", "-t", "dev", "--finish-after", "7"], /--finish-after goes with/],
      [["--finish", "-t", "dev", "--then", "true"], /--then goes with/],
      [["--handoff-only"], /needs the profile/],
      [["-t", "dev", "--every", "2"], /--every goes with --print-schedule/],
      [["-t", "dev", "--then", " "], /--then takes a command/],
    ] as const) {
      expect(() => parseArgs([...argv]), argv.join(" ")).toThrow(UsageError);
      expect(() => parseArgs([...argv])).toThrow(message);
    }
  });

  it("collects repeated --then in order, with the default timeout", () => {
    expect(input(["-t", "dev", "--then", "a", "--then", "b"])).toMatchObject({
      handOff: ["a", "b"],
      thenTimeoutMs: 300_000,
    });
    expect(input(["--handoff-only", "dev", "--then", "a", "--then-timeout", "5"])).toMatchObject({
      command: "handoff",
      targets: ["dev"],
      thenTimeoutMs: 5_000,
    });
  });
});
