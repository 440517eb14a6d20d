// Found by trying the built CLI as users do: set-ups the AWS CLI accepts (keys only in the config
// file), keys held anywhere on the machine, terminals that go away, networks that hang or refuse,
// and two machines sharing one IAM user.
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CredentialsDocument } from "../../src/ini/document.js";
import { callerIdentity } from "../harness/fixtures.js";
import { keyOf, runCli } from "./cli.js";
import { arnOf, expectCleanOutput, useWorld } from "./world.js";

const w = useWorld();

/** A HOME whose ~/.aws holds only a config file (no credentials file), as `aws configure` can leave it. */
async function configOnlyHome(config: string): Promise<{ home: string; config: string }> {
  const home = await mkdtemp(join(tmpdir(), "keyctl-e2e-"));
  await mkdir(join(home, ".aws"));
  const path = join(home, ".aws", "config");
  await writeFile(path, config, { mode: 0o600 });
  return { home, config: path };
}

function configProfileText(name: string, key: { accessKeyId: string; secretAccessKey: string }): string {
  return `[profile ${name}]\naws_access_key_id = ${key.accessKeyId}\naws_secret_access_key = ${key.secretAccessKey}\n`;
}

async function configKey(path: string, name: string) {
  return keyOf(CredentialsDocument.parse(await readFile(path, "utf8"), "config").profile(name));
}

describe("keys only in ~/.aws/config", () => {
  it("with no credentials file, --list shows the config profile and -t rotates it", async () => {
    const x = await w.fx.createUserWithKey("x");
    const { home, config } = await configOnlyHome(
      `[default]\nregion = eu-west-1\n\n${configProfileText("x", x)}`,
    );

    const list = await runCli(["--list"], { home, endpoint: w.endpoint });
    expect(list.status, list.stderr).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`x\\s+long-term key\\s+${x.accessKeyId}`));

    const run = await runCli(["-t", "x"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    const now = await configKey(config, "x");
    expect(now.accessKeyId).not.toBe(x.accessKeyId);
    expect(await callerIdentity(w.endpoint, now)).toBe(arnOf("x"));
    expectCleanOutput(run, [x.secretAccessKey, now.secretAccessKey]);
  });
});
