import { readFile } from "node:fs/promises";
import type { AuthSession, CallerIdentity, StaticCredentials, StsPort } from "../engine/ports.js";
import { errnoCode, KeyctlError, UsageError } from "../errors.js";
import { CredentialsDocument } from "../ini/document.js";
import {
  createIam,
  createSts,
  mfaSession,
  profileProvider,
  providerIdentity,
  providerOperation,
} from "./sdk.js";
import { resolveSettings } from "./settings.js";

export interface SessionOptions {
  readonly profile: string;
  readonly credentials: CredentialsDocument;
  readonly credentialsPath: string;
  readonly configPath: string;
  readonly mfaCode?: string;
  /** Asks for an MFA code on the terminal; undefined when nobody can answer. */
  readonly promptMfa?: (serial: string) => Promise<string>;
}

export interface Sessions {
  readonly auth: AuthSession;
  readonly sts: StsPort;
  readonly region: string;
}

async function readConfig(path: string): Promise<CredentialsDocument | undefined> {
  try {
    return CredentialsDocument.parse(await readFile(path, "utf8"));
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return undefined;
    throw new KeyctlError(`Cannot read the AWS config file ${path}: ${errnoCode(err) ?? String(err)}`);
  }
}

/** A profile's settings the way the SDK merges them: config file first, credentials file wins. */
export function mergedSettings(
  profile: string,
  credentials: CredentialsDocument,
  config: CredentialsDocument | undefined,
): Map<string, string> | undefined {
  // The SDKs and botocore read `[profile default]` as default too, where `[default]` is absent.
  const fromConfig =
    profile === "default"
      ? (config?.profile("default") ?? config?.profile("profile default"))
      : config?.profile(`profile ${profile}`);
  const fromCredentials = credentials.profile(profile);
  if (!fromConfig && !fromCredentials) return undefined;
  return new Map([...(fromConfig ?? []), ...(fromCredentials ?? [])]);
}

function memo<T>(fn: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => {
    value ??= fn();
    return value;
  };
}

/** Builds the IAM session of the auth profile, whatever kind of profile it is. */
export async function openSessions(options: SessionOptions): Promise<Sessions> {
  const config = await readConfig(options.configPath);
  const settings = mergedSettings(options.profile, options.credentials, config);
  if (!settings) {
    throw new KeyctlError(
      `Auth profile ${options.profile} is in neither ${options.credentialsPath} nor ${options.configPath}; see keyctl --list.`,
    );
  }
  const aws = resolveSettings(settings, config, process.env, options.profile);
  const region = aws.region;
  const sts = createSts(aws);
  const id = settings.get("aws_access_key_id");
  const secret = settings.get("aws_secret_access_key");
  const askCode = async (serial: string): Promise<string> => {
    if (options.mfaCode) return options.mfaCode;
    if (options.promptMfa) return options.promptMfa(serial);
    throw new UsageError(
      `Auth profile ${options.profile} needs an MFA code (${serial}); pass --mfa-code CODE.`,
    );
  };

  if (id && secret && !settings.has("role_arn")) {
    const token = settings.get("aws_session_token");
    const longTerm: StaticCredentials = {
      accessKeyId: id,
      secretAccessKey: secret,
      ...(token ? { sessionToken: token } : {}),
    };
    const serial = settings.get("mfa_serial");
    // Retried like the IAM calls: one throttle must not fail the account check.
    const identity = memo<CallerIdentity>(() => providerIdentity(longTerm, aws));
    if (serial && !token) {
      const code = await askCode(serial);
      const session = await mfaSession(longTerm, aws, serial, code);
      return {
        auth: { profile: options.profile, iam: createIam(session, aws), identity, signingKeyId: id },
        sts,
        region,
      };
    }
    return {
      auth: {
        profile: options.profile,
        iam: createIam(longTerm, aws),
        identity,
        ...(token ? {} : { signingKeyId: id }),
      },
      sts,
      region,
    };
  }

  const provider = await profileProvider({
    profile: options.profile,
    credentialsFile: options.credentialsPath,
    configFile: options.configPath,
    settings: aws,
    mfaCode: askCode,
    operation: providerOperation(settings),
  });
  return {
    auth: {
      profile: options.profile,
      iam: createIam(provider, aws),
      identity: memo(() => providerIdentity(provider, aws)),
    },
    sts,
    region,
  };
}
