import type { CliInput } from "../cli/args.js";
import type { Output } from "../cli/output.js";
import { listProfiles } from "../profiles.js";
import {
  AUTH_KIND_LABEL,
  type ConfigProfile,
  configProfiles,
  isAuthKind,
  readConfigSource,
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

export async function runList(input: CliInput, out: Output): Promise<number> {
  const store = new CredentialsStore(credentialsPath(input.credentials));
  const file = await store.read();
  const config = await readConfigSource(configPath());
  const profiles = listProfiles(file.doc);
  const fromConfig = configProfiles(file.doc, config?.file.doc);
  if (out.json) {
    out.document({
      credentialsFile: file.path,
      profiles,
      ...(config ? { configFile: config.file.path, configProfiles: fromConfig } : {}),
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
    out.note(`Profiles in ${config.file.path}:`);
    out.result(table(fromConfig));
  }
  return 0;
}
