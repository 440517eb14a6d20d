import type { CliInput } from "../cli/args.js";
import type { Output } from "../cli/output.js";
import { KeyctlError } from "../errors.js";

export async function runAws(input: CliInput, _out: Output): Promise<number> {
  throw new KeyctlError(`${input.command} is not available yet.`);
}
