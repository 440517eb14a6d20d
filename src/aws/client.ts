// The part of the SDK adapter every client shares: the bound on one call, the mapping of whatever
// the SDK threw to an AwsCallError, and the configuration each client is given. sdk.ts (STS, the
// credential providers) and iam.ts (loaded on the first IAM call) both build on it.

import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@aws-sdk/types";
import { CONNECT_ERRNO, NETWORK_ERRNO } from "../engine/messages.js";
import {
  AWS_CALL_TIMEOUT_MS,
  AwsCallError,
  NoAnswerError,
  ProxyUnreachableError,
  type StaticCredentials,
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
