// --json: exactly one JSON document on stdout on every exit path, early failures included; the
// message still goes to stderr.
import { describe, expect, it } from "vitest";
import { makeHome, profileText, runCli } from "./cli.js";
import { createUsers, useWorld } from "./world.js";

const w = useWorld();

function oneDocument(stdout: string): { status: string; exitCode: number; error: string } {
  // JSON.parse refuses two documents in a row as it refuses none.
  return JSON.parse(stdout) as { status: string; exitCode: number; error: string };
}

describe("--json on early failures", () => {
  it("a missing credentials file, an unknown profile and usage errors each print one document", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const { home } = await makeHome(profileText("alice", alice));
    const cases: [string[], number, RegExp][] = [
      [["-c", "/nonexistent/credentials", "-t", "alice", "--json"], 1, /nonexistent/],
      [["-t", "nobody", "--json"], 1, /Profile nobody is not in/],
      [["--list", "-c", "/nonexistent/credentials", "--json"], 1, /nonexistent/],
      [["-t", "alice", "--old-key", "shred", "--json"], 2, /--old-key takes keep, deactivate or delete/],
      [["--json", "--no-such-flag"], 2, /no-such-flag/],
    ];
    for (const [args, exit, message] of cases) {
      const run = await runCli(args, { home, endpoint: w.endpoint });
      const where = `${args.join(" ")}: ${run.stderr}`;
      expect(run.status, where).toBe(exit);
      const doc = oneDocument(run.stdout);
      expect(doc, where).toMatchObject({ status: "failed", exitCode: exit });
      expect(doc.error, where).toMatch(message);
      expect(run.stderr, where).toMatch(message);
    }
  });

  it("a failure the command already reported in JSON is not reported twice", async () => {
    const { alice } = await createUsers(w.fx, { alice: "self" });
    const { home } = await makeHome(profileText("alice", alice));
    w.gate.inject({ action: "ListAccessKeys", fault: "accessDenied" });
    const run = await runCli(["-t", "alice", "--json"], { home, endpoint: w.endpoint });
    expect(run.status).toBe(1);
    expect(oneDocument(run.stdout)).toMatchObject({ profile: "alice", status: "failed" });
  });
});
