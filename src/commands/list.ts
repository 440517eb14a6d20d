import type { CliInput } from "../cli/args.js";
import type { Output } from "../cli/output.js";
import { listProfiles } from "../profiles.js";
import { credentialsPath } from "../store/paths.js";
import { CredentialsStore } from "../store/store.js";

const KIND_LABEL = {
  "long-term": "long-term key",
  temporary: "temporary credentials",
  none: "no key",
} as const;

export async function runList(input: CliInput, out: Output): Promise<number> {
  const store = new CredentialsStore(credentialsPath(input.credentials));
  const file = await store.read();
  const profiles = listProfiles(file.doc);
  if (out.json) {
    out.document({ credentialsFile: file.path, profiles });
    return 0;
  }
  if (profiles.length === 0) {
    out.note(`No profiles in ${file.path}.`);
    return 0;
  }
  out.note(`Profiles in ${file.path}:`);
  const width = Math.max(...profiles.map((p) => p.name.length));
  const lines = profiles.map((p) => {
    const key = p.accessKeyId ? `  ${p.accessKeyId}` : "";
    return `  ${p.name.padEnd(width)}  ${KIND_LABEL[p.kind]}${key}`;
  });
  out.result(lines.join("\n"));
  return 0;
}
