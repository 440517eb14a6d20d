import { KeyctlError, UnexpectedError } from "../errors.js";
import { isAwsCallError, LOADING_CREDENTIALS, NoAnswerError, ProxyUnreachableError } from "./ports.js";

// The error vocabulary: what a failed AWS call means (may it be tried again, was the key refused,
// did IAM definitely not act) and the words the user reads for it, in this one place. The SDK
// adapter (aws/client.ts) only maps what the SDK threw to an AwsCallError's wire code.

/** System error codes the SDK adapter reads as "could not reach AWS" (no HTTP answer came). */
export const NETWORK_ERRNO: ReadonlySet<string> = new Set([
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

/** Of those, the ones where no connection was made: to the proxy, when one is in the way. */
export const CONNECT_ERRNO: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);

/**
 * - no-answer: nothing came back within the call's bound; IAM may have acted, and asking again
 *   would only repeat the wait, so no caller retries it.
 * - network: the connection failed or dropped; worth another try for a call that changes nothing.
 * - throttled: IAM refused for its rate and did not act; any call may be tried again.
 * - service: AWS failed on its side; passing, like throttled, but IAM may have acted.
 * - key-refused: the signing key is unknown, inactive or its secret wrong.
 * - expired / denied: the session ended; the signer may not make this call.
 * - limit: the definite refusal of a third key (IAM made nothing).
 * - refused: any other definite answer; not-aws: not an AWS call's failure at all.
 */
export type FailureKind =
  | "no-answer"
  | "network"
  | "throttled"
  | "service"
  | "key-refused"
  | "expired"
  | "denied"
  | "limit"
  | "refused"
  | "not-aws";

export function failureKind(err: unknown): FailureKind {
  if (!isAwsCallError(err)) return "not-aws";
  if (err instanceof NoAnswerError) return "no-answer";
  switch (err.code) {
    case "Network":
      return "network";
    case "Throttling":
      return "throttled";
    case "ServiceFailure":
    case "InternalFailure":
    case "ServiceUnavailable":
      return "service";
    case "InvalidClientTokenId":
    case "SignatureDoesNotMatch":
      return "key-refused";
    case "ExpiredToken":
      return "expired";
    case "AccessDenied":
      return "denied";
    case "LimitExceeded":
      return "limit";
    default:
      return "refused";
  }
}

/** A call that changes nothing may be sent again after this failure. */
export function passingFailure(err: unknown): boolean {
  const kind = failureKind(err);
  return kind === "network" || kind === "throttled" || kind === "service";
}

/**
 * A call that changes IAM (CreateAccessKey) is sent again only when IAM said it did not act: any
 * other failure may hide a key that was made.
 */
export function didNotAct(err: unknown): boolean {
  return failureKind(err) === "throttled";
}

/** The signature or the permission was refused: the key in hand does not prove who it is. */
export function signerRefused(err: unknown, options: { expired?: boolean } = {}): boolean {
  const kind = failureKind(err);
  return kind === "key-refused" || kind === "denied" || (options.expired === true && kind === "expired");
}

/**
 * The failure of a key's check in a few words: the code alone when it says it all (a fresh key
 * IAM does not know yet, a passing or network failure, a refusal), else the code and AWS's words.
 */
export function shortFailure(err: unknown): string {
  if (!isAwsCallError(err)) return String(err);
  const kind = failureKind(err);
  const plain =
    err.code === "InvalidClientTokenId" ||
    kind === "denied" ||
    kind === "network" ||
    kind === "no-answer" ||
    kind === "throttled" ||
    kind === "service";
  return plain ? err.code : `${err.code}: ${err.message}`;
}

export function describeAwsError(err: unknown, userName?: string): string {
  if (err instanceof KeyctlError) return err.message;
  if (!isAwsCallError(err)) return err instanceof Error ? err.message : String(err);
  const op = err.operation;
  if (err instanceof ProxyUnreachableError)
    return `Could not reach the proxy ${err.proxy} for ${op} (${err.message}); check ${err.variable} and NO_PROXY, then run again.`;
  const who = userName ? ` for IAM user ${userName}` : "";
  switch (err.code) {
    case "AccessDenied":
      if (op.startsWith("AssumeRole"))
        return `STS refused ${op} for the auth profile (AccessDenied); check its role_arn, its source profile's permission to assume the role and the role's trust policy.`;
      return `IAM refused ${op}${who} (AccessDenied); give the auth profile the keyctl policy (see policies/ in the README).${awsReason(err.message)}`;
    case "InvalidClientTokenId":
      return `AWS does not know the key that signed ${op} (InvalidClientTokenId): it was deleted, deactivated or belongs to another partition; fix the auth profile's key.`;
    case "SignatureDoesNotMatch":
      return `AWS rejected the signature of ${op} (SignatureDoesNotMatch): the profile's secret key does not match its key id.`;
    case "ExpiredToken":
      return `The auth profile's session expired (${op}); sign in again (aws sso login, or a new MFA code).`;
    case "Throttling":
      return `AWS throttled ${op} (Rate exceeded); wait a minute and run again.`;
    case "LimitExceeded":
      return `IAM user${userName ? ` ${userName}` : ""} already has the maximum of 2 access keys (${op}); see keyctl -k.`;
    case "NoSuchEntity":
      return `IAM has no such user or key (${op})${who}.`;
    case "Network":
      return `Could not reach AWS for ${op} (${err.message}); check the network or AWS_ENDPOINT_URL and run again.`;
    case "Credentials":
      return `Could not load the auth profile's credentials${op === LOADING_CREDENTIALS ? "" : ` (${op})`}: ${err.message}`;
    case "ServiceFailure":
    case "InternalFailure":
    case "ServiceUnavailable":
      return `AWS failed ${op} on its side (${err.code}); run again later.`;
    default:
      return `AWS refused ${op}${who}: ${err.code}: ${err.message}`;
  }
}

/**
 * AWS's own words name what the user must fix (an SCP's explicit deny, a permissions boundary, no
 * policy at all). They hold ARNs, never a secret; anything shaped like a secret key is masked anyway,
 * and the text is kept to one short line.
 */
function awsReason(message: string): string {
  const text = message
    .replace(/(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])/g, "****")
    .replace(/\s+/g, " ")
    .trim();
  if (text === "" || text === "AccessDenied") return "";
  const short = text.length > 400 ? `${text.slice(0, 399)}…` : text;
  return ` AWS says: ${short}${/[.!?…]$/.test(short) ? "" : "."}`;
}

/**
 * Wraps an AWS failure outside the rotation's own compensation into a one-line KeyctlError. Only
 * an AwsCallError is a failure the user can act on; anything else is a bug in keyctl and is reported
 * as one, never dressed up as "nothing was changed".
 */
export function awsFailure(err: unknown, userName?: string, suffix = ""): KeyctlError {
  if (err instanceof KeyctlError) return err;
  if (!isAwsCallError(err)) return new UnexpectedError(err);
  return new KeyctlError(`${describeAwsError(err, userName)}${suffix}`);
}
