import type { CredentialsDocument, ProfileReader } from "./ini/document.js";

export type CredentialKind = "long-term" | "temporary" | "none";

export interface ProfileSummary {
  readonly name: string;
  readonly kind: CredentialKind;
  readonly accessKeyId?: string;
}

export const PREVIOUS_SUFFIX = "-previous";

export function previousName(profile: string): string {
  return `${profile}${PREVIOUS_SUFFIX}`;
}

export function isPreviousProfile(name: string): boolean {
  return name.endsWith(PREVIOUS_SUFFIX) && name.length > PREVIOUS_SUFFIX.length;
}

/** ASIA keys and session tokens are STS credentials: they expire and cannot be rotated. */
export function credentialKind(settings: ReadonlyMap<string, string>): CredentialKind {
  const id = settings.get("aws_access_key_id");
  const secret = settings.get("aws_secret_access_key");
  if (!id || !secret) return "none";
  if (id.startsWith("ASIA") || settings.has("aws_session_token") || settings.has("aws_security_token")) {
    return "temporary";
  }
  return "long-term";
}

/** The profiles of the file in file order, without the `*-previous` copies keyctl keeps. */
export function listProfiles(doc: ProfileReader): ProfileSummary[] {
  return doc
    .profileNames()
    .filter((name) => !isPreviousProfile(name))
    .map((name) => {
      const settings = doc.profile(name) ?? new Map<string, string>();
      const kind = credentialKind(settings);
      const accessKeyId = settings.get("aws_access_key_id");
      return kind === "none" || !accessKeyId ? { name, kind } : { name, kind, accessKeyId };
    });
}

/**
 * Key id → the profiles holding it, in file order. Without `-previous` copies unless asked: those
 * hold a key for keyctl's own bookkeeping, not because something signs with it.
 */
export function keyHolders(
  doc: CredentialsDocument,
  options: { withPrevious?: boolean } = {},
): Map<string, string[]> {
  const holders = new Map<string, string[]>();
  for (const name of doc.profileNames()) {
    const id = doc.get(name, "aws_access_key_id");
    if (!id || (!options.withPrevious && isPreviousProfile(name))) continue;
    holders.set(id, [...(holders.get(id) ?? []), name]);
  }
  return holders;
}
