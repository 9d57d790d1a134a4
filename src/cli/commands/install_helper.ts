/** `trunks install-helper [DIR]`: (re)write the `git-remote-trunks` shim. */
import { dirname, join } from "node:path";
import { installHelper, selfCommand } from "../install_helper.ts";
import { parseCommand } from "../args.ts";
import type { Command } from "../command.ts";

const usage = `usage: trunks install-helper [DIR]

Write git-remote-trunks (a two-line shim that runs this trunks as a remote helper)
into DIR: by default next to the trunks binary, or ~/.local/bin when trunks runs from
a source checkout. DIR must be on PATH for git to find it.`;

export const command: Command = {
  summary: "write the git-remote-trunks shim",
  usage,
  async run(args) {
    const p = parseCommand(args, { name: "install-helper", usage, positionals: [0, 1] });
    if (!p) return 0;
    const self = selfCommand();
    const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? ".";
    const dir = p.positionals[0] ??
      (Deno.build.standalone ? dirname(self.path) : join(home, ".local", "bin"));
    const path = await installHelper(dir, self.path, self.args);
    console.log(`installed ${path}`);
    return 0;
  },
};
