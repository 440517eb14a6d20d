// The rotation's input, the ports it is given and its result: the shapes the commands and the
// engine's files share (rotate.ts re-exports them).

import type { Journal } from "../store/journal.js";
import type { CredentialsStore } from "../store/store.js";
import type { OldKeyPolicy, RotationPlan } from "./plan.js";
import type { AuthSession, Clock, NewAccessKey, StsPort } from "./ports.js";

export interface RotationRequest {
  readonly profile: string;
  readonly userFlag?: string;
  readonly oldKeyPolicy: OldKeyPolicy;
  readonly yes: boolean;
  readonly dryRun: boolean;
  /** Where the old key is kept (default `<profile>-previous`). */
  readonly previousName?: string;
  /** Rotate only when the profile's key is older than this many days. */
  readonly olderThanDays?: number;
  readonly verifyTimeoutMs: number;
}

/** Asks the person at the terminal; throws a usage error naming `flag` when nobody can answer. */
export type Confirm = (question: string, flag: string) => Promise<boolean>;

export type RotationEvent =
  | { readonly type: "note"; readonly message: string }
  | { readonly type: "warn"; readonly message: string }
  | { readonly type: "verifying"; readonly elapsedMs: number; readonly timeoutMs: number }
  | { readonly type: "verified" };

export interface RotationDeps {
  readonly store: CredentialsStore;
  /** Key id → where else on this machine it is used (the AWS config file's profiles). */
  readonly inUseElsewhere?: () => Promise<ReadonlyMap<string, readonly string[]>>;
  /** When keyctl saw this key of the profile work (its rotation finished), if it ever did. */
  readonly seenWorking?: (accessKeyId: string) => Promise<string | undefined>;
  readonly journal: Journal;
  readonly auth: AuthSession;
  readonly sts: StsPort;
  readonly clock: Clock;
  readonly confirm: Confirm;
  readonly events: (event: RotationEvent) => void;
  /** Hands the proven new key on (--then) before the old key is retired; a failure keeps it. */
  readonly handOff?: (key: NewAccessKey, plan: RotationPlan) => Promise<HandOffFailure | undefined>;
}

export interface HandOffFailure {
  readonly problem: string;
  readonly nextSteps: readonly string[];
}

export type OldKeyOutcome = "kept" | "deactivated" | "deleted" | "not-changed";

export interface RotationResult {
  readonly profile: string;
  readonly status: "done" | "partial" | "planned" | "skipped";
  readonly exitCode: number;
  readonly userName: string;
  readonly account: string;
  readonly oldKeyId: string;
  readonly newKeyId?: string;
  readonly deletedBeforeCreate?: string;
  readonly oldKey: OldKeyOutcome;
  readonly verifiedAfterMs?: number;
  readonly backupPath?: string;
  readonly tightenedFrom?: number;
  readonly sharedUpdated: readonly string[];
  readonly recoveredKeys: readonly string[];
  readonly plan: RotationPlan;
  /** What is left for the user when status is partial. */
  readonly nextSteps: readonly string[];
  readonly problem?: string;
}
