import { createInterface, type Interface } from "node:readline";
import { CancelledError, UsageError } from "../errors.js";
import { interrupt } from "../util/interrupt.js";

/** Questions to the person at the terminal. Every question has a flag that answers it instead. */
export interface Terminal {
  readonly canPrompt: boolean;
  confirm(question: string, flag: string): Promise<boolean>;
  ask(question: string, flag: string): Promise<string>;
  /** Numbered choice; `q` quits. Returns the chosen item. */
  choose(title: string, items: readonly string[]): Promise<string>;
  /** Releases the terminal so the process can end. */
  close(): void;
}

export function createTerminal(options: { yes: boolean }): Terminal {
  const canPrompt = process.stdin.isTTY === true && process.stderr.isTTY === true;

  // One interface for the whole run, and lines queued as they come: answers typed ahead, pasted or
  // piped through a terminal arrive before their question is asked and must not be lost.
  let rl: Interface | undefined;
  const queued: string[] = [];
  let waiting: ((answer: string | undefined) => void) | undefined;
  let closed = false;

  function open(): Interface {
    if (rl) return rl;
    const created = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    created.on("line", (text) => {
      const w = waiting;
      waiting = undefined;
      if (w) w(text);
      else queued.push(text);
    });
    created.on("close", () => {
      if (rl === created) closed = true;
      waiting?.(undefined);
      waiting = undefined;
    });
    // In raw mode Ctrl-C reaches readline, not the process: hand it to the same handler.
    created.on("SIGINT", () => interrupt("SIGINT"));
    rl = created;
    return created;
  }

  async function line(question: string): Promise<string> {
    const r = open();
    r.setPrompt(question);
    r.prompt();
    const answer =
      queued.length > 0
        ? queued.shift()
        : closed
          ? undefined
          : await new Promise<string | undefined>((resolve) => {
              waiting = resolve;
            });
    // Give the terminal back between questions: Ctrl-C during the work that follows is then a
    // signal again, which waits for a shielded step instead of ending the process mid-way.
    rl = undefined;
    r.close();
    if (answer === undefined) throw new CancelledError("No answer (end of input); nothing was changed.");
    if (queued.length > 0 || closed) process.stderr.write(`${answer}\n`);
    return answer.trim();
  }

  function needTerminal(flag: string, question?: string): never {
    if (question) {
      throw new UsageError(
        `${question} — there is no terminal to answer on; pass ${flag} to answer yes. Nothing was changed.`,
      );
    }
    throw new UsageError(`This needs an answer but there is no terminal to ask on; pass ${flag}.`);
  }

  return {
    canPrompt,
    close() {
      rl?.close();
      rl = undefined;
    },
    async confirm(question, flag) {
      if (options.yes) return true;
      if (!canPrompt) needTerminal(flag, question);
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
