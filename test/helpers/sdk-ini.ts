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
