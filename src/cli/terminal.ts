import { createInterface } from "node:readline/promises";
import { CancelledError, UsageError } from "../errors.js";

/** Questions to the person at the terminal. Every question has a flag that answers it instead. */
export interface Terminal {
  readonly canPrompt: boolean;
  confirm(question: string, flag: string): Promise<boolean>;
  ask(question: string, flag: string): Promise<string>;
  /** Numbered choice; `q` quits. Returns the chosen item. */
  choose(title: string, items: readonly string[]): Promise<string>;
}

export function createTerminal(options: { yes: boolean }): Terminal {
  const canPrompt = process.stdin.isTTY === true && process.stderr.isTTY === true;

  async function line(question: string): Promise<string> {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const onSigint = () => {
      rl.close();
      process.stderr.write("\n");
      process.exit(130);
    };
    rl.on("SIGINT", onSigint);
    try {
      return (await rl.question(question)).trim();
    } finally {
      rl.close();
    }
  }

  function needTerminal(flag: string): never {
    throw new UsageError(`This needs an answer but there is no terminal to ask on; pass ${flag}.`);
  }

  return {
    canPrompt,
    async confirm(question, flag) {
      if (options.yes) return true;
      if (!canPrompt) needTerminal(flag);
      const answer = await line(`${question} [y/N] `);
      return /^y(es)?$/i.test(answer);
    },
    async ask(question, flag) {
      if (!canPrompt) needTerminal(flag);
      return line(question);
    },
    async choose(title, items) {
      if (!canPrompt) needTerminal("-t PROFILE (and -a PROFILE)");
      process.stderr.write(`${title}\n`);
      items.forEach((item, i) => {
        process.stderr.write(`  ${i + 1}. ${item}\n`);
      });
      for (;;) {
        const answer = await line("\nSelect profile number (or 'q' to quit): ");
        if (/^q(uit)?$/i.test(answer)) throw new CancelledError("Quit; nothing was changed.");
        const n = Number(answer);
        const item = Number.isInteger(n) ? items[n - 1] : undefined;
        if (item !== undefined) return item;
        process.stderr.write(`Please enter a number from 1 to ${items.length}, or q.\n`);
      }
    },
  };
}
