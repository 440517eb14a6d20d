import { readFile } from "node:fs/promises";
import { errnoCode, KeyctlError } from "../errors.js";
import { CredentialsDocument } from "../ini/document.js";
import { configKeyHolders } from "../profiles.js";
import { configPath } from "./paths.js";

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
