/**
 * Command dispatch. Each command lives in `src/cli/commands/<name>.ts` and is loaded
 * only when used, so `trunks --version` and the remote helper start fast. Git starts the
 * helper for every fetch and push, so nothing here imports what only some commands need
 * (the trunk's code, node:crypto): each import is paid at every start.
 */
import { UNSET_REMOTE_URL } from "../local/remote.ts";
import { Exit, UsageError } from "./errors.ts";
import type { Loader } from "./command.ts";

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

async function version(): Promise<number> {
  const { VERSION } = await import("../trunk/meta.ts");
  console.log(`trunks ${VERSION}`);
  return 0;
}

/** The helper for a repository whose `trunks` remote has no storage yet: say what to do. */
function helper(args: string[]): Promise<number> {
  if (args[1] === UNSET_REMOTE_URL.slice("trunks::".length)) {
    console.error(
      "fatal: trunks: this repository has no storage yet; add one with: trunks storage add --name primary --backend local --path <dir>",
    );
    return Promise.resolve(128);
  }
  return import("../helper/helper.ts").then((h) => h.runHelper(args));
}

/**
 * The name this process was started by. Under `deno run` that is deno itself (which never
 * runs as git-remote-trunks). A compiled binary reads its argv[0] from /proc where there
 * is one: node:process, the portable way, adds ~20 ms to every start (every git fetch).
 * execPath follows symlinks; argv[0] keeps the name.
 */
async function startedAs(): Promise<string> {
  if (!Deno.build.standalone) return Deno.execPath();
  try {
    const argv0 = Deno.readTextFileSync("/proc/self/cmdline").split("\0")[0];
    if (argv0) return argv0;
  } catch {
    // no /proc (macOS, Windows) or no permission: ask node:process
  }
  const { default: process } = await import("node:process");
  return process.argv0 || Deno.execPath();
}

export async function main(args: string[]): Promise<number> {
  // Invoked through a `git-remote-trunks` link or copy, or explicitly.
  const invokedAs = (await startedAs()).split(/[\\/]/).pop() ?? "";
  if (invokedAs.startsWith("git-remote-trunks")) return await helper(args);
  if (args[0] === "remote-helper") return await helper(args.slice(1));
  if (args[0] === "--version" || args[0] === "-V") return await version();
  args = (await import("./args.ts")).takeGlobalVerbosity(args);
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
    const [{ describeError }, { stderrLine }] = await Promise.all([
      import("../trunk/describe_error.ts"),
      import("../trunk/stderr_line.ts"),
    ]);
    const message = describeError(e);
    const code = e instanceof UsageError ? 2 : 1;
    stderrLine.message(`trunks: ${message}`);
    // Agents asked for JSON get the failure as JSON too, on stdout.
    if (args.includes("--json")) console.log(JSON.stringify({ error: message, exitCode: code }));
    return code;
  }
}
