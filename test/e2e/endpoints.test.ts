// Endpoints configured only in the config file (endpoint_url, a services section) for the IAM and
// STS clients. Every run is inside a
// network namespace with only loopback: a request that ignored the configuration and went to a real
// AWS endpoint fails there instead of leaving the machine.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cliPath, keyOf, makeHome, profileText, readProfile } from "./cli.js";
import { canIsolate, RELAY_URL, runIsolated } from "./netns.js";
import { useWorld } from "./world.js";

const w = useWorld();
/** The CLI in the namespace, with no endpoint in the environment: only the files configure one. */
function keyctl(args: readonly string[], home: string) {
  return runIsolated([cliPath(), ...args], {
    target: w.endpoint,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: home,
      NO_COLOR: "1",
      AWS_EC2_METADATA_DISABLED: "true",
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      KEYCTL_CALL_TIMEOUT_MS: "5000",
      AWS_MAX_ATTEMPTS: "1",
    },
  });
}

describe.skipIf(!canIsolate())("endpoints from the config file (network namespace, loopback only)", () => {
  it("with no endpoint configured the run cannot leave the namespace and changes nothing", async () => {
    const key = await w.fx.createUserWithKey("nowhere");
    const { home, credentials } = await makeHome(profileText("nowhere", key));
    const before = await readFile(credentials, "utf8");
    const run = await keyctl(["-t", "nowhere"], home);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/GetCallerIdentity/);
    expect(w.gate.calls).toEqual([]);
    expect(await readFile(credentials, "utf8")).toBe(before);
  });

  it("the profile's endpoint_url sends every call of the rotation there", async () => {
    const key = await w.fx.createUserWithKey("local");
    const { home, credentials } = await makeHome(profileText("local", key));
    await writeFile(join(home, ".aws", "config"), `[profile local]\nendpoint_url = ${RELAY_URL}\n`);
    const run = await keyctl(["-t", "local", "--old-key", "delete"], home);
    expect(run.status, run.stderr).toBe(0);
    expect(keyOf(await readProfile(credentials, "local")).accessKeyId).not.toBe(key.accessKeyId);
    expect(w.gate.calls.map((c) => c.action)).toEqual(
      expect.arrayContaining(["GetCallerIdentity", "CreateAccessKey", "DeleteAccessKey"]),
    );
  });

  it("a services section names IAM's and STS's endpoints", async () => {
    const key = await w.fx.createUserWithKey("svc");
    const { home, credentials } = await makeHome(profileText("svc", key));
    await writeFile(
      join(home, ".aws", "config"),
      `[profile svc]\nservices = local\n\n[services local]\niam =\n  endpoint_url = ${RELAY_URL}\nsts =\n  endpoint_url = ${RELAY_URL}\n`,
    );
    const run = await keyctl(["-t", "svc"], home);
    expect(run.status, run.stderr).toBe(0);
    expect(keyOf(await readProfile(credentials, "svc")).accessKeyId).not.toBe(key.accessKeyId);
    expect(w.gate.calls.map((c) => c.action)).toContain("CreateAccessKey");
  });
});
