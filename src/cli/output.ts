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

// SGR sequences only: the codes picocolors writes (built from a string: biome refuses a raw ESC).
const SGR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

export function createOutput(options: { json: boolean; noColor: boolean }, env = process.env): Output {
  // Colour is decided per stream: `keyctl -k > keys.txt` on a terminal keeps colours on stderr
  // and none in the file. Text is coloured once and the codes dropped where they do not belong.
  const onStdout = colorsEnabled(process.stdout, env, options.noColor);
  const onStderr = colorsEnabled(process.stderr, env, options.noColor);
  const colors = createColors(onStdout || onStderr);
  const plain = (text: string, enabled: boolean) => (enabled ? text : text.replace(SGR, ""));
  return {
    colors,
    json: options.json,
    interactive: process.stderr.isTTY === true && env.TERM !== "dumb",
    result: (line) => {
      if (!options.json) process.stdout.write(`${plain(line, onStdout)}\n`);
    },
    note: (line) => process.stderr.write(`${plain(line, onStderr)}\n`),
    warn: (line) => process.stderr.write(`${plain(`${colors.yellow("warning:")} ${line}`, onStderr)}\n`),
    document: (value) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
  };
}
