/** `trunks help [command]`. */
import { VERSION } from "../../trunk/meta.ts";
import { UsageError } from "../errors.ts";
import type { Command, Loader } from "../command.ts";

const ORDER = [
  "init",
  "storage",
  "status",
  "check",
  "log",
  "maintenance",
  "push",
  "pull",
  "fetch",
  "clone",
  "shell",
  "install-helper",
  "help",
  "version",
];

async function overview(commands: Record<string, Loader>): Promise<string> {
  const names = [
    ...ORDER.filter((n) => n in commands),
    ...Object.keys(commands).filter((n) => !ORDER.includes(n)),
  ];
  const lines = [
    `trunks ${VERSION}: git repositories in storage you own`,
    "",
    "usage: trunks [<command>] [options]      (no command: the managed shell)",
    "",
  ];
  for (const n of names) lines.push(`  ${n.padEnd(15)} ${(await commands[n]()).summary}`);
  lines.push(
    "",
    "Every command takes -h. Commands that report state take --json (shapes in docs/cli.md).",
    "git itself: git push, git fetch and git clone trunks::<url> go through git-remote-trunks.",
  );
  return lines.join("\n");
}

/** `help`, over the table of commands it describes (src/cli/main.ts passes its own). */
export const helpCommand = (commands: Record<string, Loader>): Command => ({
  summary: "show help for trunks or one command",
  usage: "usage: trunks help [command]",
  async run(args: string[]): Promise<number> {
    const name = args.find((a) => !a.startsWith("-"));
    if (!name) {
      console.log(await overview(commands));
      return 0;
    }
    const load = commands[name];
    if (!load) throw new UsageError(`'${name}' is not a trunks command; see trunks help`);
    if (name === "storage") {
      const storage = await import("./storage.ts");
      const sub = args.filter((a) => !a.startsWith("-"))[1];
      if (sub && storage.storageCommands[sub]) {
        console.log((await storage.storageCommands[sub]()).usage);
      } else console.log(await storage.storageUsage());
      return 0;
    }
    console.log((await load()).usage);
    return 0;
  },
});
