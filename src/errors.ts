import { changedSomething } from "./util/changes.js";

// Every failure a user can meet is a KeyctlError: one line that says what happened and what to do
// next, plus the documented exit code. Anything else reaching the top level is a bug.

export const ExitCode = {
  ok: 0,
  /** Failed, and nothing was changed. */
  failed: 1,
  usage: 2,
  /** Partly done: the message says exactly what is left to do. */
  partial: 3,
  /** Stopped by SIGHUP (the terminal went away) before anything changed: 128 + 1. */
  hangup: 129,
  /** Cancelled at a prompt or by Ctrl-C (SIGINT) before anything changed: 128 + 2. */
  cancelled: 130,
  /** Stopped by SIGTERM before anything changed: 128 + 15. */
  terminated: 143,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class KeyctlError extends Error {
  override readonly name = "KeyctlError";
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.failed,
  ) {
    super(message);
  }
}

export class UsageError extends KeyctlError {
  constructor(message: string) {
    super(message, ExitCode.usage);
  }
}

export class CancelledError extends KeyctlError {
  constructor(message = "Cancelled; nothing was changed.") {
    super(message, ExitCode.cancelled);
  }
}

/**
 * Anything that is not a KeyctlError or an AWS call's failure: a bug. Exit 3 once this process has
 * changed IAM or the file (the user must check what is there), else 1.
 */
export class UnexpectedError extends KeyctlError {
  override readonly cause: unknown;
  constructor(cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    const state = changedSomething()
      ? " keyctl had already changed IAM or the credentials file: check with keyctl -k -t PROFILE and the newest backup."
      : " Nothing was changed.";
    super(
      `unexpected error: ${detail}.${state} This is a bug in keyctl; set KEYCTL_DEBUG=1 for details and report it.`,
      changedSomething() ? ExitCode.partial : ExitCode.failed,
    );
    this.cause = cause;
  }
}

export function errnoCode(err: unknown): string | undefined {
  if (err && typeof err === "object" && "code" in err && typeof err.code === "string") return err.code;
  return undefined;
}

/**
 * A failure to create an entry (temp file, lock, backup) next to the file: the directory, not the
 * file, is what the user must fix. Carries the errno code so errnoCode() still reads it.
 */
export class DirectoryError extends Error {
  readonly code: string | undefined;
  constructor(
    readonly directory: string,
    cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.code = errnoCode(cause);
  }
}

const DIRECTORY_CODES = new Set(["EACCES", "EPERM", "EROFS"]);

/** Marks `err` as the directory's fault when its code says the directory refused a new entry. */
export function asDirectoryError(err: unknown, directory: string): unknown {
  return DIRECTORY_CODES.has(errnoCode(err) ?? "") ? new DirectoryError(directory, err) : err;
}

/** Turns a file-system error into the one-line message a user can act on. */
export function fileErrorMessage(err: unknown, action: string, path: string): string {
  if (err instanceof DirectoryError) {
    const dir = err.directory;
    if (err.code === "EROFS") {
      return `The directory ${dir} is on a read-only file system, so keyctl cannot write next to ${path} (while ${action} it); remount it read-write or use --credentials to point elsewhere.`;
    }
    if (err.code === "EACCES" || err.code === "EPERM") {
      return `Permission denied creating files in the directory ${dir} (while ${action} ${path}): keyctl writes its lock, backup and temp file there; check the directory's owner, mode and attributes (lsattr -d: an immutable 'i' flag blocks it) and run again.`;
    }
  }
  switch (errnoCode(err)) {
    case "ENOSPC":
    case "EDQUOT":
      return `No space left on the device while ${action} ${path}; free some space and run keyctl again.`;
    case "EROFS":
      return `${path} is on a read-only file system (while ${action} it); remount it read-write or use --credentials to point elsewhere.`;
    case "EPERM":
    case "EACCES":
      return `Permission denied while ${action} ${path}; check its owner, mode and attributes (lsattr: an immutable 'i' flag blocks writes) and run again.`;
    case "ENOENT":
      return `The directory of ${path} does not exist (while ${action} it); create it or use --credentials to point elsewhere.`;
    case "EISDIR":
      return `${path} is a directory, not a credentials file; use --credentials to name the file.`;
    default: {
      const detail = err instanceof Error ? err.message : String(err);
      return `Failed while ${action} ${path}: ${detail}`;
    }
  }
}
