/**
 * Command dispatch. Each command lives in `src/cli/commands/<name>.ts` and is loaded
 * only when used, so `trunks --version` and the remote helper start fast.
 */
import process from "node:process";
import { runHelper } from "../helper/helper.ts";
import { VERSION } from "../trunk/meta.ts";
import { describeError } from "./errors.ts";

export interface Command {
  summary: string;
  usage: string;
  run(args: string[]): Promise<number>;
}

type Loader = () => Promise<Command>;

/** name -> lazy module. Add a command by adding one line here. */
export const commands: Record<string, Loader> = {
  check: () => import("./commands/check.ts").then((m) => m.command),
  version: () =>
    Promise.resolve({ summary: "print the version", usage: "trunks --version", run: version }),
};

function version(): Promise<number> {
  console.log(`trunks ${VERSION}`);
  return Promise.resolve(0);
}

export async function main(args: string[]): Promise<number> {
  // Invoked through a `git-remote-trunks` link or copy, or explicitly. execPath follows
  // symlinks; argv0 keeps the name the process was started by.
  const invokedAs = (process.argv0 || Deno.execPath()).split(/[\\/]/).pop() ?? "";
  if (invokedAs.startsWith("git-remote-trunks")) return await runHelper(args);
  if (args[0] === "remote-helper") return await runHelper(args.slice(1));
  if (args[0] === "--version" || args[0] === "-V") return await version();
  const name = args[0] ?? "shell";
  const load = commands[name];
  if (!load) {
    console.error(`trunks: '${name}' is not a trunks command. See 'trunks help'.`);
    return 2;
  }
  try {
    return await (await load()).run(args.slice(1));
  } catch (e) {
    console.error(`trunks: ${describeError(e)}`);
    return 1;
  }
}
