/**
 * `trunks` / `trunks shell`: the user's $SHELL with `git-remote-trunks` reachable and
 * the repository's trunk in the prompt and the environment. `exit` returns; the exit
 * code is the shell's. With a script on stdin (no terminal) it simply runs it.
 */
import { basename, join } from "node:path";
import { findRepo, findTrunksDb, openInitialized } from "../../local/repo.ts";
import { primaryStorage } from "../../local/storages.ts";
import { redactUrl } from "../../storage/registry.ts";
import { parseCommand, str } from "../args.ts";
import { helperEnv } from "../helper_env.ts";
import { shQuote } from "../install_helper.ts";
import type { Command } from "../command.ts";

const usage = `usage: trunks [shell] [-c COMMAND]

Start your $SHELL (or /bin/sh) with git-remote-trunks reachable and, inside a trunks
repository, the trunk in the prompt and in TRUNKS_REPO, TRUNKS_TRUNK and TRUNKS_ROOT.
TRUNKS_SHELL=1 marks the shell. \`exit\` returns with the shell's exit code.

  -c COMMAND   run COMMAND in that shell and return`;

interface ShellContext {
  env: Record<string, string>;
  label: string;
}

async function context(): Promise<ShellContext> {
  const env: Record<string, string> = { ...(await helperEnv()), TRUNKS_SHELL: "1" };
  let label = "trunks";
  const repo = await findRepo().catch(() => null);
  if (repo && await findTrunksDb(repo)) {
    const ctx = await openInitialized();
    try {
      const primary = primaryStorage(ctx.db);
      env.TRUNKS_REPO = ctx.name;
      env.TRUNKS_ROOT = repo.top;
      env.TRUNKS_TRUNK = primary ? redactUrl(primary.url) : "";
      label = `trunks:${ctx.name}${primary ? `@${primary.name}` : ""}`;
    } finally {
      ctx.db.close();
    }
  }
  return { env, label };
}

/** Shell arguments and env that put `(label)` in front of the user's own prompt. */
async function promptSetup(
  shell: string,
  label: string,
  tmp: string,
): Promise<{ args: string[]; env: Record<string, string> }> {
  const name = basename(shell);
  const home = Deno.env.get("HOME") ?? "";
  const prefix = `(${label}) `;
  if (name === "bash") {
    const rc = join(tmp, "bashrc");
    await Deno.writeTextFile(
      rc,
      `[ -f ~/.bashrc ] && . ~/.bashrc\nPS1=${shQuote(prefix)}"\${PS1:-\\\\$ }"\n`,
    );
    return { args: ["--rcfile", rc, "-i"], env: {} };
  }
  if (name === "zsh") {
    const orig = Deno.env.get("ZDOTDIR") ?? home;
    await Deno.writeTextFile(
      join(tmp, ".zshrc"),
      `ZDOTDIR=${shQuote(orig)}\n[ -f "$ZDOTDIR/.zshrc" ] && . "$ZDOTDIR/.zshrc"\nPROMPT=${
        shQuote(prefix)
      }"$PROMPT"\n`,
    );
    return { args: ["-i"], env: { ZDOTDIR: tmp } };
  }
  return { args: ["-i"], env: { PS1: `${prefix}${Deno.env.get("PS1") ?? "$ "}` } };
}

export const command: Command = {
  summary: "a shell with git-remote-trunks reachable and the trunk in the prompt (default)",
  usage,
  async run(args) {
    const p = parseCommand(args, {
      name: "shell",
      usage,
      options: { command: { type: "string", short: "c" } },
    });
    if (!p) return 0;
    if (Deno.env.get("TRUNKS_SHELL")) {
      console.error("trunks: already inside a trunks shell; type exit to leave it");
      return 1;
    }
    const shell = Deno.env.get("SHELL") || "/bin/sh";
    const ctx = await context();
    const cmd = str(p, "command");
    const interactive = cmd === undefined && Deno.stdin.isTerminal();
    const tmp = await Deno.makeTempDir({ prefix: "trunks-shell-" });
    try {
      let shellArgs: string[] = [];
      let env = ctx.env;
      if (cmd !== undefined) shellArgs = ["-c", cmd];
      else if (interactive) {
        const setup = await promptSetup(shell, ctx.label, tmp);
        shellArgs = setup.args;
        env = { ...env, ...setup.env };
        console.error(
          `trunks shell (${ctx.label}); git push/fetch reach the trunk; type exit to return`,
        );
      }
      // Ctrl-C belongs to the shell's foreground job, not to us.
      const ignore = () => {};
      Deno.addSignalListener("SIGINT", ignore);
      try {
        const child = new Deno.Command(shell, {
          args: shellArgs,
          env,
          stdin: "inherit",
          stdout: "inherit",
          stderr: "inherit",
        }).spawn();
        const status = await child.status;
        return status.code;
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) {
          throw new Error(`shell ${shell} not found; set SHELL to an installed shell`);
        }
        throw e;
      } finally {
        Deno.removeSignalListener("SIGINT", ignore);
      }
    } finally {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
};
