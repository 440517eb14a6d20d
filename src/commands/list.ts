import type { CliInput } from "../cli/args.js";
import type { Output } from "../cli/output.js";
import { ProfileScan } from "../ini/scan.js";
import { listProfiles } from "../profiles.js";
import {
  AUTH_KIND_LABEL,
  type ConfigProfile,
  configProfiles,
  configStore,
  isAuthKind,
  LISTED_KEYS,
} from "../store/config.js";
import { configPath, credentialsPath } from "../store/paths.js";
import { CredentialsStore } from "../store/store.js";

const KIND_LABEL = {
  "long-term": "long-term key",
  temporary: "temporary credentials",
  none: "no key",
} as const;

function label(kind: ConfigProfile["kind"]): string {
  return isAuthKind(kind) ? `${AUTH_KIND_LABEL[kind]} (signs in, holds no key)` : KIND_LABEL[kind];
}

/**
 * Ends the process as soon as both streams have written out. A natural exit tears down the heap
 * (10-20 ms with a big file's strings on it) that a listing has no use for.
 */
function exitWhenWritten(code: number): Promise<number> {
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write("", done);
  process.stderr.write("", done);
  return new Promise<number>(() => {});
}

export async function runList(input: CliInput, out: Output): Promise<number> {
  return exitWhenWritten(await list(input, out));
}

async function list(input: CliInput, out: Output): Promise<number> {
  // Read-only: a scan of the few settings a listing shows, not the editable document.
  const store = await configStore(configPath());
  const config = store ? await store.readText() : undefined;
  const file = await new CredentialsStore(credentialsPath(input.credentials)).readText({
    missingAsEmpty: config !== undefined,
  });
  const credentials = new ProfileScan(file.text, "credentials", LISTED_KEYS);
  const profiles = listProfiles(credentials);
  const fromConfig = configProfiles(
    credentials,
    config ? new ProfileScan(config.text, "config", LISTED_KEYS) : undefined,
  );
  if (out.json) {
    out.document({
      credentialsFile: file.path,
      profiles,
      ...(config ? { configFile: config.path, configProfiles: fromConfig } : {}),
    });
    return 0;
  }
  if (profiles.length === 0 && fromConfig.length === 0) {
    out.note(`No profiles in ${file.path}.`);
    return 0;
  }
  const width = Math.max(...[...profiles, ...fromConfig].map((p) => p.name.length));
  const table = (list: readonly ConfigProfile[]) =>
    list
      .map((p) => `  ${p.name.padEnd(width)}  ${label(p.kind)}${p.accessKeyId ? `  ${p.accessKeyId}` : ""}`)
      .join("\n");
  if (profiles.length > 0) {
    out.note(`Profiles in ${file.path}:`);
    out.result(table(profiles));
  }
  if (config && fromConfig.length > 0) {
    out.note(`Profiles in ${config.path}:`);
    out.result(table(fromConfig));
  }
  return 0;
}
