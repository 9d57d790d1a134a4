/**
 * Command dispatch. Each command lives in `src/cli/commands/<name>.ts` and is loaded
 * only when used, so `trunks --version` and the remote helper start fast.
 */
import process from "node:process";
import { runHelper } from "../helper/helper.ts";
import { UNSET_REMOTE_URL } from "../local/remote.ts";
import { VERSION } from "../trunk/meta.ts";
import { describeError } from "../trunk/describe_error.ts";
import { stderrLine } from "../trunk/stderr_line.ts";
import { Exit, UsageError } from "./errors.ts";
import type { Loader } from "./command.ts";
import { takeGlobalVerbosity } from "./args.ts";

/** name -> lazy module. Add a command by adding one line here. */
export const commands: Record<string, Loader> = {
  init: async () => (await import("./commands/init.ts")).command,
  storage: async () => (await import("./commands/storage.ts")).command,
  status: async () => (await import("./commands/status.ts")).command,
  push: async () => (await import("./commands/push.ts")).push,
  pull: async () => (await import("./commands/push.ts")).pull,
  fetch: async () => (await import("./commands/push.ts")).fetch,
  publish: async () => (await import("./commands/publish.ts")).command,
  clone: async () => (await import("./commands/clone.ts")).command,
  shell: async () => (await import("./commands/shell.ts")).command,
  "install-helper": async () => (await import("./commands/install_helper.ts")).command,
  check: async () => (await import("./commands/check.ts")).command,
  doctor: async () => (await import("./commands/doctor.ts")).command,
  log: async () => (await import("./commands/log.ts")).command,
  maintenance: async () => (await import("./commands/maintenance.ts")).command,
  // help lists every command: it gets this table instead of importing it back.
  help: async () => (await import("./commands/help.ts")).helpCommand(commands),
  version: () =>
    Promise.resolve({
      summary: "print the version",
      usage: "usage: trunks --version",
      run: version,
    }),
};

function version(): Promise<number> {
  console.log(`trunks ${VERSION}`);
  return Promise.resolve(0);
}

/** The helper for a repository whose `trunks` remote has no storage yet: say what to do. */
function helper(args: string[]): Promise<number> {
  if (args[1] === UNSET_REMOTE_URL.slice("trunks::".length)) {
    console.error(
      "fatal: trunks: this repository has no storage yet; add one with: trunks storage add --name primary --backend local --path <dir>",
    );
    return Promise.resolve(128);
  }
  return runHelper(args);
}

export async function main(args: string[]): Promise<number> {
  // Invoked through a `git-remote-trunks` link or copy, or explicitly. execPath follows
  // symlinks; argv0 keeps the name the process was started by.
  const invokedAs = (process.argv0 || Deno.execPath()).split(/[\\/]/).pop() ?? "";
  if (invokedAs.startsWith("git-remote-trunks")) return await helper(args);
  if (args[0] === "remote-helper") return await helper(args.slice(1));
  if (args[0] === "--version" || args[0] === "-V") return await version();
  args = takeGlobalVerbosity(args);
  if (args[0] === "--help" || args[0] === "-h") args = ["help", ...args.slice(1)];
  const name = args[0] ?? "shell";
  const load = commands[name];
  if (!load) {
    console.error(`trunks: '${name}' is not a trunks command. See 'trunks help'.`);
    return 2;
  }
  try {
    return await (await load()).run(args.slice(1));
  } catch (e) {
    if (e instanceof Exit) return e.code;
    const message = describeError(e);
    const code = e instanceof UsageError ? 2 : 1;
    stderrLine.message(`trunks: ${message}`);
    // Agents asked for JSON get the failure as JSON too, on stdout.
    if (args.includes("--json")) console.log(JSON.stringify({ error: message, exitCode: code }));
    return code;
  }
}
