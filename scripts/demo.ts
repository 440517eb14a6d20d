// `npm run demo`: keyctl's main job, for real, against a local AWS emulator (moto). A throwaway
// HOME holds a commented credentials file; keyctl rotates a key self-service and one as an admin,
// then lists keys. Secrets are masked in everything this script prints. Nothing reaches AWS.
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFixtures } from "../test/harness/fixtures.js";
import { type MotoServer, motoEnv, REPO_ROOT, startMoto } from "../test/harness/moto.js";

const CLI = join(REPO_ROOT, "dist", "keyctl.mjs");
const bold = (s: string) => (process.stdout.isTTY && !("NO_COLOR" in process.env) ? `\x1b[1m${s}\x1b[0m` : s);

function mask(text: string): string {
  return text.replace(/^(\s*aws_secret_access_key\s*=\s*)(\S{4})\S*/gm, "$1$2…(masked)");
}

function heading(title: string): void {
  process.stdout.write(`\n${bold(`━━ ${title} `.padEnd(72, "━"))}\n`);
}

function keyctl(args: string[], home: string, endpoint: string): Promise<number> {
  process.stdout.write(`\n${bold(`$ keyctl ${args.join(" ")}`)}\n`);
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      stdio: ["ignore", "inherit", "inherit"],
      env: { PATH: process.env.PATH ?? "", HOME: home, ...motoEnv(endpoint) },
    });
    child.on("error", fail);
    child.on("close", (code) => done(code ?? 1));
  });
}

async function main(): Promise<void> {
  let moto: MotoServer | undefined;
  const home = await mkdtemp(join(tmpdir(), "keyctl-demo-"));
  try {
    heading("Starting moto, the local AWS emulator (authentication on)");
    moto = await startMoto();
    process.stdout.write(`moto listens on ${moto.url}; keyctl is pointed there with AWS_ENDPOINT_URL.\n`);
    const fx = createFixtures(moto.url);
    const alice = await fx.createUserWithKey("alice", { policy: "self" });
    const bob = await fx.createUserWithKey("bob", { policy: "none" });
    const admin = await fx.createUserWithKey("ops-admin", { policy: "admin" });
    process.stdout.write(
      "IAM users: alice (may rotate her own key), bob (no IAM rights), ops-admin (may rotate anyone's).\n",
    );

    const credentials = join(home, ".aws", "credentials");
    await mkdir(join(home, ".aws"), { recursive: true });
    const before = [
      "# Shared credentials of this laptop.",
      "# keyctl keeps every comment and line exactly as it is.",
      "",
      "[alice]",
      `aws_access_key_id = ${alice.accessKeyId}`,
      `aws_secret_access_key = ${alice.secretAccessKey}`,
      "region = eu-west-1",
      "",
      "; bob's key is rotated by the admin",
      "[bob]",
      `aws_access_key_id=${bob.accessKeyId}`,
      `aws_secret_access_key=${bob.secretAccessKey}`,
      "",
      "[ops-admin]",
      `aws_access_key_id = ${admin.accessKeyId}`,
      `aws_secret_access_key = ${admin.secretAccessKey}`,
      "",
    ].join("\n");
    await writeFile(credentials, before, { mode: 0o600 });
    heading(`The credentials file before (${credentials})`);
    process.stdout.write(mask(before));

    const steps: [string, string[]][] = [
      ["The profiles keyctl sees", ["--list"]],
      ["Self-service: alice rotates her own key", ["-t", "alice"]],
      [
        "Admin: ops-admin rotates bob's key and deactivates the old one",
        ["-a", "ops-admin", "-t", "bob", "--old-key", "deactivate"],
      ],
      ["alice's keys in IAM now", ["-k", "-t", "alice"]],
    ];
    for (const [title, args] of steps) {
      heading(title);
      const code = await keyctl(args, home, moto.url);
      if (code !== 0) throw new Error(`keyctl ${args.join(" ")} exited ${code}`);
    }

    heading("The credentials file after (secrets masked)");
    process.stdout.write(mask(await readFile(credentials, "utf8")));
    heading("Done");
    process.stdout.write(
      "Comments, order and spacing are unchanged; each rotated profile has a new, verified key and\n" +
        "its old key in <profile>-previous; a 0600 backup of the whole file sits next to it.\n",
    );
  } finally {
    await moto?.stop();
    await rm(home, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
