/** Where local state lives for a repository. */
import { gitText } from "../git/run.ts";
import { findRepo, findTrunksDb } from "./repo.ts";

/**
 * `.trunks/<repo>.trunk` when `trunks init` made one (in this work tree, or in the main
 * one for a linked work tree), else `$GIT_DIR/trunks.sqlite` (bare repositories, or a
 * plain `git clone trunks::...`).
 */
export async function localDbPath(): Promise<string> {
  const repo = await findRepo().catch(() => null);
  const db = repo ? await findTrunksDb(repo) : null;
  if (db) return db;
  return `${repo?.gitDir ?? await gitText(["rev-parse", "--absolute-git-dir"])}/trunks.sqlite`;
}
