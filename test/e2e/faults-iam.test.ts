// Fault matrix, IAM calls: ListAccessKeys, DeleteAccessKey at the limit, CreateAccessKey (before and
// after IAM acted), and the old-key policy (UpdateAccessKey / DeleteAccessKey). Each × throttling,
// HTTP 500, AccessDenied and a dropped connection, on every attempt the SDK makes.
import { describe, expect, it } from "vitest";
import { callerIdentity } from "../harness/fixtures.js";
import { runCli } from "./cli.js";
import { FAULTS, runWithFaults, scenario } from "./faults.js";
import { arnOf, keyIds, useWorld } from "./world.js";

const w = useWorld();
const forever = Number.POSITIVE_INFINITY;

describe("ListAccessKeys fails", () => {
  for (const fault of FAULTS) {
    it(`${fault}: exit 1, nothing changed`, async () => {
      const s = await scenario(w);
      w.proxy.inject({ action: "ListAccessKeys", fault, times: forever });
      const { run } = await runWithFaults(w, s, ["-t", "alice"], { exit: 1 });
      expect(run.stderr).toMatch(/ListAccessKeys/);
      expect(w.proxy.calls.some((c) => c.action === "CreateAccessKey")).toBe(false);
    });
  }
});

describe("DeleteAccessKey of the -previous key (2-key limit) fails", () => {
  for (const fault of FAULTS) {
    it(`${fault}: exit 1, nothing changed, no key created`, async () => {
      const s = await scenario(w, { previous: true });
      w.proxy.inject({ action: "DeleteAccessKey", fault, times: forever });
      const { run } = await runWithFaults(w, s, ["-t", "alice"], { exit: 1 });
      expect(run.stderr).toMatch(/DeleteAccessKey/);
      expect(await keyIds(w.fx, "alice")).toEqual(s.before.keys.alice);
      expect(w.proxy.calls.some((c) => c.action === "CreateAccessKey")).toBe(false);
    });
  }

  it("the answer to the deletion is lost (IAM did delete): the retry finds it gone and the rotation finishes", async () => {
    const s = await scenario(w, { previous: true });
    w.proxy.inject({ action: "DeleteAccessKey", fault: "drop", when: "after", times: 1 });
    const { run, outcome } = await runWithFaults(w, s, ["-t", "alice"], { exit: 0 });
    expect(outcome.file).toBe("new");
    expect(await keyIds(w.fx, "alice")).toEqual([s.alice.accessKeyId, outcome.newKey!.accessKeyId].sort());
    expect(run.stdout + run.stderr).toContain(s.previous!.accessKeyId);
  });
});

describe("CreateAccessKey fails", () => {
  for (const fault of FAULTS) {
    it(`${fault} before IAM acts: exit 1, nothing changed`, async () => {
      const s = await scenario(w);
      w.proxy.inject({ action: "CreateAccessKey", fault, times: forever });
      const { run } = await runWithFaults(w, s, ["-t", "alice"], { exit: 1 });
      expect(run.stderr).toMatch(/CreateAccessKey/);
      expect(w.proxy.calls.filter((c) => c.action === "CreateAccessKey" && c.upstreamStatus === 200)).toEqual(
        [],
      );
    });

    it(`${fault} after IAM created the key (the answer is lost): keyctl finds it and deletes it, exit 1`, async () => {
      const s = await scenario(w);
      w.proxy.inject({ action: "CreateAccessKey", fault, when: "after", times: forever });
      const { run } = await runWithFaults(w, s, ["-t", "alice"], { exit: 1 });
      const created = w.proxy.calls.filter((c) => c.action === "CreateAccessKey" && c.upstreamStatus === 200);
      expect(created.length).toBeGreaterThan(0);
      expect(await keyIds(w.fx, "alice")).toEqual([s.alice.accessKeyId]);
      expect(run.stderr).toMatch(/Deleted key AKIA\w+, created although/);
    });
  }

  it("the key was created, the answer lost, and IAM cannot be asked either: exit 3, the next plain run removes it", async () => {
    const s = await scenario(w);
    w.proxy.inject({ action: "CreateAccessKey", fault: "500", when: "after", times: 1 });
    // The first ListAccessKeys (planning) goes through; the check after the failed create does not.
    w.gate.inject({ action: "ListAccessKeys", fault: "500", skip: 1 });
    const run = await runCli(["-t", "alice", "--verify-timeout", "2"], {
      home: s.home,
      endpoint: w.endpoint,
    });
    w.gate.reset();
    expect(run.status, run.stderr).toBe(3);
    const stray = (await keyIds(w.fx, "alice")).filter((id) => id !== s.alice.accessKeyId);
    expect(stray, "IAM did create a key").toHaveLength(1);
    expect(run.stderr).toMatch(/keyctl -t alice/);
    expect(run.stderr).not.toMatch(/\n\s+at /);

    const rerun = await runCli(["-t", "alice"], { home: s.home, endpoint: w.endpoint });
    expect(rerun.status, rerun.stderr).toBe(0);
    expect(rerun.stderr).toContain(`Removed key ${stray[0]}`);
    const keys = await keyIds(w.fx, "alice");
    expect(keys).not.toContain(stray[0]);
    expect(keys).toContain(s.alice.accessKeyId);
  });
});

describe("at the 2-key limit, the -previous key went to make room and then the rotation fails", () => {
  for (const fault of FAULTS) {
    it(`CreateAccessKey ${fault}: exit 1, the profile and its key untouched, the message says which key went`, async () => {
      const s = await scenario(w, { previous: true });
      w.proxy.inject({ action: "CreateAccessKey", fault, times: forever });
      const { run } = await runWithFaults(w, s, ["-t", "alice"], {
        exit: 1,
        madeRoom: s.previous!.accessKeyId,
      });
      expect(await keyIds(w.fx, "alice")).toEqual([s.alice.accessKeyId]);
      expect(run.stderr).toMatch(/keyctl: .*alice is unchanged/);
    });
  }
});

describe("retiring the old key fails (--old-key deactivate|delete)", () => {
  for (const policy of ["deactivate", "delete"] as const) {
    const action = policy === "delete" ? "DeleteAccessKey" : "UpdateAccessKey";
    for (const fault of FAULTS) {
      it(`${action} ${fault}: exit 3, the new key is saved and works, the old one is kept and still works`, async () => {
        const s = await scenario(w);
        w.proxy.inject({ action, fault, times: forever });
        const { run, outcome } = await runWithFaults(w, s, ["-t", "alice", "--old-key", policy], { exit: 3 });
        expect(outcome.file).toBe("new");
        expect(await callerIdentity(w.proxy.url, outcome.newKey!)).toBe(arnOf("alice"));
        const old = (await w.fx.listKeys("alice")).find((k) => k.accessKeyId === s.alice.accessKeyId);
        expect(old?.status).toBe("Active");
        expect(run.stderr).toContain(
          policy === "delete"
            ? `aws iam delete-access-key --user-name alice --access-key-id ${s.alice.accessKeyId}`
            : `aws iam update-access-key --user-name alice --access-key-id ${s.alice.accessKeyId} --status Inactive`,
        );
      });
    }

    for (const mode of ["self", "admin"] as const) {
      it(`${action} done by IAM but the answer lost (${mode}): keyctl does not report a failure that did not happen`, async () => {
        const s = await scenario(w);
        w.proxy.inject({ action, fault: "drop", when: "after", times: 1 });
        const args = mode === "admin" ? ["-a", "admin", "-t", "alice"] : ["-t", "alice"];
        const { run, outcome } = await runWithFaults(w, s, [...args, "--old-key", policy], {
          exit: 0,
          oldKeyRetired: true,
        });
        expect(outcome.file).toBe("new");
        await expect(callerIdentity(w.proxy.url, s.alice)).rejects.toThrow(/security token/);
        expect(run.stdout).toMatch(policy === "delete" ? /deleted/ : /deactivated/);
      });
    }
  }
});
