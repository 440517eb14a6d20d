// Small corners of the command line a user runs into.
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { makeHome, profileText, runCli } from "./cli.js";
import { useWorld } from "./world.js";

const w = useWorld();

const errorLines = (stderr: string) => stderr.split("\n").filter((l) => l.startsWith("keyctl:"));

describe("command-line corners", () => {
  it("keyctl alice -t admin is refused with one line saying which form to use, before any call", async () => {
    const alice = await w.fx.createUserWithKey("alice");
    const admin = await w.fx.createUserWithKey("admin", { policy: "admin" });
    const { home, credentials } = await makeHome(
      `${profileText("alice", alice)}\n${profileText("admin", admin)}`,
    );
    const before = await readFile(credentials, "utf8");
    const run = await runCli(["alice", "-t", "admin"], { home, endpoint: w.endpoint });
    expect(run.status).toBe(2);
    const errors = errorLines(run.stderr);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain("keyctl -a admin -t alice");
    expect(await readFile(credentials, "utf8")).toBe(before);
    expect(w.proxy.calls).toHaveLength(0);

    // The argument alone still names the target.
    const alone = await runCli(["alice", "--dry-run"], { home, endpoint: w.endpoint });
    expect(alone.status, alone.stderr).toBe(0);
    expect(alone.stdout).toMatch(/Plan for profile alice/);
  });

  it("--all on a file with nothing to rotate exits 0 with a one-line note; --json gives an empty summary", async () => {
    const { home } = await makeHome(
      "[sso]\nregion = eu-west-1\n\n[temp]\naws_access_key_id = ASIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\naws_session_token = FQoGZXIvYXdzEXAMPLE\n",
    );
    const run = await runCli(["--all", "--yes"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr.trim().split("\n")).toEqual([expect.stringMatching(/nothing to rotate/)]);
    expect(run.stdout).toBe("");
    const json = await runCli(["--all", "--yes", "--json"], { home, endpoint: w.endpoint });
    expect(json.status, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ results: [], summary: { total: 0 } });
    expect(w.proxy.calls).toHaveLength(0);
  });
});
