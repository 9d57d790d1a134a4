/** `trunks storage <sub>`: the named storages of this repository. */
import { UsageError } from "../errors.ts";
import type { Command } from "../command.ts";

type Loader = () => Promise<Command>;

/** sub-command -> lazy module. Add one by adding a line here. */
export const storageCommands: Record<string, Loader> = {
  add: async () => (await import("./storage_add.ts")).command,
  list: async () => (await import("./storage_list.ts")).list,
  show: async () => (await import("./storage_list.ts")).show,
  ping: async () => (await import("./storage_ping.ts")).command,
  remove: async () => (await import("./storage_remove.ts")).command,
  sync: async () => (await import("./storage_sync.ts")).command,
  approve: async () => (await import("./storage_approve.ts")).command,
};

async function usage(): Promise<string> {
  const lines = ["usage: trunks storage <command> [options]", ""];
  for (const [name, load] of Object.entries(storageCommands)) {
    lines.push(`  ${name.padEnd(8)} ${(await load()).summary}`);
  }
  lines.push("", "See 'trunks storage <command> -h' for a command's options.");
  return lines.join("\n");
}

export const command: Command = {
  summary: "add, list, show, ping, remove, sync and approve storages",
  usage: "usage: trunks storage add|list|show|ping|remove|sync|approve ...",
  async run(args) {
    const [sub, ...rest] = args;
    if (!sub || sub === "-h" || sub === "--help" || sub === "help") {
      if (sub) console.log(await usage());
      else console.error(await usage());
      return sub ? 0 : 2;
    }
    const load = storageCommands[sub];
    if (!load) {
      throw new UsageError(
        `'${sub}' is not a storage command; use one of: ${Object.keys(storageCommands).join(", ")}`,
      );
    }
    return await (await load()).run(rest);
  },
};

/** The full help text, for `trunks help storage`. */
export { usage as storageUsage };
