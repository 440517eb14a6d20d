// The AWS config file as a second place for keys, read by the AWS CLI's rules: static keys may sit
// in `[profile P]` of AWS_CONFIG_FILE, and where the credentials file holds a key for P too, that
// one wins. Profiles that only authenticate (assume-role, SSO, credential_process) live there too.
import { readFile, stat } from "node:fs/promises";
import { errnoCode, fileErrorMessage, KeyctlError } from "../errors.js";
import { CredentialsDocument, type ProfileReader } from "../ini/document.js";
import {
  type CredentialKind,
  configKeyHolders,
  credentialKind,
  isPreviousProfile,
  keyHolders,
} from "../profiles.js";
import { configPath } from "./paths.js";
import { type CredentialsFile, CredentialsStore } from "./store.js";

export interface KeySource {
  readonly store: CredentialsStore;
  readonly file: CredentialsFile;
}

/** The config file's store, or undefined when there is no config file. */
export async function configStore(path: string): Promise<CredentialsStore | undefined> {
  try {
    await stat(path);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return undefined;
    throw new KeyctlError(fileErrorMessage(err, "reading", path));
  }
  return new CredentialsStore(path, { flavour: "config" });
}

/** The config file as an editable store, or undefined when there is none. */
export async function readConfigSource(path: string): Promise<KeySource | undefined> {
  const store = await configStore(path);
  return store ? { store, file: await store.read() } : undefined;
}

/** The settings a listing reads: the kind of key, and how a profile without one signs in. */
export const LISTED_KEYS: ReadonlySet<string> = new Set([
  "aws_access_key_id",
  "aws_secret_access_key",
  "aws_session_token",
  "aws_security_token",
  "role_arn",
  "web_identity_token_file",
  "sso_session",
  "sso_start_url",
  "credential_process",
]);

/** How a profile without a key of its own signs in, when the SDK can make it do so. */
export type AuthKind = "assume-role" | "web-identity" | "sso" | "credential-process";

/** How listings and the menu name each kind. */
export const AUTH_KIND_LABEL: Readonly<Record<AuthKind, string>> = {
  "assume-role": "assume-role",
  "web-identity": "web identity",
  sso: "SSO",
  "credential-process": "credential_process",
};

export function isAuthKind(kind: string): kind is AuthKind {
  return Object.hasOwn(AUTH_KIND_LABEL, kind);
}

export function authKind(settings: ReadonlyMap<string, string>): AuthKind | undefined {
  if (settings.has("role_arn"))
    return settings.has("web_identity_token_file") ? "web-identity" : "assume-role";
  if (settings.has("sso_session") || settings.has("sso_start_url")) return "sso";
  if (settings.has("credential_process")) return "credential-process";
  return undefined;
}

function holdsKey(doc: ProfileReader | undefined, profile: string): boolean {
  return doc?.get(profile, "aws_access_key_id") !== undefined;
}

/** Whether profile P's key is the config file's: only when the credentials file holds none for P. */
export function keyInConfig(
  profile: string,
  credentials: ProfileReader,
  config: ProfileReader | undefined,
): boolean {
  return !holdsKey(credentials, profile) && holdsKey(config, profile);
}

export interface ConfigProfile {
  readonly name: string;
  readonly kind: CredentialKind | AuthKind;
  readonly accessKeyId?: string;
}

/**
 * The config file's profiles that add something to the credentials file's: a key of their own
 * (where the credentials file has none for the name), or a way to sign in without one.
 */
export function configProfiles(
  credentials: ProfileReader,
  config: ProfileReader | undefined,
): ConfigProfile[] {
  if (!config) return [];
  const out: ConfigProfile[] = [];
  for (const name of config.profileNames()) {
    if (isPreviousProfile(name)) continue;
    const settings = config.profile(name) ?? new Map<string, string>();
    if (keyInConfig(name, credentials, config)) {
      const kind = credentialKind(settings);
      const id = settings.get("aws_access_key_id");
      out.push(kind === "none" || !id ? { name, kind } : { name, kind, accessKeyId: id });
      continue;
    }
    const auth = authKind(settings);
    if (auth && !credentials.has(name)) out.push({ name, kind: auth });
  }
  return out;
}

/**
 * The keys the AWS config file's profiles hold, read once per run on first use: they are in use on
 * this machine as much as the credentials file's.
 */
export function configKeysInUse(path = configPath()): () => Promise<ReadonlyMap<string, readonly string[]>> {
  let value: Promise<Map<string, string[]>> | undefined;
  return () => {
    value ??= readFile(path, "utf8").then(
      (text) => configKeyHolders(CredentialsDocument.parse(text)),
      (err: unknown) => {
        if (errnoCode(err) === "ENOENT") return new Map<string, string[]>();
        throw new KeyctlError(
          `Cannot read the AWS config file ${path} (${errnoCode(err) ?? String(err)}); keyctl must know which keys it uses. Fix it or set AWS_CONFIG_FILE.`,
        );
      },
    );
    return value;
  };
}

/**
 * The keys in use on this machine outside the file `store` edits: the config file's when it is the
 * credentials file, and every profile of the credentials file (its `-previous` copies too) when it is
 * the config file. Read once per run, on first use.
 */
export function keysInUseOutside(
  store: CredentialsStore,
  credentials: CredentialsStore,
): () => Promise<ReadonlyMap<string, readonly string[]>> {
  if (store.flavour !== "config") return configKeysInUse();
  let value: Promise<Map<string, string[]>> | undefined;
  return () => {
    value ??= credentials.read({ missingAsEmpty: true }).then((file) => {
      const named = new Map<string, string[]>();
      for (const [id, names] of keyHolders(file.doc, { withPrevious: true }))
        named.set(
          id,
          names.map((n) => `profile ${n} of ${file.path}`),
        );
      return named;
    });
    return value;
  };
}
