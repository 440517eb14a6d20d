import { proveOwner } from "../engine/identity.js";
import { didNotAct } from "../engine/messages.js";
import { readTarget } from "../engine/plan.js";
import type { AccessKey, IamPort, KeyLastUsed } from "../engine/ports.js";
import { ExitCode } from "../errors.js";
import { isPreviousProfile, keyHolders, previousName } from "../profiles.js";
import { type AdaptiveLimit, adaptiveLimit } from "../util/pool.js";
import { type CommandContext, openFor } from "./context.js";

const DAY = 86_400_000;
const ROTATE_AFTER_DAYS = 90;
/**
 * IAM calls in flight at most: one user's after another's cost a round trip each. Kept moderate
 * rather than sized to the latency: IAM's rate limit is the account's, shared with every other tool
 * in it, and the adaptive bound lowers it further when IAM throttles.
 */
const IAM_CONCURRENCY = 32;

function iamLimit(): AdaptiveLimit {
  return adaptiveLimit({ max: IAM_CONCURRENCY, throttled: didNotAct });
}

interface KeyRow {
  readonly userName: string;
  readonly accessKeyId: string;
  readonly status: string;
  readonly createDate: string;
  readonly ageDays: number;
  readonly lastUsedDate: string | null;
  readonly lastUsedService: string | null;
  readonly lastUsedRegion: string | null;
  readonly profiles: readonly string[];
  readonly marker: "CURRENT" | "PREVIOUS" | null;
  readonly overdue: boolean;
}

async function rows(
  pool: AdaptiveLimit,
  iam: IamPort,
  userName: string,
  keys: readonly AccessKey[],
  holders: ReadonlyMap<string, readonly string[]>,
  current?: string,
  previous?: string,
): Promise<KeyRow[]> {
  const now = Date.now();
  return Promise.all(
    keys.map(async (k) => {
      const used: KeyLastUsed = await pool
        .run(() => iam.getAccessKeyLastUsed(k.accessKeyId))
        .catch(() => ({}));
      const ageDays = Math.floor((now - k.createDate.getTime()) / DAY);
      const marker = k.accessKeyId === current ? "CURRENT" : k.accessKeyId === previous ? "PREVIOUS" : null;
      return {
        userName,
        accessKeyId: k.accessKeyId,
        status: k.status,
        createDate: k.createDate.toISOString(),
        ageDays,
        lastUsedDate: used.lastUsedDate?.toISOString() ?? null,
        lastUsedService: used.serviceName ?? null,
        lastUsedRegion: used.region ?? null,
        profiles: holders.get(k.accessKeyId) ?? [],
        marker,
        overdue: ageDays > ROTATE_AFTER_DAYS,
      };
    }),
  );
}

function render(ctx: CommandContext, title: string, all: KeyRow[], skipped: number): void {
  const { out } = ctx;
  const c = out.colors;
  out.note(title);
  if (all.length === 0) out.note("  (no keys)");
  for (const r of all) {
    // The time too: whether the old key was used after today's rotation is what the user asks.
    const used = r.lastUsedDate
      ? `last used ${r.lastUsedDate.slice(0, 10)} ${r.lastUsedDate.slice(11, 16)} UTC${r.lastUsedService ? ` (${r.lastUsedService}${r.lastUsedRegion ? `, ${r.lastUsedRegion}` : ""})` : ""}`
      : "never used";
    const marker = r.marker ? `  ${c.bold(r.marker)}` : "";
    const status = r.status === "Active" ? c.green("Active  ") : c.dim("Inactive");
    const warn = r.overdue ? `  ${c.yellow(`older than ${ROTATE_AFTER_DAYS} days: rotate it`)}` : "";
    const user = ctx.input.command === "list-all-keys" ? `${r.userName.padEnd(20)} ` : "";
    out.result(
      `  ${user}${r.accessKeyId}  ${status}  created ${r.createDate.slice(0, 10)}  ${String(r.ageDays).padStart(4)} d  ${used}${marker}${warn}`,
    );
  }
  if (skipped > 0) out.note(`  (${skipped} key(s) not older than ${ctx.input.olderThanDays} days not shown)`);
}

function filterAge(ctx: CommandContext, all: KeyRow[]): KeyRow[] {
  const min = ctx.input.olderThanDays;
  const now = Date.now();
  return min === undefined ? all : all.filter((r) => now - Date.parse(r.createDate) > min * DAY);
}

export async function runListKeys(ctx: CommandContext): Promise<number> {
  const { input, out, file } = ctx;
  const holders = keyHolders(file.doc, { withPrevious: true });
  if (input.command === "list-all-keys") {
    const authProfile = input.auth ?? input.targets[0]!;
    const { auth } = await openFor(ctx, authProfile);
    const users = await auth.iam.listUsers();
    // One bound for every per-user call: a user's last-used calls start as soon as its list is in.
    // Not the credential report instead of GetAccessKeyLastUsed: it may be hours old (a key used
    // since would show its earlier use as the last), has no key ids and needs two more permissions.
    const pool = iamLimit();
    const perUser = await Promise.all(
      users.map(async (u) =>
        rows(pool, auth.iam, u.userName, await pool.run(() => auth.iam.listAccessKeys(u.userName)), holders),
      ),
    );
    const all = perUser.flat();
    const shown = filterAge(ctx, all);
    if (out.json) {
      out.document({ users: users.length, keys: shown, olderThanDays: input.olderThanDays ?? null });
    } else {
      render(
        ctx,
        `Access keys of all ${users.length} IAM users (as ${authProfile}):`,
        shown,
        all.length - shown.length,
      );
    }
    return ExitCode.ok;
  }

  const profile = input.targets[0] ?? input.auth;
  if (!profile) {
    // As the original's `-k` did: the profiles; and the one thing to add to see a profile's keys.
    // Said first: the listing ends the process once its output is written.
    if (!out.json) out.note("To see the IAM keys of one of them, add its name: keyctl -k -t PROFILE");
    const { runList } = await import("./list.js");
    return runList(input, out);
  }
  const target = readTarget(file.doc, profile, file.path);
  const { auth, sts } = await openFor(ctx, input.auth ?? profile);
  const owner = await proveOwner({
    profile,
    key: target.key,
    auth,
    sts,
    ...(input.user ? { userFlag: input.user } : {}),
  });
  const keys = owner.keys ?? (await auth.iam.listAccessKeys(owner.userName));
  const all = await rows(
    iamLimit(),
    auth.iam,
    owner.userName,
    keys,
    holders,
    target.key.accessKeyId,
    target.previousKeyId,
  );
  const shown = filterAge(ctx, all);
  if (out.json) {
    out.document({
      profile,
      user: owner.userName,
      account: owner.account,
      keys: shown,
      olderThanDays: input.olderThanDays ?? null,
    });
  } else {
    render(
      ctx,
      `Access keys of IAM user ${owner.userName} (account ${owner.account}), profile ${profile}:`,
      shown,
      all.length - shown.length,
    );
    const prev = previousName(profile);
    if (
      !isPreviousProfile(profile) &&
      target.previousKeyId &&
      !keys.some((k) => k.accessKeyId === target.previousKeyId)
    ) {
      out.note(`  [${prev}] holds ${target.previousKeyId}, which IAM no longer has.`);
    }
  }
  return ExitCode.ok;
}
