// The AWS SDK for JavaScript's own reading of a credentials file, for parity tests.
//
// `parseIni` is not exported by `@smithy/core/config`, so the text goes through the SDK's public
// loader (`loadSharedConfigFiles`) with its file interceptor: the exact code path `fromIni` uses,
// without touching the disk or the real ~/.aws.
import { externalDataInterceptor, loadSharedConfigFiles } from "@smithy/core/config";

export type SdkProfiles = Record<string, Record<string, string>>;

let counter = 0;

export async function sdkParseCredentials(text: string): Promise<SdkProfiles> {
  const id = `${process.pid}-${++counter}`;
  const filepath = `/nonexistent/keyctl-sdk-parity/${id}/credentials`;
  const configFilepath = `/nonexistent/keyctl-sdk-parity/${id}/config`;
  externalDataInterceptor.interceptFile(filepath, text);
  externalDataInterceptor.interceptFile(configFilepath, "");
  try {
    const { credentialsFile } = await loadSharedConfigFiles({ filepath, configFilepath, ignoreCache: true });
    return credentialsFile as SdkProfiles;
  } finally {
    const record = externalDataInterceptor.getFileRecord() as Record<string, unknown>;
    delete record[filepath];
    delete record[configFilepath];
  }
}

/** Section names the SDK keeps verbatim in a credentials file (no `prefix name` form, not empty). */
export function sdkKeepsNameVerbatim(name: string): boolean {
  return name !== "" && !/\s/.test(name) && !(name in Object.prototype) && name !== "__proto__";
}

/**
 * The SDK's settings with key names folded to lower case, as keyctl (and the AWS CLI) read them: each
 * folded key with every value the SDK holds under one of its spellings. The SDK keeps `KEY` and `key`
 * apart; keyctl takes the later one in the file, which is one of these.
 */
export function foldedKeys(settings: Record<string, string>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [key, value] of Object.entries(settings)) {
    const folded = key.toLowerCase();
    out[folded] = [...(out[folded] ?? []), value];
  }
  return out;
}

/** keyctl's settings agree with the SDK's up to the case of key names. */
export function agreesUpToCase(
  keyctl: Map<string, string> | undefined,
  sdk: Record<string, string> | undefined,
): boolean {
  const folded = foldedKeys(sdk ?? {});
  const mine = keyctl ?? new Map<string, string>();
  if (mine.size !== Object.keys(folded).length) return false;
  for (const [key, value] of mine) if (!folded[key]?.includes(value)) return false;
  return true;
}
