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

/** The comment keyctl writes into every `-previous` section it keeps, naming the profile it belongs to. */
export function previousMarker(profile: string): string {
  return `# keyctl: previous key of [${profile}]`;
}

/**
 * Whether section `name` is keyctl's own copy of an older key (the offline rule, for --list, the menu
 * and --all): its base profile exists and it carries keyctl's marker for that profile. A section that
 * only looks like one — a user's own `foo-previous`, or a copy older keyctl versions wrote without
 * the marker — is an ordinary profile until a rotation of the base proves it keyctl's and marks it.
 */
export function isKeyctlCopy(doc: ProfileReader, name: string): boolean {
  if (!isPreviousProfile(name)) return false;
  const base = name.slice(0, -PREVIOUS_SUFFIX.length);
  if (!doc.has(base)) return false;
  const marker = previousMarker(base);
  return doc.commentLines(name).some((line) => line.trim() === marker);
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
    .filter((name) => !isKeyctlCopy(doc, name))
    .map((name) => {
      const settings = doc.profile(name) ?? new Map<string, string>();
      const kind = credentialKind(settings);
      const accessKeyId = settings.get("aws_access_key_id");
      return kind === "none" || !accessKeyId ? { name, kind } : { name, kind, accessKeyId };
    });
}

/**
 * Key id → the profiles holding it, in file order. Without `-previous` copies unless asked: those
 * hold a key for keyctl's own bookkeeping, not because something signs with it. Computed once per
 * text of the document (a rotation asks several times); not to be changed.
 */
export function keyHolders(
  doc: CredentialsDocument,
  options: { withPrevious?: boolean } = {},
): ReadonlyMap<string, readonly string[]> {
  const withPrevious = options.withPrevious === true;
  return doc.memo(withPrevious ? "key holders with previous" : "key holders", () => {
    // One pass, appending in place: on a file of thousands of profiles a copied list per profile
    // was most of a rotation's look-ups.
    const holders = new Map<string, string[]>();
    for (const name of doc.profileNames()) {
      const id = doc.get(name, "aws_access_key_id");
      if (!id || (!withPrevious && isKeyctlCopy(doc, name))) continue;
      const list = holders.get(id);
      if (list) list.push(name);
      else holders.set(id, [name]);
    }
    return holders;
  });
}

/**
 * Key id → the AWS config file's profiles holding it (`[default]`, `[profile x]`), named as a user
 * reads them. Setting names are matched case-insensitively, as the AWS CLI does.
 */
export function configKeyHolders(config: CredentialsDocument): Map<string, string[]> {
  const holders = new Map<string, string[]>();
  for (const section of config.profileNames()) {
    const name = section === "default" ? "default" : /^profile\s+(.+)$/.exec(section)?.[1]?.trim();
    if (name === undefined) continue;
    let id: string | undefined;
    for (const [key, value] of config.profile(section) ?? []) {
      if (key.toLowerCase() === "aws_access_key_id") id = value;
    }
    if (id) holders.set(id, [...(holders.get(id) ?? []), `profile ${name} of the AWS config file`]);
  }
  return holders;
}
