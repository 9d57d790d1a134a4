/**
 * Flag parsing for every command, on `node:util` parseArgs: strict (an unknown or
 * misspelt flag is an error, never silently ignored), `-h`/`--help` everywhere.
 */
import { parseArgs } from "node:util";
import { escapeUnsafeJson } from "../storage/plain_text.ts";
import { UsageError } from "./errors.ts";

export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
}

export interface CommandSpec {
  /** `storage add`: used in messages. */
  name: string;
  usage: string;
  options?: Record<string, OptionSpec>;
  /** Positional arguments allowed: [min, max]. */
  positionals?: [number, number];
}

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/**
 * How much a command says, as git counts it: -q lowers, each -v raises (1 is normal).
 * Every command accepts `-q`/`--quiet` and `-v`/`--verbose`, before its name too
 * (`trunks -v status`), as git does.
 */
let level = 1;

export function verbosity(): number {
  return level;
}

/**
 * `-q`/`-v` given before the command name (`trunks -v status`) move after it, so the
 * command parses them (and push, pull, fetch hand them to git).
 */
export function takeGlobalVerbosity(args: string[]): string[] {
  let i = 0;
  while (i < args.length && /^(-q|--quiet|-v+|--verbose)$/.test(args[i])) i++;
  if (i === 0) return args;
  const [name, ...rest] = args.slice(i);
  return name === undefined ? ["shell", ...args.slice(0, i)] : [name, ...args.slice(0, i), ...rest];
}

const VERBOSITY_OPTIONS = {
  quiet: { type: "boolean", short: "q" },
  verbose: { type: "boolean", short: "v", multiple: true },
} as const;

/** The parsed command line, or null when help was asked for (and printed). */
export function parseCommand(args: string[], spec: CommandSpec): Parsed | null {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        help: { type: "boolean", short: "h" },
        ...VERBOSITY_OPTIONS,
        ...(spec.options ?? {}),
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new UsageError(`${spec.name}: ${parseErrorText(e)}; see trunks ${spec.name} -h`);
  }
  if (parsed.values.help) {
    console.log(spec.usage);
    return null;
  }
  if (parsed.values.quiet === true) level = 0;
  const v = parsed.values.verbose;
  if (Array.isArray(v)) level += v.length;
  const [min, max] = spec.positionals ?? [0, 0];
  const n = parsed.positionals.length;
  if (n < min) {
    throw new UsageError(`${spec.name}: missing argument; usage: ${usageLine(spec.usage)}`);
  }
  if (n > max) {
    throw new UsageError(
      `${spec.name}: unexpected argument ${JSON.stringify(parsed.positionals[max])}; usage: ${
        usageLine(spec.usage)
      }`,
    );
  }
  return { values: parsed.values as Parsed["values"], positionals: parsed.positionals };
}

function usageLine(usage: string): string {
  return usage.split("\n")[0].replace(/^usage:\s*/, "");
}

/** parseArgs' messages are long and mention JavaScript; say the same in one short line. */
function parseErrorText(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: string }).code;
  const opt = /'(-[^']*)'/.exec(msg)?.[1];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return `unknown option ${opt ?? msg}`;
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    if (/argument missing/.test(msg)) return `option ${optName(msg)} needs a value`;
    return `option ${optName(msg)} takes no value`;
  }
  return msg.split("\n")[0];
}

function optName(msg: string): string {
  return /'(--?[^' ]+)/.exec(msg)?.[1] ?? "";
}

export function str(p: Parsed, key: string): string | undefined {
  const v = p.values[key];
  return typeof v === "string" ? v : undefined;
}

export function bool(p: Parsed, key: string): boolean {
  return p.values[key] === true;
}

/** Print `value` as the command's --json answer: one JSON document on stdout. */
export function printJson(value: unknown): void {
  // Values may hold what a store or another machine wrote (ref names, writers).
  console.log(escapeUnsafeJson(JSON.stringify(value, null, 2)));
}
