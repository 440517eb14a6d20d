import { homedir } from "node:os";
import { join, resolve } from "node:path";

/** The home directory the way the AWS SDK finds it. */
export function homeDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.HOME || env.USERPROFILE || homedir();
}

export function expandHome(path: string, env: NodeJS.ProcessEnv = process.env): string {
  if (path === "~") return homeDir(env);
  if (path.startsWith("~/")) return join(homeDir(env), path.slice(2));
  return path;
}

/** `--credentials`, else `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`. */
export function credentialsPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const chosen = flag || env.AWS_SHARED_CREDENTIALS_FILE || join(homeDir(env), ".aws", "credentials");
  return resolve(expandHome(chosen, env));
}

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(expandHome(env.AWS_CONFIG_FILE || join(homeDir(env), ".aws", "config"), env));
}
