import { parseArgs } from "./cli/args.js";
import { createOutput, type Output } from "./cli/output.js";
import { KeyctlError, UnexpectedError } from "./errors.js";
import { installInterruptHandlers, onStop } from "./util/interrupt.js";

// The SDK prints a Node-version notice on every run under Node 20; users cannot act on it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const argv = process.argv.slice(2);
// Known before the arguments are checked, so a usage error can still answer in JSON.
const wantsJson = argv.slice(0, argv.includes("--") ? argv.indexOf("--") : undefined).includes("--json");
let documentPrinted = false;

async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(argv);
  if (parsed.kind === "exit") return parsed.code;
  const { input } = parsed;
  const plain = createOutput({ json: input.json, noColor: input.noColor });
  const out: Output = {
    ...plain,
    document: (value) => {
      documentPrinted = true;
      plain.document(value);
    },
  };
  switch (input.command) {
    case "list": {
      const { runList } = await import("./commands/list.js");
      return runList(input, out);
    }
    case "restore": {
      const { runRestore } = await import("./commands/restore.js");
      return runRestore(input, out);
    }
    case "history": {
      const { runHistory } = await import("./commands/history.js");
      return runHistory(input, out);
    }
    case "schedule": {
      const { runSchedule } = await import("./commands/schedule.js");
      return runSchedule(input, out);
    }
    default: {
      const { runAws } = await import("./commands/aws.js");
      return runAws(input, out);
    }
  }
}

/** --json promises one document on stdout whatever happened; a command may have printed it already. */
function lastDocument(doc: object): void {
  if (!wantsJson || documentPrinted) return;
  documentPrinted = true;
  process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
}

function report(err: unknown): number {
  const failure = err instanceof KeyctlError ? err : new UnexpectedError(err);
  process.stderr.write(`keyctl: ${failure.message}\n`);
  lastDocument({ status: "failed", exitCode: failure.exitCode, error: failure.message });
  const cause = failure instanceof UnexpectedError ? failure.cause : undefined;
  if (process.env.KEYCTL_DEBUG && cause instanceof Error) process.stderr.write(`${cause.stack}\n`);
  return failure.exitCode;
}

// A closed pipe (keyctl -k | head) or a terminal that went away (EIO: its window or ssh session
// closed) must not kill a rotation half-way: output is best effort, the work and the exit code are not.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE" && err.code !== "EIO") throw err;
  });
}

installInterruptHandlers();
onStop((stopped) => lastDocument(stopped));

main(argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = report(err);
  },
);
