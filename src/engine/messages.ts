import { KeyctlError, UnexpectedError } from "../errors.js";
import { isAwsCallError, LOADING_CREDENTIALS, ProxyUnreachableError } from "./ports.js";

// AWS failures are translated to what the user should do next in this one place.

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
