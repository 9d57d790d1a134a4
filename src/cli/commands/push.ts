/**
 * `trunks push`, `trunks pull`, `trunks fetch`: git with the trunk remote. Thin on
 * purpose: git prints what it prints, and the exit code is git's.
 */
import { gitText } from "../../git/run.ts";
import { openInitialized, REMOTE } from "../../local/repo.ts";
import { primaryStorage } from "../../local/storages.ts";
import { runGitInteractive } from "../helper_env.ts";
import type { Command } from "../command.ts";

/** The trunk remote must point at a storage; say how to add one if not. */
export async function requirePrimary(): Promise<void> {
  const ctx = await openInitialized();
  try {
    if (!primaryStorage(ctx.db)) {
      throw new Error(
        "this repository has no storage yet; add one: trunks storage add --name primary --backend local --path <dir>",
      );
    }
  } finally {
    ctx.db.close();
  }
}

function wantsHelp(args: string[]): boolean {
  return args.includes("-h") || args.includes("--help");
}

/** Positional arguments (refspecs, branches) among git options we pass through. */
function hasPositional(args: string[]): boolean {
  let rest = false;
  for (const a of args) {
    if (rest || !a.startsWith("-")) return true;
    if (a === "--") rest = true;
  }
  return false;
}

async function currentBranch(): Promise<string | null> {
  return await gitText(["symbolic-ref", "-q", "--short", "HEAD"]).catch(() => null) || null;
}

const pushUsage = `usage: trunks push [git push options] [refspec...]

git push ${REMOTE} ...: with no refspec, the current branch (HEAD) to the same name in
the trunk. Options (--tags, --force-with-lease, -u, --delete, ...) go to git as given.
The exit code is git's.`;

export const push: Command = {
  summary: "push the current branch (or refspecs) to the trunk",
  usage: pushUsage,
  async run(args) {
    if (wantsHelp(args)) return (console.log(pushUsage), 0);
    await requirePrimary();
    // --all/--branches/--mirror name their own refs and refuse a refspec beside them.
    const own = args.some((a) => ["--all", "--branches", "--mirror"].includes(a));
    const refs = hasPositional(args) || own ? [] : ["HEAD"];
    return await runGitInteractive(["push", REMOTE, ...args, ...refs]);
  },
};

const pullUsage = `usage: trunks pull [git pull options] [branch]

git pull ${REMOTE} <current branch>: fetch from the trunk and merge (or rebase, with
--rebase) the same-named branch. The exit code is git's.`;

export const pull: Command = {
  summary: "fetch and merge the current branch from the trunk",
  usage: pullUsage,
  async run(args) {
    if (wantsHelp(args)) return (console.log(pullUsage), 0);
    await requirePrimary();
    let refs: string[] = [];
    if (!hasPositional(args)) {
      const b = await currentBranch();
      if (!b) {
        throw new Error("HEAD is detached; name the branch to pull: trunks pull <branch>");
      }
      refs = [b];
    }
    return await runGitInteractive(["pull", REMOTE, ...args, ...refs]);
  },
};

const fetchUsage = `usage: trunks fetch [git fetch options]

git fetch ${REMOTE}: update refs/remotes/${REMOTE}/* and tags from the trunk. The exit
code is git's.`;

export const fetch: Command = {
  summary: "fetch from the trunk",
  usage: fetchUsage,
  async run(args) {
    if (wantsHelp(args)) return (console.log(fetchUsage), 0);
    await requirePrimary();
    return await runGitInteractive(["fetch", REMOTE, ...args]);
  },
};
