// The ports the engine talks through. The AWS SDK adapter (src/aws/) implements IAM and STS, the
// store (src/store/) the file system, util/clock.ts time; tests run the engine against moto through
// that same adapter, and the unit tests use in-memory ones (test/helpers/fake-aws.ts).

export interface StaticCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export type KeyStatus = "Active" | "Inactive";

export interface AccessKey {
  readonly accessKeyId: string;
  readonly status: KeyStatus;
  readonly createDate: Date;
}

export interface NewAccessKey extends AccessKey {
  readonly secretAccessKey: string;
  readonly userName: string;
}

export interface KeyLastUsed {
  readonly userName?: string;
  readonly lastUsedDate?: Date;
  readonly serviceName?: string;
  readonly region?: string;
}

export interface CallerIdentity {
  readonly arn: string;
  readonly account: string;
  readonly userId: string;
}

export interface IamUser {
  readonly userName: string;
  readonly arn: string;
}

/** IAM as seen by one set of credentials. */
export interface IamPort {
  listAccessKeys(userName: string): Promise<AccessKey[]>;
  /** The keys of the user who signs: self-service needs no user name, so it can start at once. */
  listOwnAccessKeys?(): Promise<AccessKey[]>;
  /** Not retried by the adapter: a retry after a lost answer could mint a second key. */
  createAccessKey(userName: string): Promise<NewAccessKey>;
  updateAccessKey(userName: string, accessKeyId: string, status: KeyStatus): Promise<void>;
  /** Succeeds when the key is already gone. */
  deleteAccessKey(userName: string, accessKeyId: string): Promise<void>;
  getAccessKeyLastUsed(accessKeyId: string): Promise<KeyLastUsed>;
  listUsers(): Promise<IamUser[]>;
}

export interface StsPort {
  /** GetCallerIdentity signed by exactly these credentials, one attempt. */
  callerIdentity(credentials: StaticCredentials): Promise<CallerIdentity>;
}

/** The auth side: IAM calls and the identity they are made as. */
export interface AuthSession {
  readonly profile: string;
  readonly iam: IamPort;
  identity(): Promise<CallerIdentity>;
  /** The long-term key the session signs with, when it is one (to protect it from deletion). */
  readonly signingKeyId?: string;
}

/** Overrides AWS_CALL_TIMEOUT_MS: a knob for tests and for users on very slow links. */
export const CALL_TIMEOUT_ENV = "KEYCTL_CALL_TIMEOUT_MS";

function callTimeoutFromEnv(fallback: number): number {
  const raw = globalThis.process?.env[CALL_TIMEOUT_ENV];
  const ms = raw ? Number(raw) : Number.NaN;
  // A bad value is reported by the AWS adapter (it cannot be here, at module load).
  return Number.isSafeInteger(ms) && ms > 0 ? ms : fallback;
}

/**
 * Bounds on an AWS call, the same for every client: each attempt, and the call as a whole with the
 * SDK's retries (see call() in aws/client.ts); a call that has not answered by then fails as a network
 * error and is not tried again. The AWS CLI allows 60 s to connect and 60 s per socket read;
 * IAM and STS answer in well under a second, and a shorter bound keeps Ctrl-C prompt and the crash
 * window small. The crash clean-up relies on it: a key made by a crashed CreateAccessKey (one
 * attempt) was created within AWS_CALL_TIMEOUT_MS of the call's start, connection included.
 */
export const AWS_CALL_TIMEOUT_MS = callTimeoutFromEnv(30_000);

/** The operation of a credential provider whose own call keyctl cannot name (messages leave it out). */
export const LOADING_CREDENTIALS = "loading the auth profile's credentials";
export const AWS_CONNECT_TIMEOUT_MS = Math.min(10_000, AWS_CALL_TIMEOUT_MS);

export { type Clock, systemClock } from "../util/clock.js";

/** An AWS call that failed, with the wire error code (`AccessDenied`, `Throttling`, `Network`, ...). */
export class AwsCallError extends Error {
  override readonly name = "AwsCallError";
  constructor(
    readonly code: string,
    readonly operation: string,
    message: string,
    /** True when the request may have been carried out although no answer came back. */
    readonly ambiguous = false,
  ) {
    super(message);
  }
}

/**
 * A call that got no answer within AWS_CALL_TIMEOUT_MS: the network or a proxy hangs. Trying it
 * again would only multiply the wait the message names, so nothing retries it.
 */
export class NoAnswerError extends AwsCallError {
  constructor(operation: string) {
    super("Network", operation, `no answer within ${Math.round(AWS_CALL_TIMEOUT_MS / 1000)} s`, true);
  }
}

/** The HTTP(S) proxy the environment names could not be reached: nothing was sent to AWS. */
export class ProxyUnreachableError extends AwsCallError {
  constructor(
    operation: string,
    /** Without the credentials its URL may hold. */
    readonly proxy: string,
    readonly variable: string,
    message: string,
  ) {
    super("Network", operation, message);
  }
}

export function isAwsCallError(err: unknown, code?: string): err is AwsCallError {
  return err instanceof AwsCallError && (code === undefined || err.code === code);
}
