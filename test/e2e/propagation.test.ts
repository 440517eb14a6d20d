// IAM's eventual consistency: a new key is refused (InvalidClientTokenId) for a while after its
// creation. keyctl waits for it, bounded by --verify-timeout, and never retires the old key first.
import { describe, expect, it } from "vitest";
import { callerIdentity } from "../harness/fixtures.js";
import { runCli } from "./cli.js";
import { scenario } from "./faults.js";
import { arnOf, expectSafeOutcome, keyIds, useWorld } from "./world.js";

const w = useWorld();

describe("a new key that takes a few seconds to work", () => {
  it("the rotation waits for it and succeeds", async () => {
    const s = await scenario(w);
    w.proxy.setPropagationDelay(3000);
    const started = Date.now();
    const run = await runCli(["-t", "alice", "--json"], { home: s.home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
    const doc = JSON.parse(run.stdout) as { status: string; verifiedAfterMs: number; newKeyId: string };
    expect(doc.status).toBe("done");
    expect(doc.verifiedAfterMs).toBeGreaterThanOrEqual(2500);
    const refused = w.proxy.calls.filter(
      (c) => c.accessKeyId === doc.newKeyId && c.injected === "propagating",
    );
    expect(refused.length, "the new key was refused at first").toBeGreaterThan(0);
    const outcome = await expectSafeOutcome(w, s.before, run, { users: ["admin", "alice"] });
    expect(outcome.newKey?.accessKeyId).toBe(doc.newKeyId);
  });

  it("with --old-key delete, the old key is deleted only after the new one answered", async () => {
    const s = await scenario(w);
    w.proxy.setPropagationDelay(3000);
    const run = await runCli(["-a", "admin", "-t", "alice", "--old-key", "delete"], {
      home: s.home,
      endpoint: w.endpoint,
    });
    expect(run.status, run.stderr).toBe(0);
    const outcome = await expectSafeOutcome(w, s.before, run, {
      users: ["admin", "alice"],
      oldKeyRetired: true,
    });
    const newId = outcome.newKey!.accessKeyId;
    const firstSuccess = w.proxy.calls.find(
      (c) => c.action === "GetCallerIdentity" && c.accessKeyId === newId && c.status === 200,
    );
    const deletion = w.proxy.calls.find(
      (c) => c.action === "DeleteAccessKey" && c.params.AccessKeyId === s.alice.accessKeyId,
    );
    expect(firstSuccess).toBeDefined();
    expect(deletion).toBeDefined();
    expect(w.proxy.calls.indexOf(deletion!)).toBeGreaterThan(w.proxy.calls.indexOf(firstSuccess!));
    expect(await keyIds(w.fx, "alice")).toEqual([newId]);
  });
});

describe("a new key that does not work within --verify-timeout", () => {
  for (const policy of ["keep", "deactivate", "delete"] as const) {
    it(`exit 3 after about the bound; the file has the new key, -previous the old one, which still works (--old-key ${policy})`, async () => {
      const s = await scenario(w);
      w.proxy.setPropagationDelay(60_000);
      const started = Date.now();
      const run = await runCli(["-t", "alice", "--verify-timeout", "2", "--old-key", policy], {
        home: s.home,
        endpoint: w.endpoint,
      });
      const took = Date.now() - started;
      expect(run.status, run.stderr).toBe(3);
      expect(took, "waits the whole --verify-timeout").toBeGreaterThanOrEqual(2000);
      expect(took, "bounded by --verify-timeout").toBeLessThan(15_000);
      const outcome = await expectSafeOutcome(w, s.before, run, { users: ["admin", "alice"] });
      expect(outcome.file).toBe("new");
      expect(await callerIdentity(w.proxy.url, s.alice)).toBe(arnOf("alice"));
      const old = (await w.fx.listKeys("alice")).find((k) => k.accessKeyId === s.alice.accessKeyId);
      expect(old?.status, "the old key is not retired before the new one is proven").toBe("Active");
      expect(run.stderr).toContain("alice-previous");
      expect(run.stderr).toMatch(/sts get-caller-identity --profile alice/);
      // Once IAM catches up, the saved key is the real thing.
      w.proxy.setPropagationDelay(0);
      expect(await callerIdentity(w.proxy.url, outcome.newKey!)).toBe(arnOf("alice"));
    });
  }
});
