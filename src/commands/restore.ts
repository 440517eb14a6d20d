import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import type { CliInput } from "../cli/args.js";
import type { Output } from "../cli/output.js";
import { createTerminal } from "../cli/terminal.js";
import { type ProfileChange, restoreBackup } from "../engine/restore.js";
import { backupPrefix, DEFAULT_KEEP_BACKUPS, listBackups, pruneBackups } from "../store/backups.js";
import { configPath, credentialsPath } from "../store/paths.js";
import { CredentialsStore } from "../store/store.js";

function describe(c: ProfileChange): string {
  if (c.change === "added") return `  ${c.profile}: comes back${c.to ? ` with key ${c.to}` : ""}`;
  if (c.change === "removed") return `  ${c.profile}: disappears${c.from ? ` (key ${c.from})` : ""}`;
  return `  ${c.profile}: key ${c.from ?? "(none)"} → ${c.to ?? "(none)"}`;
}

/**
 * Which file the backup goes back over. Rotating a key of the config file backs up the config file
 * next to it, so a backup named after the config file restores that file, and `--restore` alone
 * takes the newest backup of either file: the one the last change made.
 */
async function restoreTarget(input: CliInput): Promise<{ store: CredentialsStore; backup: string | true }> {
  const credentials = new CredentialsStore(credentialsPath(input.credentials));
  const config = configPath();
  const named = input.restore ?? true;
  if (named === true) {
    const [newestCredentials] = await listBackups(credentials.path);
    const [newestConfig] = await listBackups(config);
    if (newestConfig && (!newestCredentials || newestConfig.madeAt > newestCredentials.madeAt)) {
      return { store: new CredentialsStore(config, { flavour: "config" }), backup: newestConfig.path };
    }
    return { store: credentials, backup: true };
  }
  const explicit = isAbsolute(named) || named.includes("/");
  const name = basename(named);
  const ofConfig =
    name.startsWith(backupPrefix(config)) &&
    !name.startsWith(backupPrefix(credentials.path)) &&
    (!explicit || dirname(resolve(named)) === dirname(config));
  if (!ofConfig) return { store: credentials, backup: named };
  return {
    store: new CredentialsStore(config, { flavour: "config" }),
    backup: explicit ? named : join(dirname(config), named),
  };
}

export async function runRestore(input: CliInput, out: Output): Promise<number> {
  const { store, backup } = await restoreTarget(input);
  const terminal = createTerminal({ yes: input.yes });
  let result: Awaited<ReturnType<typeof restoreBackup>>;
  try {
    result = await restoreBackup(
      { backup, yes: input.yes, dryRun: input.dryRun },
      {
        store,
        confirm: (q, flag) => terminal.confirm(q, flag),
        show: (backup, changes) => {
          if (out.json) return;
          out.note(`Restoring ${backup} over ${store.path}:`);
          if (changes.length === 0) out.note("  no profile's key changes (only other lines differ)");
          for (const c of changes) out.note(describe(c));
        },
      },
    );
  } finally {
    terminal.close();
  }
  if (result.status === "done") await pruneBackups(store.path, input.keepBackups ?? DEFAULT_KEEP_BACKUPS);
  if (out.json) {
    out.document({ credentialsFile: store.path, ...result });
  } else if (result.status === "unchanged") {
    out.result(`${store.path} already equals ${result.backup}; nothing to do.`);
  } else if (result.status === "planned") {
    out.result(`Would restore ${result.backup} (--dry-run: nothing was changed).`);
    for (const c of result.changes) out.result(describe(c));
  } else {
    out.result(`Restored ${store.path} from ${result.backup}.`);
    if (result.savedCurrent) out.result(`The replaced version is saved in ${result.savedCurrent}.`);
    if (result.tightenedFrom !== undefined) {
      out.warn(
        `${store.path} was readable by others (mode ${result.tightenedFrom.toString(8)}); it is now 600.`,
      );
    }
  }
  return result.exitCode;
}
