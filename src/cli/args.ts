/**
 * The command line's option handling, on `node:util`'s `parseArgs`: one style for every command (`--name value`
 * or `--name=value`, booleans as bare `--flag`), unknown options and stray arguments refused with exit code 2.
 *
 * @module
 */
import { parseArgs } from "node:util";

/**
 * A failure the command line reports as one line, without a stack trace: `exitCode` 2 for a usage error (an
 * unknown option, a bad value), 1 when the command itself failed (an unwritable output file).
 */
export class CliError extends Error {
  override name = "CliError";
  /** The process exit code to report. */
  readonly exitCode: number;
  /** @param message - what was wrong and what was expected; @param exitCode - 2 for usage, 1 for failure. */
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** One option of a command, for `parseArgs` and for its `--help`. */
export interface OptionSpec {
  /** `"string"` takes a value; `"boolean"` is a bare flag. */
  readonly type: "string" | "boolean";
  /** The value's placeholder in the help (`FILE`, `N`); only for `"string"`. */
  readonly value?: string;
  /** One line for the help. */
  readonly help: string;
}

/** A command: its name, what it does, its options, and whether it needs a clone of the repository. */
export interface CommandSpec {
  /** The word after `forge-alloc`. */
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** A paragraph for `forge-alloc <name> --help`. */
  readonly description: string;
  /** Its options (`--help` is added to every command). */
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** True when it works only in a clone (it runs repository programs that the package does not ship). */
  readonly needsClone: boolean;
}

/** The parsed options of one command: strings, booleans, and `help`. */
export type ParsedValues = Record<string, string | boolean | undefined>;

/**
 * Parses `argv` (the words after the command) strictly against `spec`'s options.
 *
 * @throws {@link CliError} (exit code 2) for an unknown option, a missing value, a value given to a flag, or a
 *   positional argument, naming what was wrong and the options the command accepts.
 */
export function parseCommand(spec: CommandSpec, argv: readonly string[]): ParsedValues {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
    help: { type: "boolean", short: "h" },
  };
  for (const [name, o] of Object.entries(spec.options)) options[name] = { type: o.type };
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false })
      .values as ParsedValues;
  } catch (error) {
    const accepted = Object.keys(options)
      .map((n) => `--${n}`)
      .join(", ");
    const message = (error as Error).message.split("\n")[0]!.replace(/\. To specify.*$/, "");
    throw new CliError(`${message}; \`${spec.name}\` accepts ${accepted}`, 2);
  }
}

/**
 * Reads an integer option: `fallback` when absent.
 *
 * @throws {@link CliError} (exit code 2) when the text is not an integer from `0` to `max`.
 */
export function integerOption(name: string, text: string | undefined, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (text.trim() === "" || !Number.isInteger(n) || n < 0 || n > max) {
    throw new CliError(`--${name} must be an integer from 0 to ${max}, not "${text}"`, 2);
  }
  return n;
}

/** The `--help` text of one command. */
export function commandHelp(spec: CommandSpec, inClone: boolean): string {
  const rows = Object.entries(spec.options).map(([name, o]) => [
    `--${name}${o.type === "string" ? ` ${o.value ?? "VALUE"}` : ""}`,
    o.help,
  ]);
  rows.push(["-h, --help", "this text"]);
  const width = Math.max(...rows.map((r) => r[0]!.length));
  const clone =
    spec.needsClone && !inClone
      ? "\nThis command runs programs of the repository that the package does not ship: run it in a clone of\n" +
        "forge-alloc (after `npm install`).\n"
      : "";
  return (
    `usage: forge-alloc ${spec.name}${rows.length > 1 ? " [options]" : ""}\n\n${spec.description}\n${clone}\n` +
    `options:\n${rows.map(([n, h]) => `  ${n!.padEnd(width)}  ${h}`).join("\n")}\n`
  );
}
