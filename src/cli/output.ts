import { createColors } from "picocolors";

export type Colors = ReturnType<typeof createColors>;

/** Where a command's words go: results on stdout, everything else on stderr. */
export interface Output {
  readonly colors: Colors;
  readonly json: boolean;
  /** True when stderr is a terminal a person watches (spinners, prompts, countdowns). */
  readonly interactive: boolean;
  result(line: string): void;
  note(line: string): void;
  warn(line: string): void;
  document(value: unknown): void;
}

export function colorsEnabled(
  stream: NodeJS.WriteStream,
  env: NodeJS.ProcessEnv,
  noColorFlag: boolean,
): boolean {
  if (noColorFlag || "NO_COLOR" in env) return false;
  if ("FORCE_COLOR" in env) return true;
  return stream.isTTY === true && env.TERM !== "dumb";
}

export function createOutput(options: { json: boolean; noColor: boolean }, env = process.env): Output {
  const colors = createColors(colorsEnabled(process.stderr, env, options.noColor));
  return {
    colors,
    json: options.json,
    interactive: process.stderr.isTTY === true && env.TERM !== "dumb",
    result: (line) => {
      if (!options.json) process.stdout.write(`${line}\n`);
    },
    note: (line) => process.stderr.write(`${line}\n`),
    warn: (line) => process.stderr.write(`${colors.yellow("warning:")} ${line}\n`),
    document: (value) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
  };
}
