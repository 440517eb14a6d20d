// One in-memory IAM and STS for the engine's unit tests: the cases moto cannot produce (lost
// answers, root keys, other accounts, a propagation delay on a clock the test drives), with a log
// of every call. The end-to-end tests use moto through the real SDK adapter instead.

import {
  type AccessKey,
  type AuthSession,
  AwsCallError,
  type CallerIdentity,
  type Clock,
  type IamPort,
  type NewAccessKey,
  type StaticCredentials,
  type StsPort,
} from "../../src/engine/ports.js";

export interface FakeKey {
  accessKeyId: string;
  status: AccessKey["status"];
  createDate: Date;
  secret: string;
  user: string;
}

export const identityOf = (arn: string): CallerIdentity => ({
  arn,
  account: arn.split(":")[4]!,
  userId: "AIDA",
});

export class FakeAws {
  keys: FakeKey[] = [];
  /** Every call by operation name, in order (`ListAccessKeys`, `GetCallerIdentity`, ...). */
  log: string[] = [];
  /** The same with what it was about: `ListAccessKeys bob`, `GetCallerIdentity AKIA...`, `auth identity`. */
  trace: string[] = [];
  /** Operation → the failure it meets on every call. */
  failures = new Map<string, AwsCallError>();
  /** When set, CreateAccessKey creates the key and then loses the answer. */
  loseCreateAnswer = false;
  /** No write may happen (the test is about reads): a write call fails the test. */
  readOnly = false;
  /** Called before every call, to observe the disk at that moment. */
  onCall: (op: string) => Promise<void> = async () => {};
  clockMs = Date.UTC(2026, 10, 29);
  /** Keys refused by STS until this time (IAM's propagation delay). */
  propagatingUntil = new Map<string, number>();
  /** How long a key created from now on stays unknown to STS. */
  propagationMs = 0;
  /** Key id → when it last signed a call (what GetAccessKeyLastUsed reports). */
  lastUsed = new Map<string, Date>();
  /**
   * What STS answers for a key, before anything IAM holds: an identity (root, a role, another
   * account) or an error code. With `stsRefusesOthers`, any key not named here is refused.
   */
  stsAnswers = new Map<string, CallerIdentity | string>();
  stsRefusesOthers = false;
  /** Every user that ever had a key: the others do not exist. */
  readonly users = new Set<string>();
  private n = 0;

  constructor(readonly account = "111") {}

  /** A key of `user`; `id` names it (default: made up from the user and a counter). */
  addKey(user: string, id?: string): StaticCredentials {
    const k = this.mint(user, id);
    return { accessKeyId: k.accessKeyId, secretAccessKey: k.secret };
  }

  private mint(user: string, id?: string): FakeKey {
    this.n += 1;
    const k: FakeKey = {
      accessKeyId: id ?? `AKIA${user.toUpperCase()}${String(this.n).padStart(4, "0")}`,
      // Realistic: 40 characters, like the secrets IAM hands out.
      secret: `wJalrXUtnFEMI/K7MDENG/bPxRfiCY${String(this.n).padStart(10, "0")}`,
      status: "Active",
      createDate: new Date(this.clockMs),
      user,
    };
    this.keys.push(k);
    this.users.add(user);
    return k;
  }

  private async enter(op: string, about?: string, write = false): Promise<void> {
    if (write && this.readOnly) throw new Error(`no writes expected, but ${op} was called`);
    await this.onCall(op);
    this.log.push(op);
    this.trace.push(about === undefined ? op : `${op} ${about}`);
    const fail = this.failures.get(op);
    if (fail) throw fail;
  }

  private userArn(user: string): string {
    return `arn:aws:iam::${this.account}:user/${user}`;
  }

  iam(): IamPort {
    return {
      listAccessKeys: async (user) => {
        await this.enter("ListAccessKeys", user);
        if (!this.users.has(user))
          throw new AwsCallError("NoSuchEntity", "ListAccessKeys", `no user ${user}`);
        return this.keys
          .filter((k) => k.user === user)
          .map(({ accessKeyId, status, createDate }) => ({ accessKeyId, status, createDate }));
      },
      createAccessKey: async (user): Promise<NewAccessKey> => {
        await this.enter("CreateAccessKey", user, true);
        const k = this.mint(user);
        this.propagatingUntil.set(k.accessKeyId, this.clockMs + this.propagationMs);
        if (this.loseCreateAnswer)
          throw new AwsCallError("Network", "CreateAccessKey", "socket hang up", true);
        return {
          accessKeyId: k.accessKeyId,
          secretAccessKey: k.secret,
          status: k.status,
          createDate: k.createDate,
          userName: user,
        };
      },
      updateAccessKey: async (_user, id, status) => {
        await this.enter("UpdateAccessKey", id, true);
        const k = this.keys.find((x) => x.accessKeyId === id);
        if (k) k.status = status;
      },
      deleteAccessKey: async (_user, id) => {
        await this.enter("DeleteAccessKey", id, true);
        this.keys = this.keys.filter((x) => x.accessKeyId !== id);
      },
      getAccessKeyLastUsed: async (id) => {
        await this.enter("GetAccessKeyLastUsed", id);
        const at = this.lastUsed.get(id);
        return at ? { lastUsedDate: at, serviceName: "sts", region: "us-east-1" } : {};
      },
      listUsers: async () => {
        await this.enter("ListUsers");
        return [...this.users].map((u) => ({ userName: u, arn: this.userArn(u) }));
      },
    };
  }

  sts(): StsPort {
    return {
      callerIdentity: async (creds): Promise<CallerIdentity> => {
        await this.enter("GetCallerIdentity", creds.accessKeyId);
        const answer =
          this.stsAnswers.get(creds.accessKeyId) ??
          (this.stsRefusesOthers ? "InvalidClientTokenId" : undefined);
        if (typeof answer === "string") throw new AwsCallError(answer, "GetCallerIdentity", answer);
        if (answer) return answer;
        const k = this.keys.find((x) => x.accessKeyId === creds.accessKeyId);
        const until = this.propagatingUntil.get(creds.accessKeyId) ?? 0;
        if (k?.status !== "Active" || this.clockMs < until) {
          throw new AwsCallError(
            "InvalidClientTokenId",
            "GetCallerIdentity",
            "The security token included in the request is invalid.",
          );
        }
        if (k.secret !== creds.secretAccessKey)
          throw new AwsCallError("SignatureDoesNotMatch", "GetCallerIdentity", "bad");
        this.lastUsed.set(k.accessKeyId, new Date(this.clockMs));
        return { arn: this.userArn(k.user), account: this.account, userId: "AIDA" };
      },
    };
  }

  /** The auth side, signing as `identity` (with `signingKeyId` when it is a long-term key). */
  auth(profile: string, identity: CallerIdentity, signingKeyId?: string): AuthSession {
    return {
      profile,
      iam: this.iam(),
      identity: async () => {
        this.trace.push("auth identity");
        return identity;
      },
      ...(signingKeyId !== undefined ? { signingKeyId } : {}),
    };
  }

  /** Time that passes only when the code under test sleeps. */
  clock(): Clock {
    return {
      now: () => this.clockMs,
      sleep: async (ms) => {
        this.clockMs += ms;
      },
    };
  }
}
