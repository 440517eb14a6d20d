// proveOwner with in-memory ports: the cases moto cannot produce (root keys, a mix of partitions) and
// the order of the proofs, checked call by call.
import { describe, expect, it } from "vitest";
import { parseArn, proveOwner } from "../../../src/engine/identity.js";
import {
  type AccessKey,
  AwsCallError,
  type CallerIdentity,
  type StaticCredentials,
  type StsPort,
} from "../../../src/engine/ports.js";
import { KeyctlError } from "../../../src/errors.js";
import { FakeAws, identityOf } from "../../helpers/fake-aws.js";

const A = "111111111111";
const B = "222222222222";
const key = (id: string): StaticCredentials => ({ accessKeyId: id, secretAccessKey: `secret-${id}` });
const meta = (id: string): AccessKey => ({ accessKeyId: id, status: "Active", createDate: new Date(0) });
const identity = identityOf;

interface Scenario {
  /** key id → identity (or an error code) as STS answers when that key signs; others are refused. */
  sts: Record<string, CallerIdentity | string>;
  /** IAM users → their key ids. */
  users: Record<string, string[]>;
  listUsersDenied?: boolean;
  authIdentity: CallerIdentity;
  authKeyId?: string;
}

function ports(scenario: Scenario) {
  const aws = new FakeAws(A);
  aws.readOnly = true;
  aws.stsRefusesOthers = true;
  for (const [user, ids] of Object.entries(scenario.users)) for (const id of ids) aws.addKey(user, id);
  for (const k of aws.keys) k.createDate = new Date(0);
  for (const [id, answer] of Object.entries(scenario.sts)) aws.stsAnswers.set(id, answer);
  if (scenario.listUsersDenied)
    aws.failures.set("ListUsers", new AwsCallError("AccessDenied", "ListUsers", "denied"));
  const auth = aws.auth("admin", scenario.authIdentity, scenario.authKeyId);
  return { sts: aws.sts(), auth, calls: aws.trace };
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(KeyctlError);
    expect((err as KeyctlError).exitCode).toBe(1);
    return (err as Error).message;
  }
  throw new Error("expected a refusal");
}

describe("parseArn", () => {
  it("tells users (with paths), root and everything else apart, in any partition", () => {
    expect(parseArn(`arn:aws:iam::${A}:user/alice`)).toEqual({
      partition: "aws",
      account: A,
      kind: "user",
      userName: "alice",
    });
    expect(parseArn(`arn:aws:iam::${A}:user/team/dev/alice`)).toMatchObject({
      kind: "user",
      userName: "alice",
    });
    expect(parseArn(`arn:aws-us-gov:iam::${A}:user/bob`)).toMatchObject({
      partition: "aws-us-gov",
      kind: "user",
    });
    expect(parseArn(`arn:aws-cn:iam::${A}:root`)).toEqual({ partition: "aws-cn", account: A, kind: "root" });
    expect(parseArn(`arn:aws:sts::${A}:assumed-role/Admin/session`).kind).toBe("other");
    expect(parseArn(`arn:aws:sts::${A}:federated-user/bob`).kind).toBe("other");
    expect(parseArn("garbage").kind).toBe("other");
  });
});

describe("proveOwner", () => {
  it("refuses the root user's key, whatever the profile is called", async () => {
    const { sts, auth, calls } = ports({
      sts: { AKIAROOT: identity(`arn:aws:iam::${A}:root`) },
      users: {},
      authIdentity: identity(`arn:aws:iam::${A}:user/admin`),
    });
    const msg = await refusal(proveOwner({ profile: "alice", key: key("AKIAROOT"), auth, sts }));
    expect(msg).toMatch(/root/);
    // The auth profile's identity is asked for side by side; IAM is not called at all.
    expect(calls).toEqual(["auth identity", "GetCallerIdentity AKIAROOT"]);
  });

  it("refuses an assumed-role identity (not an IAM user)", async () => {
    const { sts, auth } = ports({
      sts: { AKIAROLE: identity(`arn:aws:sts::${A}:assumed-role/Dev/x`) },
      users: {},
      authIdentity: identity(`arn:aws:iam::${A}:user/admin`),
    });
    expect(await refusal(proveOwner({ profile: "dev", key: key("AKIAROLE"), auth, sts }))).toMatch(
      /not to an IAM user/,
    );
  });

  it("refuses a target of another account than the auth profile, naming both accounts", async () => {
    const { sts, auth } = ports({
      sts: { AKIACAROL: identity(`arn:aws:iam::${B}:user/carol`) },
      users: {},
      authIdentity: identity(`arn:aws:iam::${A}:user/admin`),
    });
    const msg = await refusal(proveOwner({ profile: "carol", key: key("AKIACAROL"), auth, sts }));
    expect(msg).toContain(A);
    expect(msg).toContain(B);
  });

  it("the key's own signature wins over the profile name (profile bob holds alice's key)", async () => {
    const { sts, auth, calls } = ports({
      sts: { AKIAALICE: identity(`arn:aws:iam::${A}:user/alice`) },
      users: { alice: ["AKIAALICE"], bob: ["AKIABOB"] },
      authIdentity: identity(`arn:aws:iam::${A}:user/admin`),
    });
    const owner = await proveOwner({ profile: "bob", key: key("AKIAALICE"), auth, sts });
    expect(owner).toMatchObject({ userName: "alice", account: A, proof: "sts" });
    expect(calls.some((c) => c.includes("bob"))).toBe(false);
  });

  it("a key that no longer signs: the profile name is believed only if that user holds the key, else IAM is searched", async () => {
    const { sts, auth, calls } = ports({
      sts: {},
      users: { alice: ["AKIAALICE"], bob: ["AKIABOB"] },
      authIdentity: identity(`arn:aws:iam::${A}:user/admin`),
    });
    const owner = await proveOwner({ profile: "bob", key: key("AKIAALICE"), auth, sts });
    expect(owner).toMatchObject({ userName: "alice", proof: "search" });
    expect(calls.slice(0, 4)).toEqual([
      "auth identity",
      "GetCallerIdentity AKIAALICE",
      "ListAccessKeys bob",
      "ListUsers",
    ]);
  });

  it("self-service: the signer's own keys are listed while STS answers, and used only if they hold the key", async () => {
    const { sts, auth, calls } = ports({
      sts: { AKIAALICE: identity(`arn:aws:iam::${A}:user/alice`) },
      users: { alice: ["AKIAALICE"] },
      authIdentity: identity(`arn:aws:iam::${A}:user/alice`),
      authKeyId: "AKIAALICE",
    });
    let answer: (() => void) | undefined;
    const slowSts = {
      callerIdentity: async (c: StaticCredentials) => {
        await new Promise<void>((resolve) => {
          answer = resolve;
        });
        return sts.callerIdentity(c);
      },
    };
    const own = {
      ...auth,
      iam: {
        ...auth.iam,
        listOwnAccessKeys: async () => {
          calls.push("list-own");
          return [meta("AKIAALICE")];
        },
      },
    };
    const proof = proveOwner({ profile: "alice", key: key("AKIAALICE"), auth: own, sts: slowSts });
    await new Promise((r) => setTimeout(r, 0));
    expect(calls, "the list started before STS answered").toEqual(["list-own"]);
    answer!();
    const owner = await proof;
    expect(owner).toMatchObject({ userName: "alice", proof: "sts", keys: [meta("AKIAALICE")] });
    expect(calls).not.toContain("auth identity");

    const elsewhere = { ...auth, iam: { ...auth.iam, listOwnAccessKeys: async () => [meta("AKIAOTHER")] } };
    const other = proveOwner({ profile: "alice", key: key("AKIAALICE"), auth: elsewhere, sts: slowSts });
    await new Promise((r) => setTimeout(r, 0));
    answer!();
    expect((await other).keys, "a list without the key is not taken for the user's").toBeUndefined();
  });

  it("a key nobody owns, and a search that is not allowed, are refused with what to do", async () => {
    const none = ports({
      sts: {},
      users: { alice: ["AKIAALICE"] },
      authIdentity: identity(`arn:aws:iam::${A}:user/admin`),
    });
    expect(
      await refusal(proveOwner({ profile: "x", key: key("AKIAGONE"), auth: none.auth, sts: none.sts })),
    ).toMatch(/No IAM user/);
    const denied = ports({
      sts: {},
      users: {},
      listUsersDenied: true,
      authIdentity: identity(`arn:aws:iam::${A}:user/admin`),
    });
    expect(
      await refusal(proveOwner({ profile: "x", key: key("AKIAGONE"), auth: denied.auth, sts: denied.sts })),
    ).toMatch(/--user/);
  });

  it("--user: accepted only when that user holds the key", async () => {
    const { sts, auth } = ports({
      sts: {},
      users: { alice: ["AKIAALICE"], bob: ["AKIABOB"] },
      authIdentity: identity(`arn:aws:iam::${A}:user/admin`),
    });
    expect(
      await proveOwner({ profile: "p", key: key("AKIAALICE"), auth, sts, userFlag: "alice" }),
    ).toMatchObject({
      userName: "alice",
      proof: "user-flag",
    });
    expect(
      await refusal(proveOwner({ profile: "p", key: key("AKIAALICE"), auth, sts, userFlag: "bob" })),
    ).toMatch(/not one of IAM user bob's keys/);
    expect(
      await refusal(proveOwner({ profile: "p", key: key("AKIAALICE"), auth, sts, userFlag: "zed" })),
    ).toMatch(/no IAM user named zed/);
  });

  it("a transient STS failure is retried, up to 3 attempts", async () => {
    let answers = ["Throttling", "Network"];
    const flaky: StsPort = {
      async callerIdentity() {
        const next = answers.shift();
        if (next) throw new AwsCallError(next, "GetCallerIdentity", next);
        return identity(`arn:aws:iam::${A}:user/alice`);
      },
    };
    const { auth } = ports({ sts: {}, users: {}, authIdentity: identity(`arn:aws:iam::${A}:user/admin`) });
    expect(await proveOwner({ profile: "alice", key: key("AKIAALICE"), auth, sts: flaky })).toMatchObject({
      userName: "alice",
    });
    answers = ["Throttling", "Throttling", "Throttling"];
    await expect(
      proveOwner({ profile: "alice", key: key("AKIAALICE"), auth, sts: flaky }),
    ).rejects.toMatchObject({
      code: "Throttling",
    });
  });
});
