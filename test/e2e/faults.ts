// The scenario the fault-matrix files share: IAM users admin and alice, a commented credentials file.
import { writeFile } from "node:fs/promises";
import { expect } from "vitest";
import type { AccessKeyPair } from "../harness/fixtures.js";
import type { FaultKind } from "../harness/proxy.js";
import { type CliRun, makeHome, profileText, runCli } from "./cli.js";
import {
  type Before,
  createUsers,
  expectOneProblemLine,
  expectSafeOutcome,
  type Outcome,
  snapshot,
  type World,
} from "./world.js";

export const FAULTS: readonly FaultKind[] = ["throttle", "500", "accessDenied", "drop"];

export interface Scenario {
  home: string;
  /** `-c PATH` when the file is not ~/.aws/credentials. */
  fileArgs: string[];
  credentials: string;
  admin: AccessKeyPair;
  /** The key [alice] holds. */
  alice: AccessKeyPair;
  /** With `previous`: the key [alice-previous] holds (alice then has 2 keys). */
  previous?: AccessKeyPair;
  before: Before;
}

export async function scenario(
  w: World,
  options: { previous?: boolean; credentialsPath?: string } = {},
): Promise<Scenario> {
  const { admin, alice: first } = await createUsers(w.fx, { admin: "admin", alice: "self" });
  let alice = first;
  let previous: AccessKeyPair | undefined;
  if (options.previous) {
    previous = first;
    alice = await w.fx.createKey("alice");
  }
  const text = [
    "# keys of the team\n",
    profileText("admin", admin),
    "\n; alice is rotated\n",
    profileText("alice", alice, "region = eu-west-1\n"),
    previous ? `\n${profileText("alice-previous", previous, "region = eu-west-1\n")}` : "",
    "\n[tools]\nregion = us-east-2\n",
  ].join("");
  const made = await makeHome(text);
  const credentials = options.credentialsPath ?? made.credentials;
  if (options.credentialsPath) await writeFile(credentials, text, { mode: 0o600 });
  const fileArgs = options.credentialsPath ? ["-c", credentials] : [];
  const before = await snapshot(w.fx, credentials, "alice", ["admin", "alice"]);
  return { home: made.home, fileArgs, credentials, admin, alice, ...(previous ? { previous } : {}), before };
}

export interface FaultRun {
  run: CliRun;
  outcome: Outcome;
}

/**
 * Runs keyctl with the faults in place, then (faults lifted) checks the safety contract and the
 * exit code. Exit 1 and 3 must come with one clear `keyctl:` line or one warning naming the problem.
 */
export async function runWithFaults(
  w: World,
  s: Scenario,
  args: readonly string[],
  expected: {
    exit: number | readonly number[];
    oldKeyRetired?: boolean;
    madeRoom?: string;
    /** Seconds; short by default so the "never works" cases end fast. */
    verifyTimeout?: number;
  },
): Promise<FaultRun> {
  const verify = String(expected.verifyTimeout ?? 2);
  const run = await runCli([...s.fileArgs, ...args, "--verify-timeout", verify], {
    home: s.home,
    endpoint: w.endpoint,
  });
  w.proxy.clearFaults();
  const allowed = typeof expected.exit === "number" ? [expected.exit] : expected.exit;
  expect(allowed, `exit ${run.status}\n${run.stderr}`).toContain(run.status);
  const outcome = await expectSafeOutcome(w, s.before, run, {
    users: ["admin", "alice"],
    ...(expected.oldKeyRetired ? { oldKeyRetired: true } : {}),
    ...(expected.madeRoom ? { madeRoom: expected.madeRoom } : {}),
  });
  if (run.status === 1) expectOneProblemLine(run);
  if (run.status === 3) {
    const problems = run.stderr.split("\n").filter((l) => /^(keyctl|warning):/.test(l));
    expect(problems, run.stderr).toHaveLength(1);
  }
  return { run, outcome };
}
