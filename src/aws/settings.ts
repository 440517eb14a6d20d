// Everything an AWS client needs, resolved by keyctl from the environment and the auth profile the
// way the AWS CLI and SDKs document it, and handed to every client explicitly: the SDK then never
// re-reads ~/.aws/config or ~/.aws/credentials (each client's config load would parse both again).

import { KeyctlError } from "../errors.js";
import type { CredentialsDocument } from "../ini/document.js";

export type ServiceId = "iam" | "sts";
export type RetryMode = "standard" | "adaptive";

export interface AwsSettings {
  /** The configured region: STS is called at its regional endpoint. */
  readonly region: string;
  /** IAM's signing region: one global region per partition. */
  readonly iamRegion: string;
  readonly endpoints: Readonly<Partial<Record<ServiceId, string>>>;
  readonly maxAttempts: number;
  readonly retryMode: RetryMode;
  readonly useFips: boolean;
  readonly useDualstack: boolean;
  readonly disableClockSkewCorrection: boolean;
  /** PEM file of the CAs to trust instead of Node's bundled ones. */
  readonly caBundle?: string;
}

/** Region prefix → the partition's global IAM region, most specific prefix first. */
const IAM_REGION_BY_PREFIX: readonly (readonly [string, string])[] = [
  ["us-gov-", "us-gov-west-1"],
  ["cn-", "cn-north-1"],
  ["us-isob-", "us-isob-east-1"],
  ["us-isof-", "us-isof-south-1"],
  ["us-iso-", "us-iso-east-1"],
  ["eu-isoe-", "eu-isoe-west-1"],
  ["eusc-", "eusc-de-east-1"],
];

export function iamRegionFor(region: string): string {
  return IAM_REGION_BY_PREFIX.find(([prefix]) => region.startsWith(prefix))?.[1] ?? "us-east-1";
}

/** AWS_REGION (the SDKs'), then AWS_DEFAULT_REGION (the AWS CLI's), then the profile, then aws. */
export function resolveRegion(
  profileRegion: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string {
  return env.AWS_REGION || env.AWS_DEFAULT_REGION || profileRegion || "us-east-1";
}

function isTrue(value: string | undefined): boolean {
  return value?.trim().toLowerCase() === "true";
}

/**
 * The SDKs' order for a service's endpoint: AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, the
 * `<service>.endpoint_url` of the profile's `services` section, the profile's `endpoint_url`; none
 * of them when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS (or the profile's setting) is true.
 */
export function resolveEndpoint(
  service: ServiceId,
  settings: ReadonlyMap<string, string>,
  config: CredentialsDocument | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (flag(env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS, settings.get("ignore_configured_endpoint_urls")))
    return undefined;
  const fromEnv = env[`AWS_ENDPOINT_URL_${service.toUpperCase()}`] || env.AWS_ENDPOINT_URL;
  if (fromEnv) return fromEnv;
  const services = settings.get("services");
  if (services) {
    const section = config?.profile(`services ${services}`);
    const url = section?.get(`${service}.endpoint_url`);
    if (url) return url;
  }
  return settings.get("endpoint_url") || undefined;
}

/** An environment variable, when set, wins over the profile's setting. */
function flag(fromEnv: string | undefined, fromProfile: string | undefined): boolean {
  return fromEnv !== undefined && fromEnv !== "" ? isTrue(fromEnv) : isTrue(fromProfile);
}

function attempts(raw: string | undefined): number | undefined {
  const n = raw ? Number(raw) : Number.NaN;
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/**
 * A region is one host-name label (the SDK puts it into the endpoint's host); anything else, such
 * as `us east`, is refused here as the setting it is, where the SDK would fail as if the network did.
 */
function checkRegion(region: string, env: NodeJS.ProcessEnv, profile: string | undefined): void {
  if (/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/i.test(region)) return;
  const example = "(such as us-east-1 or eu-west-1)";
  for (const name of ["AWS_REGION", "AWS_DEFAULT_REGION"] as const) {
    if (env[name] === region)
      throw new KeyctlError(
        `${name}=${JSON.stringify(region)} is not an AWS region ${example}; fix or unset ${name}.`,
      );
  }
  throw new KeyctlError(
    `region = ${region} in profile ${profile ?? "(the auth profile)"} is not an AWS region ${example}; fix it in the AWS config file.`,
  );
}

/** Retries default to the SDK's 3 attempts, in adaptive mode so that throttling slows keyctl down. */
export function resolveSettings(
  settings: ReadonlyMap<string, string>,
  config: CredentialsDocument | undefined,
  env: NodeJS.ProcessEnv = process.env,
  /** The profile the settings are of, to name it in a message. */
  profile?: string,
): AwsSettings {
  const region = resolveRegion(settings.get("region"), env);
  checkRegion(region, env, profile);
  const mode = (env.AWS_RETRY_MODE || settings.get("retry_mode"))?.toLowerCase();
  const endpoints: Partial<Record<ServiceId, string>> = {};
  for (const service of ["iam", "sts"] as const) {
    const url = resolveEndpoint(service, settings, config, env);
    if (url) endpoints[service] = url;
  }
  const caBundle = env.AWS_CA_BUNDLE || settings.get("ca_bundle");
  return {
    region,
    iamRegion: iamRegionFor(region),
    endpoints,
    maxAttempts: attempts(env.AWS_MAX_ATTEMPTS) ?? attempts(settings.get("max_attempts")) ?? 3,
    retryMode: mode === "standard" ? "standard" : "adaptive",
    useFips: flag(env.AWS_USE_FIPS_ENDPOINT, settings.get("use_fips_endpoint")),
    useDualstack: flag(env.AWS_USE_DUALSTACK_ENDPOINT, settings.get("use_dualstack_endpoint")),
    disableClockSkewCorrection: flag(
      env.AWS_DISABLE_CLOCK_SKEW_CORRECTION,
      settings.get("disable_clock_skew_correction"),
    ),
    ...(caBundle ? { caBundle } : {}),
  };
}
