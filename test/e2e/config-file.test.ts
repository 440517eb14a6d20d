// Keys where the AWS CLI also finds them: static keys in `[profile P]` of the config file, and key
// names in any case. Rotations edit the file that holds the key, in place, and no other byte.
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CredentialsDocument } from "../../src/ini/document.js";
import { callerIdentity } from "../harness/fixtures.js";
import { keyOf, makeHome, profileText, readProfile, runCli } from "./cli.js";
import { arnOf, useWorld } from "./world.js";

const w = useWorld();

async function configProfile(path: string, name: string) {
  return CredentialsDocument.parse(await readFile(path, "utf8"), "config").profile(name);
}

describe("keys in the config file", () => {
  it("a [profile P] key in ~/.aws/config rotates in place; every other byte of both files stays", async () => {
    const ops = await w.fx.createUserWithKey("ops");
    const cfg = await w.fx.createUserWithKey("cfg");
    const { home, credentials } = await makeHome(`# mine\n${profileText("ops", ops)}`);
    const configPath = join(home, ".aws", "config");
    const config = [
      "# shared settings",
      "[default]",
      "region = eu-west-1",
      "",
      "[profile cfg]",
      `AWS_ACCESS_KEY_ID = ${cfg.accessKeyId}`,
      `Aws_Secret_Access_Key=${cfg.secretAccessKey}`,
      "region = eu-central-1 ; not a comment for the AWS CLI",
      "",
      "[sso-session corp]",
      "sso_start_url = https://corp.awsapps.com/start",
      "",
      "[profile rotator]",
      "role_arn = arn:aws:iam::123456789012:role/key-rotator",
      "source_profile = ops",
      "",
    ].join("\r\n");
    await writeFile(configPath, config, { mode: 0o600 });
    const credentialsBefore = await readFile(credentials, "utf8");

    const run = await runCli(["-t", "cfg"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    expect(await readFile(credentials, "utf8")).toBe(credentialsBefore);

    const now = keyOf(await configProfile(configPath, "cfg"));
    expect(now.accessKeyId).not.toBe(cfg.accessKeyId);
    expect(await callerIdentity(w.endpoint, now)).toBe(arnOf("cfg"));
    const after = await readFile(configPath, "utf8");
    const inPlace = config
      .replace(`AWS_ACCESS_KEY_ID = ${cfg.accessKeyId}`, `AWS_ACCESS_KEY_ID = ${now.accessKeyId}`)
      .replace(
        `Aws_Secret_Access_Key=${cfg.secretAccessKey}`,
        `Aws_Secret_Access_Key=${now.secretAccessKey}`,
      );
    expect(after.slice(0, inPlace.length)).toBe(inPlace);
    expect(after.slice(inPlace.length)).toBe(
      [
        "",
        "[profile cfg-previous]",
        "# keyctl: previous key of [cfg]",
        `AWS_ACCESS_KEY_ID = ${cfg.accessKeyId}`,
        `Aws_Secret_Access_Key=${cfg.secretAccessKey}`,
        "region = eu-central-1 ; not a comment for the AWS CLI",
        "",
      ].join("\r\n"),
    );
    // The backup of the file that changed sits next to it, private.
    const backups = (await readdir(join(home, ".aws"))).filter((f) => f.startsWith("config.backup."));
    expect(backups).toHaveLength(1);
    expect(await readFile(join(home, ".aws", backups[0]!), "utf8")).toBe(config);
    expect((await stat(join(home, ".aws", backups[0]!))).mode & 0o777).toBe(0o600);
    expect((await readdir(join(home, ".aws"))).some((f) => f.startsWith("credentials.backup."))).toBe(false);

    // --finish retires the old key from the same file.
    const finish = await runCli(["--finish", "-t", "cfg", "--yes"], { home, endpoint: w.endpoint });
    expect(finish.status, finish.stderr).toBe(0);
    expect(await readFile(configPath, "utf8")).toBe(inPlace);
    expect((await w.fx.listKeys("cfg")).map((k) => k.accessKeyId)).toEqual([now.accessKeyId]);
  });

  it("where both files hold a key for the profile, the credentials file's is rotated, as the AWS CLI uses it", async () => {
    const both = await w.fx.createUserWithKey("both");
    const { home, credentials } = await makeHome(profileText("both", both));
    const configPath = join(home, ".aws", "config");
    const config = `[profile both]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n`;
    await writeFile(configPath, config);
    const run = await runCli(["-t", "both"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    expect(keyOf(await readProfile(credentials, "both")).accessKeyId).not.toBe(both.accessKeyId);
    expect(await readFile(configPath, "utf8")).toBe(config);
  });

  it("upper-case key names in the credentials file rotate and keep their spelling", async () => {
    const up = await w.fx.createUserWithKey("up");
    const text = `[up]\nAWS_ACCESS_KEY_ID = ${up.accessKeyId}\nAWS_SECRET_ACCESS_KEY = ${up.secretAccessKey}\n`;
    const { home, credentials } = await makeHome(text);
    const run = await runCli(["-t", "up"], { home, endpoint: w.endpoint });
    expect(run.status, run.stderr).toBe(0);
    const now = keyOf(await readProfile(credentials, "up"));
    expect(await callerIdentity(w.endpoint, now)).toBe(arnOf("up"));
    const after = await readFile(credentials, "utf8");
    expect(
      after.startsWith(
        `[up]\nAWS_ACCESS_KEY_ID = ${now.accessKeyId}\nAWS_SECRET_ACCESS_KEY = ${now.secretAccessKey}\n`,
      ),
    ).toBe(true);
  });

  it("--list and --all include the config file's keys; --list marks auth-only profiles", async () => {
    const ops = await w.fx.createUserWithKey("ops");
    const cfg = await w.fx.createUserWithKey("cfg");
    const { home } = await makeHome(profileText("ops", ops));
    const configPath = join(home, ".aws", "config");
    await writeFile(
      configPath,
      `[profile cfg]\naws_access_key_id = ${cfg.accessKeyId}\naws_secret_access_key = ${cfg.secretAccessKey}\n\n[profile rotator]\nrole_arn = arn:aws:iam::123456789012:role/r\nsource_profile = ops\n\n[profile ops]\nregion = eu-west-1\n`,
    );
    const list = await runCli(["--list"], { home, endpoint: w.endpoint });
    expect(list.status, list.stderr).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`ops\\s+long-term key\\s+${ops.accessKeyId}`));
    expect(list.stdout).toMatch(new RegExp(`cfg\\s+long-term key\\s+${cfg.accessKeyId}`));
    expect(list.stdout).toMatch(/rotator\s+assume-role \(signs in, holds no key\)/);
    expect(list.stderr).toContain(`Profiles in ${configPath}:`);
    const json = JSON.parse((await runCli(["--list", "--json"], { home, endpoint: w.endpoint })).stdout);
    expect(json.configProfiles).toEqual([
      { name: "cfg", kind: "long-term", accessKeyId: cfg.accessKeyId },
      { name: "rotator", kind: "assume-role" },
    ]);

    const all = await runCli(["--all", "--yes"], { home, endpoint: w.endpoint });
    expect(all.status, all.stderr).toBe(0);
    expect(keyOf(await configProfile(configPath, "cfg")).accessKeyId).not.toBe(cfg.accessKeyId);
    expect(keyOf(await readProfile(join(home, ".aws", "credentials"), "ops")).accessKeyId).not.toBe(
      ops.accessKeyId,
    );
  });

  it("--restore puts back the config file's backup after a config-file rotation; the named form too", async () => {
    const cfg = await w.fx.createUserWithKey("cfg");
    const ops = await w.fx.createUserWithKey("ops");
    const { home, credentials } = await makeHome(profileText("ops", ops));
    const configPath = join(home, ".aws", "config");
    const original = `# mine\n[profile cfg]\naws_access_key_id = ${cfg.accessKeyId}\naws_secret_access_key = ${cfg.secretAccessKey}\n`;
    await writeFile(configPath, original, { mode: 0o600 });
    const credentialsBefore = await readFile(credentials, "utf8");
    expect((await runCli(["-t", "cfg"], { home, endpoint: w.endpoint })).status).toBe(0);
    const rotated = await readFile(configPath, "utf8");
    expect(rotated).not.toBe(original);

    const restore = await runCli(["--restore", "--yes"], { home, endpoint: w.endpoint });
    expect(restore.status, restore.stderr).toBe(0);
    expect(restore.stdout).toContain(`Restored ${configPath} from ${configPath}.backup.`);
    expect(restore.stderr).toMatch(/cfg: key .* → /);
    expect(await readFile(configPath, "utf8")).toBe(original);
    expect(await readFile(credentials, "utf8")).toBe(credentialsBefore);

    // The restore kept the rotated version as a backup of the config file: name it to go back.
    const saved = [];
    for (const name of (await readdir(join(home, ".aws"))).filter((f) => f.startsWith("config.backup."))) {
      if ((await readFile(join(home, ".aws", name), "utf8")) === rotated) saved.push(name);
    }
    expect(saved).toHaveLength(1);
    const named = await runCli(["--restore", saved[0]!, "--yes"], { home, endpoint: w.endpoint });
    expect(named.status, named.stderr).toBe(0);
    expect(await readFile(configPath, "utf8")).toBe(rotated);
    expect(await readFile(credentials, "utf8")).toBe(credentialsBefore);
  });
});
