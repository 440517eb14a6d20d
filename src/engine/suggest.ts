import { shellQuote } from "../util/shell.js";

// The commands keyctl's messages tell the user to run, written once: a profile name in them is
// always quoted for the shell, so the hint can be pasted as it is.

const q = shellQuote;

/** `keyctl [-a AUTH] -t PROFILE`: the same rotation again. */
export function rotateCommand(profile: string, auth?: string): string {
  return `keyctl ${auth !== undefined ? `-a ${q(auth)} ` : ""}-t ${q(profile)}`;
}

/** `keyctl --finish [-a AUTH] -t P1 [-t P2 ...]`: retire the old key kept in `-previous`. */
export function finishCommand(profiles: string | readonly string[], auth?: string): string {
  const targets = (typeof profiles === "string" ? [profiles] : profiles).map((p) => `-t ${q(p)}`);
  return `keyctl --finish ${auth !== undefined ? `-a ${q(auth)} ` : ""}${targets.join(" ")}`;
}

/** `keyctl -k -t PROFILE`: the profile's IAM keys and which of them it holds. */
export function listKeysCommand(profile: string): string {
  return `keyctl -k -t ${q(profile)}`;
}

/** `aws sts get-caller-identity --profile P`: does the profile's key work. */
export function callerIdentityCommand(profile: string): string {
  return `aws sts get-caller-identity --profile ${q(profile)}`;
}

export function deleteKeyCommand(userName: string, accessKeyId: string): string {
  return `aws iam delete-access-key --user-name ${userName} --access-key-id ${accessKeyId}`;
}

export function deactivateKeyCommand(userName: string, accessKeyId: string): string {
  return `aws iam update-access-key --user-name ${userName} --access-key-id ${accessKeyId} --status Inactive`;
}

export function listAccessKeysCommand(userName: string): string {
  return `aws iam list-access-keys --user-name ${userName}`;
}
