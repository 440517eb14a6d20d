// STS and the credential providers of the SDK adapter (src/aws/ is the only code that imports the
// AWS SDK). It is loaded lazily (a separate bundle chunk), so `keyctl --help` and `--list` never pay
// for it. SDK errors become AwsCallError in client.ts and nowhere else.

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
import {
  AwsCallError,
  type CallerIdentity,
  type IamPort,
  LOADING_CREDENTIALS,
  type StaticCredentials,
  type StsPort,
} from "../engine/ports.js";
import { type Credentials, call, clientConfig } from "./client.js";
import { sharedRequestHandler } from "./http.js";
import type { AwsSettings } from "./settings.js";

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

function toIdentity(out: {
  Arn?: string | undefined;
  Account?: string | undefined;
  UserId?: string | undefined;
}): CallerIdentity {
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
