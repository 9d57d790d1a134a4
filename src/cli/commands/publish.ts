/**
 * `trunks publish [BRANCH] [--to REMOTE]`: a finished branch goes to a git remote for
 * review (GitHub, usually `origin`), after the trunk has it, so what reviewers see is
 * never something the trunk lacks. Both pushes are plain git pushes: git prints what it
 * prints, and a refusal (non-fast-forward, protected branch) is git's own.
 */
import { gitText } from "../../git/run.ts";
import { REMOTE } from "../../local/repo.ts";
import { parseCommand, str, verbosity } from "../args.ts";
import { Exit, UsageError } from "../errors.ts";
import { runGitInteractive } from "../helper_env.ts";
import type { Command } from "../command.ts";
import { requirePrimary } from "./push.ts";
import { PUBLISH_REMOTE, publishRemote } from "../publish_state.ts";

const usage = `usage: trunks publish [BRANCH] [--to REMOTE] [-q | -v]

Push a finished branch (default: the current one) to the trunk, then to a git remote
for review (default ${PUBLISH_REMOTE}, e.g. GitHub). A sandbox made by trunks clone has no
${PUBLISH_REMOTE}: add it once with git remote add ${PUBLISH_REMOTE} <url>. trunks status shows
how far the branch is ahead of or behind ${PUBLISH_REMOTE}. The exit code is git's.

  --to REMOTE   the git remote to publish to (default ${PUBLISH_REMOTE})`;

export const command: Command = {
  summary: "push a finished branch to the trunk, then to origin (GitHub) for review",
  usage,
  async run(args) {
    const p = parseCommand(args, {
      name: "publish",
      usage,
      options: { to: { type: "string" } },
      positionals: [0, 1],
    });
    if (!p) return 0;
    const to = str(p, "to") ?? PUBLISH_REMOTE;
    if (to === REMOTE) {
      throw new UsageError(
        `--to ${REMOTE} is the trunk itself; publish goes to another git remote (e.g. ${PUBLISH_REMOTE})`,
      );
    }
    await requirePrimary();
    const branch = p.positionals[0] ??
      await gitText(["symbolic-ref", "-q", "--short", "HEAD"]).catch(() => "");
    if (!branch) throw new Error("HEAD is detached; name the branch: trunks publish <branch>");
    const ok = await gitText(["rev-parse", "-q", "--verify", `refs/heads/${branch}^{commit}`])
      .catch(() => "");
    if (!ok) throw new Error(`there is no local branch ${branch}`);
    if (!await publishRemote(to)) {
      throw new Error(
        `this repository has no git remote ${to}; add it once (e.g. GitHub): git remote add ${to} <url>`,
      );
    }
    const level = verbosity();
    const flags = level === 0 ? ["-q"] : level > 1 ? ["-v"] : [];
    const spec = `refs/heads/${branch}:refs/heads/${branch}`;
    // The trunk first: a reviewer never sees a commit the trunk could lose.
    const saved = await runGitInteractive(["push", ...flags, REMOTE, spec]);
    if (saved !== 0) throw new Exit(saved);
    const published = await runGitInteractive(["push", ...flags, to, spec]);
    if (published !== 0) throw new Exit(published);
    if (level > 0) console.error(`trunks: published ${branch} to the trunk and to ${to}`);
    return 0;
  },
};
