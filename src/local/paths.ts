/** Where local state lives for a repository. */
import { gitText } from "../git/run.ts";
import { findRepo, findTrunksDb, type Repo } from "./repo_dir.ts";

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

export type EnvGet = (name: string) => string | undefined;

/**
 * `localDbPath` and the absolute git dir. Git starts a remote helper with GIT_DIR set and
 * in the work tree's top (transport-helper.c, setup.c), so a helper reads them from there
 * (`locateFromGitEnv`) and starts no process; elsewhere (run by hand, or a setting that
 * moves the work tree) one `git rev-parse` says; throws outside any repository.
 */
export async function locateLocalDb(
  env: EnvGet = (n) => Deno.env.get(n),
  cwd?: string,
): Promise<{ gitDir: string; path: string }> {
  const known = locateFromGitEnv(env, cwd ?? Deno.cwd());
  if (known) {
    const db = known.worksOn ? await findTrunksDb(known.repo) : null;
    return { gitDir: known.repo.gitDir, path: db ?? `${known.repo.gitDir}/trunks.sqlite` };
  }
  const repo = await findRepo(cwd).catch(() => null);
  const db = repo && await worksOn(repo.top, repo.gitDir) ? await findTrunksDb(repo) : null;
  const gitDir = repo?.gitDir ?? await gitText(["rev-parse", "--absolute-git-dir"], { cwd });
  return { gitDir, path: db ?? `${gitDir}/trunks.sqlite` };
}

/**
 * What `git rev-parse --show-toplevel --absolute-git-dir --git-common-dir` would answer
 * under GIT_DIR, from the file system alone: git dir = GIT_DIR (real path), work tree =
 * the current directory (git's rule when GIT_DIR is set and neither GIT_WORK_TREE nor
 * core.worktree is), main work tree from `commondir`; none when core.bare is true (a
 * mirror clone). Null when GIT_DIR is unset or something could move the work tree
 * (GIT_WORK_TREE, GIT_COMMON_DIR, a `worktree` setting, core.bare set otherwise than git
 * writes it, an included config file) or on Windows: then rev-parse decides.
 * `worksOn`: `cwd/.git` is that git dir and the repository is not bare, the only case in
 * which `.trunks` is read at all.
 */
export function locateFromGitEnv(
  env: EnvGet,
  cwd: string,
): { repo: Repo; worksOn: boolean } | null {
  const given = env("GIT_DIR");
  if (!given || env("GIT_WORK_TREE") || env("GIT_COMMON_DIR")) return null;
  // Drive letters and backslashes: rev-parse knows them, this reading does not.
  if (Deno.build.os === "windows") return null;
  try {
    const gitDir = Deno.realPathSync(given.startsWith("/") ? given : `${cwd}/${given}`);
    let common = gitDir;
    const link = readText(`${gitDir}/commondir`)?.trim();
    if (link) common = Deno.realPathSync(link.startsWith("/") ? link : `${gitDir}/${link}`);
    // Git names a repository here; run by hand, GIT_DIR may name any directory, and the
    // database must not be made in one that is not a repository (rev-parse refuses it).
    if (!isRepoDir(gitDir, common)) return null;
    let bare = false;
    for (const f of [`${common}/config`, `${gitDir}/config.worktree`]) {
      const text = readText(f);
      if (!text) continue;
      const set = MOVES_WORK_TREE.test(text) ? null : coreBare(text);
      if (set === null) return null;
      bare ||= set;
    }
    // A bare repository (a mirror clone's) has no work tree, so no `.trunks`: its database
    // is in the git dir, as rev-parse, which fails to find a work tree, leaves it.
    const own = !bare && worksOnSync(cwd, gitDir);
    const main = common.endsWith("/.git") ? common.slice(0, -"/.git".length) : null;
    return {
      repo: { top: cwd, gitDir, mainTop: main && main !== cwd ? main : null },
      worksOn: own,
    };
  } catch {
    return null;
  }
}

/** A git dir as git's setup knows one (`is_git_directory`): HEAD, and refs/ in the common dir. */
function isRepoDir(gitDir: string, common: string): boolean {
  try {
    return Deno.statSync(`${gitDir}/HEAD`).isFile && Deno.statSync(`${common}/refs`).isDirectory;
  } catch {
    return false;
  }
}

/** Settings that give git another work tree than the current directory (bar core.bare). */
const MOVES_WORK_TREE = /^\s*worktree\s*=|^\s*\[\s*include/im;

/**
 * core.bare as a config file sets it, read only as git writes it (`git init`: `bare =
 * false`; `git clone --mirror` or `--bare`: `bare = true`), else null (set another way, or
 * outside [core], or twice differently): then rev-parse reads it.
 */
function coreBare(text: string): boolean | null {
  let inCore = false;
  let value: boolean | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("[")) {
      if (!line.endsWith("]")) return null;
      inCore = /^\[\s*core\s*\]$/i.test(line);
      continue;
    }
    if (!/^bare\b/i.test(line)) continue;
    const set = /^bare\s*=\s*(true|false)$/.exec(line);
    if (!inCore || !set || (value !== undefined && value !== (set[1] === "true"))) return null;
    value = set[1] === "true";
  }
  return value ?? false;
}

function readText(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null;
  }
}

/** `worksOn` with the file system's answers at once (no turn of the event loop each). */
function worksOnSync(top: string, gitDir: string): boolean {
  const dotGit = `${top}/.git`;
  let st: Deno.FileInfo;
  try {
    st = Deno.lstatSync(dotGit);
  } catch {
    return false;
  }
  let target = dotGit;
  if (st.isFile) {
    const m = /^gitdir: (.*)$/m.exec(readText(dotGit) ?? "");
    if (!m) return false;
    const p = m[1].trim();
    target = p.startsWith("/") ? p : `${top}/${p}`;
  }
  try {
    return Deno.realPathSync(target) === gitDir;
  } catch {
    return false;
  }
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
