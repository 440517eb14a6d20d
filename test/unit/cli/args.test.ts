import { describe, expect, it } from "vitest";
import { parseArgs } from "../../../src/cli/args.js";
import { UsageError } from "../../../src/errors.js";

function refusal(argv: string[]): string {
  try {
    parseArgs(argv);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error(`accepted: ${argv.join(" ")}`);
}

function command(argv: string[]): string {
  const parsed = parseArgs(argv);
  if (parsed.kind !== "run") throw new Error("exited");
  return parsed.input.command;
}

describe("flags that do not apply to the chosen command", () => {
  it("-l with rotation flags is refused in one line naming the first flag and where it belongs", () => {
    const message = refusal(["-l", "--old-key", "delete", "--yes", "--user", "x", "--keep-backups", "1"]);
    expect(message).not.toContain("\n");
    expect(message).toMatch(/^--old-key belongs to a rotation, not to --list;/);
  });

  it("each flag is refused where it means nothing and accepted where it does", () => {
    expect(refusal(["-l", "--yes"])).toMatch(
      /^--yes belongs to a rotation, --finish and --restore, not to --list/,
    );
    expect(refusal(["-k", "-t", "dev", "--old-key", "delete"])).toMatch(/--old-key .*not to --list-keys/);
    expect(refusal(["--restore", "--user", "x"])).toMatch(/--user .*not to --restore/);
    expect(refusal(["--list-all-keys", "-a", "admin", "--user", "x"])).toMatch(
      /--user .*not to --list-all-keys/,
    );
    expect(refusal(["--finish", "-t", "dev", "--verify-timeout", "5"])).toMatch(
      /--verify-timeout belongs to a rotation/,
    );
    expect(refusal(["-l", "dev"])).toMatch(/--list takes no profile/);
    expect(command(["-t", "dev", "--old-key", "delete", "--yes", "--user", "x", "--keep-backups", "1"])).toBe(
      "rotate",
    );
    expect(command(["-k", "-t", "dev", "--user", "x", "--older-than", "3"])).toBe("list-keys");
    expect(command(["--restore", "--yes", "--keep-backups", "2", "--dry-run"])).toBe("restore");
    expect(command(["--finish", "-t", "dev", "--yes", "--concurrency", "2"])).toBe("finish");
    expect(command(["-l", "--json", "-c", "/tmp/x"])).toBe("list");
  });
});

describe("a value that starts with a dash", () => {
  it("--older-than -5 gives one line about the number, not the parser's three", () => {
    const message = refusal(["--all", "--older-than", "-5"]);
    expect(message).toBe("--older-than takes a whole number of at least 0, not '-5'.");
  });

  it("a string option followed by an option-like word names it and the way to pass it", () => {
    const message = refusal(["-c", "-x", "-l"]);
    expect(message).not.toContain("\n");
    expect(message).toMatch(
      /^--credentials needs a value, and '-x' looks like an option; write --credentials=-x/,
    );
  });

  it("an unknown option is still one line", () => {
    const message = refusal(["--bogus"]);
    expect(message).not.toContain("\n");
    expect(message).toMatch(/--bogus.*see keyctl --help/);
  });
});
