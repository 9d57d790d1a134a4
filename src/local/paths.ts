/** Where local state lives for a repository. */
import { gitText } from "../git/run.ts";
import { findRepo, findTrunksDb } from "./repo_dir.ts";

/**
 * `.trunks/<repo>.trunk` when `trunks init` made one (in this work tree, or in the main
 * one for a linked work tree), else `$GIT_DIR/trunks.sqlite` (bare repositories, or a
 * plain `git clone trunks::...`). The cache belongs to the repository git works on:
 * `git clone` run inside another repository's work tree sets GIT_DIR to the new clone,
 * and git then reports the current directory as the work tree; that directory's
 * `.trunks` belongs to another repository and is not used.
 */
export async function localDbPath(): Promise<string> {
  return (await locateLocalDb()).path;
}

/**
 * `localDbPath` and the absolute git dir, from one `git rev-parse` in a work tree (a
 * fetch or push starts no other process to learn them); throws outside any repository.
 */
export async function locateLocalDb(): Promise<{ gitDir: string; path: string }> {
  const repo = await findRepo().catch(() => null);
  const db = repo && await worksOn(repo.top, repo.gitDir) ? await findTrunksDb(repo) : null;
  const gitDir = repo?.gitDir ?? await gitText(["rev-parse", "--absolute-git-dir"]);
  return { gitDir, path: db ?? `${gitDir}/trunks.sqlite` };
}

/** True when `top/.git` (a directory, or a `gitdir:` file) is `gitDir`. */
async function worksOn(top: string, gitDir: string): Promise<boolean> {
  const dotGit = `${top}/.git`;
  const st = await Deno.lstat(dotGit).catch(() => null);
  if (!st) return false;
  let target = dotGit;
  if (st.isFile) {
    const m = /^gitdir: (.*)$/m.exec(await Deno.readTextFile(dotGit).catch(() => ""));
    if (!m) return false;
    // A linked work tree only: node:path costs every other fetch its load.
    target = (await import("node:path")).resolve(top, m[1].trim());
  }
  const real = (p: string) => Deno.realPath(p).catch(() => p);
  return await real(target) === await real(gitDir);
}
