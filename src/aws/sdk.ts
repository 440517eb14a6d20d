// With iam.ts, the only code that imports the AWS SDK. It is loaded lazily (a separate bundle chunk), so
// `keyctl --help` and `--list` never pay for it. SDK errors become AwsCallError here and nowhere else.

import { GetCallerIdentityCommand, GetSessionTokenCommand, STSClient } from "@aws-sdk/client-sts";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@aws-sdk/types";
import {
  AwsCallError,
  type CallerIdentity,
  type IamPort,
  type StaticCredentials,
  type StsPort,
} from "../engine/ports.js";
import { KeyctlError } from "../errors.js";

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ECONNABORTED",
  "UND_ERR_SOCKET",
]);

const REQUEST_HANDLER = { connectionTimeout: 5_000, requestTimeout: 30_000 };

function field(err: object, name: string): unknown {
  return (err as Record<string, unknown>)[name];
}

/** Maps whatever the SDK threw to an AwsCallError carrying the wire error code. */
export function toAwsCallError(err: unknown, operation: string): AwsCallError | KeyctlError {
  // keyctl's own errors raised inside the SDK (the MFA prompt of a credential provider) pass as they are.
  if (err instanceof AwsCallError || err instanceof KeyctlError) return err;
  if (!err || typeof err !== "object") return new AwsCallError("Unknown", operation, String(err));
  const name = typeof field(err, "name") === "string" ? (field(err, "name") as string) : "Error";
  const code = typeof field(err, "code") === "string" ? (field(err, "code") as string) : undefined;
  const message = err instanceof Error ? err.message : String(err);
  const metadata = field(err, "$metadata");
  const hasResponse =
    metadata !== null &&
    typeof metadata === "object" &&
    typeof field(metadata, "httpStatusCode") === "number";
  if (
    (code && NETWORK_CODES.has(code)) ||
    name === "TimeoutError" ||
    (!hasResponse && name !== "CredentialsProviderError" && field(err, "$fault") === undefined)
  ) {
    return new AwsCallError("Network", operation, message || name, true);
  }
  if (name === "CredentialsProviderError") return new AwsCallError("Credentials", operation, message);
  const wire = name.endsWith("Exception") ? name.slice(0, -"Exception".length) : name;
  const status = hasResponse ? (field(metadata as object, "httpStatusCode") as number) : 0;
  return new AwsCallError(wire, operation, message, status >= 500);
}

export async function call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toAwsCallError(err, operation);
  }
}

/** IAM is global: any region of the partition works, and none configured means the aws partition. */
export function resolveRegion(
  profileRegion: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string {
  return env.AWS_REGION || profileRegion || "us-east-1";
}

export type Credentials = StaticCredentials | AwsCredentialIdentityProvider;

/** What every client of keyctl shares: the region, these credentials, timeouts, and the retries. */
export function clientConfig(credentials: Credentials, region: string, maxAttempts?: number) {
  return {
    region,
    credentials: credentials as AwsCredentialIdentity | AwsCredentialIdentityProvider,
    requestHandler: REQUEST_HANDLER,
    ...(maxAttempts ? { maxAttempts } : {}),
  };
}

function stsClient(credentials: Credentials, region: string, maxAttempts?: number): STSClient {
  return new STSClient(clientConfig(credentials, region, maxAttempts));
}

/**
 * IAM's client module loads on the first IAM call: the first AWS call of a rotation is STS
 * GetCallerIdentity, and it should not wait for a client it does not use.
 */
export function createIam(credentials: Credentials, region: string): IamPort {
  let port: Promise<IamPort> | undefined;
  const get = () => {
    port ??= import("./iam.js").then((m) => m.createIamPort(credentials, region));
    return port;
  };
  return {
    listAccessKeys: async (userName) => (await get()).listAccessKeys(userName),
    createAccessKey: async (userName) => (await get()).createAccessKey(userName),
    updateAccessKey: async (userName, id, status) => (await get()).updateAccessKey(userName, id, status),
    deleteAccessKey: async (userName, id) => (await get()).deleteAccessKey(userName, id),
    getAccessKeyLastUsed: async (id) => (await get()).getAccessKeyLastUsed(id),
    listUsers: async () => (await get()).listUsers(),
  };
}

function toIdentity(out: { Arn?: string; Account?: string; UserId?: string }): CallerIdentity {
  return { arn: out.Arn ?? "", account: out.Account ?? "", userId: out.UserId ?? "" };
}

export function createSts(region: string): StsPort {
  return {
    callerIdentity: (credentials) =>
      call("GetCallerIdentity", async () =>
        toIdentity(await stsClient(credentials, region, 1).send(new GetCallerIdentityCommand({}))),
      ),
  };
}

/** Identity of a credentials provider (auth profiles of any kind). */
export async function providerIdentity(credentials: Credentials, region: string): Promise<CallerIdentity> {
  return call("GetCallerIdentity", async () =>
    toIdentity(await stsClient(credentials, region).send(new GetCallerIdentityCommand({}))),
  );
}

/** A short MFA session for IAM calls that a policy guards with aws:MultiFactorAuthPresent. */
export async function mfaSession(
  credentials: StaticCredentials,
  region: string,
  serialNumber: string,
  tokenCode: string,
): Promise<StaticCredentials> {
  return call("GetSessionToken", async () => {
    const out = await stsClient(credentials, region).send(
      new GetSessionTokenCommand({ SerialNumber: serialNumber, TokenCode: tokenCode, DurationSeconds: 900 }),
    );
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken) {
      throw new AwsCallError("InvalidResponse", "GetSessionToken", "STS answered without credentials");
    }
    return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken };
  });
}

/** Credentials of a profile that only the SDK knows how to resolve (assume-role, SSO, process). */
export async function profileProvider(options: {
  profile: string;
  credentialsFile: string;
  configFile: string;
  region: string;
  mfaCode: (serial: string) => Promise<string>;
  operation?: string | undefined;
}): Promise<AwsCredentialIdentityProvider> {
  const { fromIni } = await import("@aws-sdk/credential-providers");
  const provider = fromIni({
    profile: options.profile,
    filepath: options.credentialsFile,
    configFilepath: options.configFile,
    ignoreCache: true,
    mfaCodeProvider: options.mfaCode,
    clientConfig: { region: options.region },
  });
  // The provider runs inside the first call it signs: its own failure (AssumeRole refused, say)
  // must be reported as that call, not as the GetCallerIdentity that happened to need credentials.
  const operation = options.operation ?? "loading the auth profile's credentials";
  return (identity) => call(operation, () => provider(identity));
}

/** The call a profile's SDK credential provider makes, for error messages. */
export function providerOperation(settings: ReadonlyMap<string, string>): string | undefined {
  if (settings.has("role_arn"))
    return settings.has("web_identity_token_file") ? "AssumeRoleWithWebIdentity" : "AssumeRole";
  if (settings.has("sso_session") || settings.has("sso_start_url")) return "SSO GetRoleCredentials";
  if (settings.has("credential_process")) return "credential_process";
  return undefined;
}
