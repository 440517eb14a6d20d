// The auth profile may be any kind the AWS SDK resolves; here an assume-role profile that lives
// only in AWS_CONFIG_FILE (role_arn + source_profile), rotating another user's key as an admin.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CreateRoleCommand, PutRolePolicyCommand, PutUserPolicyCommand } from "@aws-sdk/client-iam";
import { describe, expect, it } from "vitest";
import { callerIdentity, policyDocument } from "../harness/fixtures.js";
import { keyOf, makeHome, profileText, readProfile, runCli } from "./cli.js";
import { useWorld } from "./world.js";

const w = useWorld();

describe("auth profiles the SDK resolves", () => {
  it("an assume-role profile from the config file rotates another user's key", async () => {
    const dev = await w.fx.createUserWithKey("dev", { policy: "none" });
    const ops = await w.fx.createUserWithKey("ops", { policy: "none" });
    await w.fx.withAuthOff(async (iam) => {
      await iam.send(
        new CreateRoleCommand({
          RoleName: "key-rotator",
          AssumeRolePolicyDocument: JSON.stringify({
            Version: "2012-10-17",
            Statement: [
              {
                Effect: "Allow",
                Principal: { AWS: "arn:aws:iam::123456789012:user/ops" },
                Action: "sts:AssumeRole",
              },
            ],
          }),
        }),
      );
      await iam.send(
        new PutRolePolicyCommand({
          RoleName: "key-rotator",
          PolicyName: "rotate",
          PolicyDocument: policyDocument([
            "iam:ListAccessKeys",
            "iam:CreateAccessKey",
            "iam:UpdateAccessKey",
            "iam:DeleteAccessKey",
            "iam:GetAccessKeyLastUsed",
            "iam:ListUsers",
          ]),
        }),
      );
    });
    // ops may only assume the role; the role does the IAM work.
    await w.fx.withAuthOff(async (iam) => {
      await iam.send(
        new PutUserPolicyCommand({
          UserName: "ops",
          PolicyName: "assume",
          PolicyDocument: policyDocument(["sts:AssumeRole"]),
        }),
      );
    });
    const { home, credentials } = await makeHome(`${profileText("dev", dev)}\n${profileText("ops", ops)}`);
    const config = join(home, ".aws", "config");
    await writeFile(
      config,
      "[profile rotator]\nrole_arn = arn:aws:iam::123456789012:role/key-rotator\nsource_profile = ops\n",
    );
    const run = await runCli(["-a", "rotator", "-t", "dev", "--old-key", "deactivate"], {
      home,
      endpoint: w.endpoint,
      env: { AWS_CONFIG_FILE: config },
    });
    expect(run.status, run.stderr).toBe(0);
    const now = keyOf(await readProfile(credentials, "dev"));
    expect(await callerIdentity(w.endpoint, now)).toContain(":user/dev");
    expect(w.proxy.calls.some((c) => c.action === "AssumeRole" && c.accessKeyId === ops.accessKeyId)).toBe(
      true,
    );
    const create = w.proxy.calls.find((c) => c.action === "CreateAccessKey");
    expect(create?.accessKeyId).not.toBe(ops.accessKeyId);
    expect(create?.accessKeyId?.startsWith("ASIA")).toBe(true);
  });

  it("an assume-role the source profile may not make is reported as AssumeRole failing", async () => {
    const dev = await w.fx.createUserWithKey("dev", { policy: "none" });
    const ops = await w.fx.createUserWithKey("ops", { policy: "none" });
    const { home, credentials } = await makeHome(`${profileText("dev", dev)}\n${profileText("ops", ops)}`);
    const before = await readFile(credentials, "utf8");
    const config = join(home, ".aws", "config");
    await writeFile(
      config,
      "[profile rotator]\nrole_arn = arn:aws:iam::123456789012:role/key-rotator\nsource_profile = ops\n",
    );
    const run = await runCli(["-a", "rotator", "-t", "dev"], {
      home,
      endpoint: w.endpoint,
      env: { AWS_CONFIG_FILE: config },
    });
    expect(run.status).toBe(1);
    const errors = run.stderr.split("\n").filter((l) => l.startsWith("keyctl:"));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/AssumeRole/);
    expect(errors[0]).not.toMatch(/GetCallerIdentity/);
    expect(w.proxy.calls.some((c) => c.action === "AssumeRole")).toBe(true);
    expect(await readFile(credentials, "utf8")).toBe(before);
  });
});
