// With iam.ts, the only code that imports the AWS SDK. It is loaded lazily (a separate bundle chunk), so
// `keyctl --help` and `--list` never pay for it. SDK errors become AwsCallError here and nowhere else.

import {
  AssumeRoleCommand,
  type AssumeRoleCommandInput,
  AssumeRoleWithWebIdentityCommand,
  type AssumeRoleWithWebIdentityCommandInput,
  GetCallerIdentityCommand,
  GetSessionTokenCommand,
  STSClient,
  type Credentials as StsCredentials,
} from "@aws-sdk/client-sts";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@aws-sdk/types";
import { CONNECT_ERRNO, NETWORK_ERRNO } from "../engine/messages.js";
import {
  AWS_CALL_TIMEOUT_MS,
  AwsCallError,
  type CallerIdentity,
  type IamPort,
  LOADING_CREDENTIALS,
  NoAnswerError,
  ProxyUnreachableError,
  type StaticCredentials,
  type StsPort,
} from "../engine/ports.js";
import { KeyctlError } from "../errors.js";
import { callStarted } from "../util/interrupt.js";
import { proxyOf, sharedRequestHandler } from "./http.js";
import type { AwsSettings, ServiceId } from "./settings.js";

// The endpoint (or a TLS-inspecting proxy) shows a certificate Node's CAs do not vouch for.
const TLS_TRUST_CODES = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_UNTRUSTED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

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
  if (code && TLS_TRUST_CODES.has(code)) {
    // Refused before the request was sent: not ambiguous.
    return new AwsCallError(
      "Network",
      operation,
      `the TLS certificate is not trusted: ${message}; if a private CA or a TLS-inspecting proxy signs it, set AWS_CA_BUNDLE (or ca_bundle in the profile) to that CA's PEM file`,
    );
  }
  // The handler's own timeouts carry no code; it also names a reset connection (ECONNRESET, EPIPE)
  // "TimeoutError", which is a dropped connection worth another try, not a hang.
  if (name === "TimeoutError" && code === undefined) return new NoAnswerError(operation);
  const proxy = code && CONNECT_ERRNO.has(code) ? proxyOf(err) : undefined;
  if (proxy) return new ProxyUnreachableError(operation, proxy.url, proxy.variable, message);
  if (
    (code && NETWORK_ERRNO.has(code)) ||
    (!hasResponse && name !== "CredentialsProviderError" && field(err, "$fault") === undefined)
  ) {
    return new AwsCallError("Network", operation, message || name, true);
  }
  if (hasResponse && field(metadata as object, "httpStatusCode") === 407) {
    return new AwsCallError(
      "Network",
      operation,
      "the proxy refused the request (407 Proxy Authentication Required); give its user and password in the proxy URL, e.g. HTTPS_PROXY=http://user:password@proxy:3128",
    );
  }
  if (name === "CredentialsProviderError") return new AwsCallError("Credentials", operation, message);
  const wire = name.endsWith("Exception") ? name.slice(0, -"Exception".length) : name;
  const status = hasResponse ? (field(metadata as object, "httpStatusCode") as number) : 0;
  return new AwsCallError(wire, operation, message, status >= 500);
}

/** What `call` hands each request it sends: the call's deadline. */
export interface CallOptions {
  readonly abortSignal: AbortSignal;
}

/**
 * One AWS call, bounded as a whole by AWS_CALL_TIMEOUT_MS: the SDK's retries share that bound
 * rather than each getting a full one, so a hung network ends in one timeout (what the message says
 * and what a signal waits for), not three.
 */
export async function call<T>(operation: string, fn: (options: CallOptions) => Promise<T>): Promise<T> {
  const done = callStarted(operation, AWS_CALL_TIMEOUT_MS);
  const deadline = AbortSignal.timeout(AWS_CALL_TIMEOUT_MS);
  try {
    return await fn({ abortSignal: deadline });
  } catch (err) {
    throw deadline.aborted ? new NoAnswerError(operation) : toAwsCallError(err, operation);
  } finally {
    done();
  }
}

export type Credentials = StaticCredentials | AwsCredentialIdentityProvider;

/**
 * What every client of keyctl is given: the shared request handler, and every setting the SDK would
 * otherwise look up in the environment and the shared files (it re-reads them per client).
 */
export function clientConfig(
  credentials: Credentials,
  settings: AwsSettings,
  service: ServiceId,
  maxAttempts?: number,
) {
  const endpoint = settings.endpoints[service];
  return {
    region: service === "iam" ? settings.iamRegion : settings.region,
    credentials: credentials as AwsCredentialIdentity | AwsCredentialIdentityProvider,
    requestHandler: sharedRequestHandler(settings.caBundle),
    maxAttempts: maxAttempts ?? settings.maxAttempts,
    retryMode: settings.retryMode,
    ...(endpoint ? { endpoint } : {}),
    // keyctl resolved the configured endpoints itself (settings.ts), the same way the SDK does.
    ignoreConfiguredEndpointUrls: true,
    useFipsEndpoint: settings.useFips,
    useDualstackEndpoint: settings.useDualstack,
    disableClockSkewCorrection: settings.disableClockSkewCorrection,
    defaultsMode: "legacy" as const,
    userAgentAppId: "",
    authSchemePreference: [],
    sigv4aSigningRegionSet: [],
  };
}

/** STS clients by credentials, then attempts: each client resolves its config once, then is reused. */
const stsClients = new Map<unknown, Map<string, STSClient>>();

function stsClient(credentials: Credentials, settings: AwsSettings, maxAttempts?: number): STSClient {
  const who =
    typeof credentials === "function"
      ? credentials
      : `${credentials.accessKeyId}\0${credentials.secretAccessKey}\0${credentials.sessionToken ?? ""}`;
  let clients = stsClients.get(who);
  if (!clients) {
    clients = new Map();
    stsClients.set(who, clients);
  }
  const key = `${maxAttempts ?? ""}\0${settings.region}\0${settings.endpoints.sts ?? ""}\0${settings.caBundle ?? ""}`;
  let client = clients.get(key);
  if (!client) {
    client = new STSClient(clientConfig(credentials, settings, "sts", maxAttempts));
    clients.set(key, client);
  }
  return client;
}

/**
 * IAM's client module loads on the first IAM call: the first AWS call of a rotation is STS
 * GetCallerIdentity, and it should not wait for a client it does not use.
 */
export function createIam(credentials: Credentials, settings: AwsSettings): Required<IamPort> {
  let port: Promise<Required<IamPort>> | undefined;
  const get = () => {
    port ??= import("./iam.js").then((m) => m.createIamPort(credentials, settings));
    return port;
  };
  return {
    listAccessKeys: async (userName) => (await get()).listAccessKeys(userName),
    listOwnAccessKeys: async () => (await get()).listOwnAccessKeys(),
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

export function createSts(settings: AwsSettings): StsPort {
  return {
    callerIdentity: (credentials) =>
      call("GetCallerIdentity", async (options) =>
        toIdentity(await stsClient(credentials, settings, 1).send(new GetCallerIdentityCommand({}), options)),
      ),
  };
}

/** Identity of a credentials provider (auth profiles of any kind). */
export async function providerIdentity(
  credentials: Credentials,
  settings: AwsSettings,
): Promise<CallerIdentity> {
  return call("GetCallerIdentity", async (options) =>
    toIdentity(await stsClient(credentials, settings).send(new GetCallerIdentityCommand({}), options)),
  );
}

/** A short MFA session for IAM calls that a policy guards with aws:MultiFactorAuthPresent. */
export async function mfaSession(
  credentials: StaticCredentials,
  settings: AwsSettings,
  serialNumber: string,
  tokenCode: string,
): Promise<StaticCredentials> {
  return call("GetSessionToken", async (options) => {
    const out = await stsClient(credentials, settings).send(
      new GetSessionTokenCommand({ SerialNumber: serialNumber, TokenCode: tokenCode, DurationSeconds: 900 }),
      options,
    );
    return sessionCredentials(out.Credentials, "GetSessionToken");
  });
}

function sessionCredentials(
  c: StsCredentials | undefined,
  operation: string,
): StaticCredentials & { expiration?: Date } {
  if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken) {
    throw new AwsCallError("InvalidResponse", operation, "STS answered without credentials");
  }
  return {
    accessKeyId: c.AccessKeyId,
    secretAccessKey: c.SecretAccessKey,
    sessionToken: c.SessionToken,
    ...(c.Expiration ? { expiration: c.Expiration } : {}),
  };
}

/** AssumeRoleWithWebIdentity is unsigned: the STS client never asks for these. */
const UNSIGNED: AwsCredentialIdentityProvider = () =>
  Promise.reject(new Error("AssumeRoleWithWebIdentity needs no credentials"));

/**
 * The STS calls of assume-role and web-identity profiles, made by keyctl's own STS clients: the
 * SDK's default role assumers build clients that miss keyctl's endpoint, retries and settings.
 */
function roleAssumers(settings: AwsSettings) {
  return {
    roleAssumer: async (source: AwsCredentialIdentity, params: AssumeRoleCommandInput) =>
      sessionCredentials(
        (await stsClient(source, settings).send(new AssumeRoleCommand(params))).Credentials,
        "AssumeRole",
      ),
    roleAssumerWithWebIdentity: async (params: AssumeRoleWithWebIdentityCommandInput) =>
      sessionCredentials(
        (await stsClient(UNSIGNED, settings).send(new AssumeRoleWithWebIdentityCommand(params))).Credentials,
        "AssumeRoleWithWebIdentity",
      ),
  };
}

/** Credentials of a profile that only the SDK knows how to resolve (assume-role, SSO, process). */
export async function profileProvider(options: {
  profile: string;
  credentialsFile: string;
  configFile: string;
  settings: AwsSettings;
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
    ...roleAssumers(options.settings),
    // The SSO portal client shares the run's connections (proxy, CA bundle, timeouts) and retries;
    // its region stays the profile's sso_region, and it is no STS endpoint.
    clientConfig: {
      requestHandler: sharedRequestHandler(options.settings.caBundle),
      maxAttempts: options.settings.maxAttempts,
      retryMode: options.settings.retryMode,
    },
  });
  // The provider runs inside the first call it signs: its own failure (AssumeRole refused, say)
  // must be reported as that call, not as the GetCallerIdentity that happened to need credentials.
  const operation = options.operation ?? LOADING_CREDENTIALS;
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
