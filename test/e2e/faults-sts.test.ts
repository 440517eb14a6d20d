// Fault matrix, STS GetCallerIdentity: the proof of the target key's owner (signed by the target
// key), the auth profile's identity (signed by the admin key) and the verification of the new key
// (signed by the new key), told apart by the key that signs them. Each × throttling, HTTP 500,
// AccessDenied and a dropped connection.
import { describe, expect, it } from "vitest";
import { callerIdentity } from "../harness/fixtures.js";
import type { FaultKind } from "../harness/proxy.js";
import { FAULTS, runWithFaults, type Scenario, scenario } from "./faults.js";
import { arnOf, keyIds, useWorld } from "./world.js";

const w = useWorld();
const TRANSIENT: readonly FaultKind[] = ["throttle", "500", "drop"];

/** Signed by neither the target's old key nor the admin key: the new key. */
const newKeyOf = (s: Scenario) => (id: string) => id !== s.alice.accessKeyId && id !== s.admin.accessKeyId;

describe("GetCallerIdentity signed by the target key (who owns it?)", () => {
  for (const mode of ["self", "admin"] as const) {
    const args = mode === "admin" ? ["-a", "admin", "-t", "alice"] : ["-t", "alice"];
    for (const fault of FAULTS) {
      // AccessDenied on the key's own STS call counts as "this key does not sign"; an admin may then
      // find the owner in IAM (ListAccessKeys shows the key) and finish; self-service cannot.
      const fallsBack = mode === "admin" && fault === "accessDenied";
      it(`${mode}, ${fault} on every attempt: ${fallsBack ? "the admin's view of IAM proves the owner" : "exit 1, nothing changed"}`, async () => {
        const s = await scenario(w);
        w.gate.inject({ action: "GetCallerIdentity", signer: s.alice.accessKeyId, fault });
        const { run, outcome } = await runWithFaults(w, s, args, { exit: fallsBack ? 0 : 1 });
        if (fallsBack) {
          expect(outcome.file).toBe("new");
          const list = w.proxy.calls.find((c) => c.action === "ListAccessKeys");
          expect(list?.accessKeyId).toBe(s.admin.accessKeyId);
          return;
        }
        expect(run.stderr).toMatch(/GetCallerIdentity|ListAccessKeys/);
        expect(w.proxy.calls.some((c) => c.action === "CreateAccessKey")).toBe(false);
      });
    }
    for (const fault of TRANSIENT) {
      it(`${mode}, one ${fault}: absorbed, the rotation completes`, async () => {
        const s = await scenario(w);
        w.gate.inject({ action: "GetCallerIdentity", signer: s.alice.accessKeyId, fault, times: 1 });
        const { outcome } = await runWithFaults(w, s, args, { exit: 0 });
        expect(outcome.file).toBe("new");
      });
    }
  }
});

describe("GetCallerIdentity signed by the admin key (the auth profile's account)", () => {
  for (const fault of FAULTS) {
    it(`${fault} on every attempt: exit 1, nothing changed`, async () => {
      const s = await scenario(w);
      w.gate.inject({ action: "GetCallerIdentity", signer: s.admin.accessKeyId, fault });
      const { run } = await runWithFaults(w, s, ["-a", "admin", "-t", "alice"], { exit: 1 });
      expect(run.stderr).toMatch(/GetCallerIdentity/);
      expect(w.proxy.calls.some((c) => c.action === "CreateAccessKey")).toBe(false);
    });
  }
  for (const fault of TRANSIENT) {
    it(`one ${fault}: absorbed, the rotation completes`, async () => {
      const s = await scenario(w);
      w.gate.inject({ action: "GetCallerIdentity", signer: s.admin.accessKeyId, fault, times: 1 });
      const { outcome } = await runWithFaults(w, s, ["-a", "admin", "-t", "alice"], { exit: 0 });
      expect(outcome.file).toBe("new");
    });
  }
});

describe("GetCallerIdentity signed by the new key (does it work?)", () => {
  for (const fault of FAULTS) {
    for (const policy of ["keep", "delete"] as const) {
      it(`${fault} until the bound, --old-key ${policy}: exit 3, new key saved, old key kept in -previous and working`, async () => {
        const s = await scenario(w);
        w.gate.inject({ action: "GetCallerIdentity", signer: newKeyOf(s), fault });
        const { run, outcome } = await runWithFaults(w, s, ["-t", "alice", "--old-key", policy], { exit: 3 });
        expect(outcome.file).toBe("new");
        expect(await keyIds(w.fx, "alice")).toContain(s.alice.accessKeyId);
        const retire = w.proxy.calls.filter(
          (c) =>
            ["DeleteAccessKey", "UpdateAccessKey"].includes(c.action) &&
            c.params.AccessKeyId === s.alice.accessKeyId,
        );
        expect(retire, "the old key is not touched before the new one is proven").toEqual([]);
        expect(run.stderr).toContain("alice-previous");
        expect(run.stderr).toMatch(/did not work within 2 s/);
        // Once the fault is gone, the saved new key is the real thing.
        expect(await callerIdentity(w.proxy.url, outcome.newKey!)).toBe(arnOf("alice"));
      });
    }
  }
  for (const fault of TRANSIENT) {
    it(`two ${fault}s: the verification retries and the rotation completes, old key deleted only after`, async () => {
      const s = await scenario(w);
      w.gate.inject({ action: "GetCallerIdentity", signer: newKeyOf(s), fault, times: 2 });
      // Room for two failed polls and their back-off even on a loaded machine.
      const { outcome } = await runWithFaults(w, s, ["-t", "alice", "--old-key", "delete"], {
        exit: 0,
        oldKeyRetired: true,
        verifyTimeout: 20,
      });
      expect(await keyIds(w.fx, "alice")).toEqual([outcome.newKey!.accessKeyId]);
      await expect(callerIdentity(w.proxy.url, s.alice)).rejects.toThrow(/security token/);
    });
  }
});
