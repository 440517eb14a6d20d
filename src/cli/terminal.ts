import { createInterface, type Interface } from "node:readline";
import { CancelledError, UsageError } from "../errors.js";
import { interrupt } from "../util/interrupt.js";

/**
 * Questions to the person at the terminal, or to the script piping answers in. Every question has
 * a flag that answers it instead.
 */
export interface Terminal {
  readonly canPrompt: boolean;
  confirm(question: string, flag: string): Promise<boolean>;
  /** A free answer; `valid` refuses (and asks again on a terminal) what cannot be right. */
  ask(question: string, flag: string, valid?: (answer: string) => string | undefined): Promise<string>;
  /** Numbered choice; `q` quits. Returns the chosen item. */
  choose(title: string, items: readonly string[], flag: string): Promise<string>;
  /** Releases standard input so the process can end. */
  close(): void;
}

interface Streams {
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/** The source of answer lines: a terminal read question by question, or a pipe read line by line. */
interface Lines {
  /** The next answer, or undefined at end of input. */
  next(question: string): Promise<string | undefined>;
  close(): void;
}

function terminalLines(streams: Streams): Lines {
  // One interface at a time, and lines queued as they come: answers typed ahead or pasted arrive
  // before their question is asked and must not be lost.
  let rl: Interface | undefined;
  const queued: string[] = [];
  let waiting: ((answer: string | undefined) => void) | undefined;
  let closed = false;

  function open(): Interface {
    if (rl) return rl;
    const created = createInterface({ input: streams.stdin, output: streams.stderr, terminal: true });
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

  return {
    async next(question) {
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
      if (answer !== undefined && (queued.length > 0 || closed)) streams.stderr.write(`${answer}\n`);
      return answer;
    },
    close() {
      rl?.close();
      rl = undefined;
    },
  };
}

function pipedLines(streams: Streams): Lines {
  // One reader for the whole run: closing it between questions would drop lines it has buffered.
  // It pauses while nobody waits, so `yes | keyctl` does not fill memory with answers.
  let rl: Interface | undefined;
  const queued: string[] = [];
  let waiting: ((answer: string | undefined) => void) | undefined;
  let ended = false;

  function open(): Interface {
    if (rl) return rl;
    rl = createInterface({ input: streams.stdin, terminal: false });
    rl.on("line", (text) => {
      const w = waiting;
      waiting = undefined;
      if (w) w(text);
      else {
        queued.push(text);
        rl?.pause();
      }
    });
    rl.on("close", () => {
      ended = true;
      waiting?.(undefined);
      waiting = undefined;
    });
    return rl;
  }

  return {
    async next(question) {
      const r = open();
      streams.stderr.write(question);
      let answer = queued.shift();
      if (answer === undefined && !ended) {
        answer = await new Promise<string | undefined>((resolve) => {
          waiting = resolve;
          r.resume();
        });
      }
      // The log of a scripted run shows what was chosen, as if typed.
      streams.stderr.write(answer === undefined ? "\n" : `${answer}\n`);
      return answer;
    },
    close() {
      rl?.close();
      rl = undefined;
    },
  };
}

export function createTerminal(options: { yes: boolean }, streams: Streams = process): Terminal {
  const fromTerminal = streams.stdin.isTTY === true;
  // A script's pipe (or file) answers like typing would; a terminal needs a visible stderr to ask on.
  const canPrompt = fromTerminal ? streams.stderr.isTTY === true : true;
  const lines = fromTerminal ? terminalLines(streams) : pipedLines(streams);

  function noAnswer(flag: string, question?: string): never {
    const asked = question ? `${question} — ` : "This needs an answer but ";
    const why = fromTerminal ? "there is no terminal to answer on" : "standard input has no answer left";
    throw new UsageError(`${asked}${why}; pass ${flag}. Nothing was changed.`);
  }

  async function line(question: string, flag: string, shortQuestion?: string): Promise<string> {
    if (!canPrompt) noAnswer(flag, shortQuestion);
    const answer = await lines.next(question);
    if (answer === undefined) {
      // Ctrl-D at a terminal is the person saying no; the end of a script's answers is a usage error.
      if (fromTerminal) throw new CancelledError("No answer (end of input); nothing was changed.");
      noAnswer(flag, shortQuestion);
    }
    return answer.trim();
  }

  return {
    canPrompt,
    close: () => lines.close(),
    async confirm(question, flag) {
      if (options.yes) return true;
      const answer = await line(`${question} [y/N] `, `${flag} to answer yes`, question);
      return /^y(es)?$/i.test(answer);
    },
    async ask(question, flag, valid) {
      for (;;) {
        const answer = await line(question, flag);
        const problem = valid?.(answer);
        if (problem === undefined) return answer;
        if (!fromTerminal) throw new UsageError(`${problem}; pass ${flag}. Nothing was changed.`);
        streams.stderr.write(`${problem}.\n`);
      }
    },
    async choose(title, items, flag) {
      if (canPrompt) {
        streams.stderr.write(`${title}\n`);
        items.forEach((item, i) => {
          streams.stderr.write(`  ${i + 1}. ${item}\n`);
        });
      }
      for (;;) {
        const answer = await line("\nSelect profile number (or 'q' to quit): ", flag);
        if (/^q(uit)?$/i.test(answer)) throw new CancelledError("Quit; nothing was changed.");
        const n = Number(answer);
        const item = Number.isInteger(n) ? items[n - 1] : undefined;
        if (item !== undefined) return item;
        const problem = `Please enter a number from 1 to ${items.length}, or q`;
        // A script that answers wrongly once would answer wrongly for ever: stop instead of looping.
        if (!fromTerminal) throw new UsageError(`"${answer}" is not on the menu; pass ${flag}.`);
        streams.stderr.write(`${problem}.\n`);
      }
    },
  };
}
