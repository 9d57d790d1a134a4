/**
 * Where the repository is: its work tree, git dir and `.trunks` database, from one
 * `git rev-parse`. A fetch or push run without git's GIT_DIR asks this before its listing
 * goes out, so it loads no node built-in (node:path alone costs a process ~15 ms).
 */
import { GitError, gitText } from "../git/run.ts";

export const TRUNKS_DIR = ".trunks";

/** A problem the user fixes (one line, says what to do); the CLI exits 1 on it. */
export class RepoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RepoError";
  }
}

export interface Repo {
  /** Work tree top (absolute). */
  top: string;
  gitDir: string;
  /**
   * The main work tree when this is a linked one (`git worktree add`): its `.trunks`
   * serves every work tree of the repository. Null otherwise.
   */
  mainTop?: string | null;
}

/** The repository containing `cwd`; a RepoError outside one, or in a bare repository. */
export async function findRepo(cwd?: string): Promise<Repo> {
  let out: string;
  try {
    out = await gitText([
      "rev-parse",
      "--show-toplevel",
      "--absolute-git-dir",
      "--path-format=absolute",
      "--git-common-dir",
    ], { cwd });
  } catch (e) {
    if (e instanceof GitError && e.code === 127) throw e;
    const msg = e instanceof GitError ? e.stderr : "";
    if (/must be run in a work tree|bare/i.test(msg)) {
      throw new RepoError("this is a bare repository; trunks needs a work tree");
    }
    throw new RepoError(
      "not a git repository (or any parent); cd into one, or run git init first",
    );
  }
  const [top, gitDir, common] = out.split("\n");
  if (!top || !gitDir) {
    throw new RepoError("this is a bare repository; trunks needs a work tree");
  }
  const main = common && common.endsWith("/.git") ? common.slice(0, -"/.git".length) : null;
  return { top, gitDir, mainTop: main && main !== top ? main : null };
}

/** `.trunks/<name>.trunk` of this work tree, or of the main one for a linked work tree. */
export async function findTrunksDb(repo: Repo): Promise<string | null> {
  return await trunksDbIn(repo.top) ?? (repo.mainTop ? await trunksDbIn(repo.mainTop) : null);
}

/** `.trunks/<name>.trunk` directly in `top`, or null. */
async function trunksDbIn(top: string): Promise<string | null> {
  try {
    const names: string[] = [];
    for await (const e of Deno.readDir(`${top}/${TRUNKS_DIR}`)) {
      if (e.isFile && e.name.endsWith(".trunk")) names.push(e.name);
    }
    names.sort();
    return names.length ? `${top}/${TRUNKS_DIR}/${names[0]}` : null;
  } catch {
    return null;
  }
}
