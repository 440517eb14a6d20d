import { ExitCode, KeyctlError } from "../errors.js";
import { installInterruptHandlers } from "../util/interrupt.js";
import { parseArgs } from "./args.js";
import { createOutput } from "./output.js";

// The SDK prints a Node-version notice on every run under Node 20; users cannot act on it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(argv);
  if (parsed.kind === "exit") return parsed.code;
  const { input } = parsed;
  const out = createOutput({ json: input.json, noColor: input.noColor });
  switch (input.command) {
    case "list": {
      const { runList } = await import("../commands/list.js");
      return runList(input, out);
    }
    case "restore": {
      const { runRestore } = await import("../commands/restore.js");
      return runRestore(input, out);
    }
    case "history": {
      const { runHistory } = await import("../commands/history.js");
      return runHistory(input, out);
    }
    case "schedule": {
      const { runSchedule } = await import("../commands/schedule.js");
      return runSchedule(input, out);
    }
    default: {
      const { runAws } = await import("../commands/aws.js");
      return runAws(input, out);
    }
  }
}

function report(err: unknown): number {
  if (err instanceof KeyctlError) {
    process.stderr.write(`keyctl: ${err.message}\n`);
    return err.exitCode;
  }
  const detail = err instanceof Error ? err.message : String(err);
  process.stderr.write(
    `keyctl: unexpected error: ${detail}\nThis is a bug in keyctl; set KEYCTL_DEBUG=1 for details and report it.\n`,
  );
  if (process.env.KEYCTL_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return ExitCode.failed;
}

// A closed pipe (keyctl -k | head) must not kill a rotation half-way: output is best effort, the
// work and the exit code are not.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") throw err;
  });
}

installInterruptHandlers();

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = report(err);
  },
);
