import type { CliInput } from "../cli/args.js";
import type { Output } from "../cli/output.js";
import type { Terminal } from "../cli/terminal.js";
import { awsFailure } from "../engine/messages.js";
import type { IamPort } from "../engine/ports.js";
import type { KeySource } from "../store/config.js";
import { configPath } from "../store/paths.js";
import type { CredentialsFile, CredentialsStore } from "../store/store.js";
import { noteChange } from "../util/changes.js";

export interface CommandContext {
  readonly input: CliInput;
  readonly out: Output;
  readonly terminal: Terminal;
  /** The file that holds the keys being worked on: the credentials file, or the config file. */
  readonly store: CredentialsStore;
  readonly file: CredentialsFile;
  /** Both files, whichever one `store` is: authentication reads them the way the AWS CLI does. */
  readonly sources: { readonly credentials: KeySource; readonly config?: KeySource | undefined };
}

/** Opens the auth profile's IAM session (and STS), whatever kind of profile it is. */
export async function openFor(ctx: CommandContext, authProfile: string) {
  const { openSessions } = await import("../aws/session.js");
  try {
    const sessions = await openSessions({
      profile: authProfile,
      credentials: ctx.sources.credentials.file.doc,
      credentialsPath: ctx.sources.credentials.file.path,
      configPath: ctx.sources.config?.file.path ?? configPath(),
      ...(ctx.input.mfaCode ? { mfaCode: ctx.input.mfaCode } : {}),
      ...(ctx.terminal.canPrompt
        ? {
            promptMfa: (serial: string) =>
              ctx.terminal.ask(`MFA code for ${serial}: `, "--mfa-code CODE", (code) =>
                /^\d{6}$/.test(code) ? undefined : "The MFA code is the 6 digits your MFA device shows",
              ),
          }
        : {}),
    });
    return { ...sessions, auth: { ...sessions.auth, iam: notingChanges(sessions.auth.iam) } };
  } catch (err) {
    throw awsFailure(err);
  }
}

/**
 * The IAM port with every call that may alter IAM noted before it is sent (util/changes.ts: an
 * unexpected error after one exits 3, not 1).
 */
export function notingChanges(iam: IamPort): IamPort {
  return {
    listAccessKeys: (u) => iam.listAccessKeys(u),
    // Kept when the port has it: without it, self-service lists its keys only after STS answered.
    ...(iam.listOwnAccessKeys ? { listOwnAccessKeys: () => iam.listOwnAccessKeys!() } : {}),
    getAccessKeyLastUsed: (id) => iam.getAccessKeyLastUsed(id),
    listUsers: () => iam.listUsers(),
    createAccessKey: (u) => {
      noteChange();
      return iam.createAccessKey(u);
    },
    updateAccessKey: (u, id, status) => {
      noteChange();
      return iam.updateAccessKey(u, id, status);
    },
    deleteAccessKey: (u, id) => {
      noteChange();
      return iam.deleteAccessKey(u, id);
    },
  };
}
