/** Where local state lives for a repository. */
import { gitText } from "../git/run.ts";

/**
 * `.trunks/<repo>.trunk` in the work tree when `trunks init` made one, else
 * `$GIT_DIR/trunks.sqlite` (bare repositories, or plain `git clone trunks::...`).
 */
export async function localDbPath(): Promise<string> {
  const gitDir = await gitText(["rev-parse", "--absolute-git-dir"]);
  const top = await gitText(["rev-parse", "--show-toplevel"]).catch(() => "");
  if (top) {
    try {
      for await (const e of Deno.readDir(`${top}/.trunks`)) {
        if (e.isFile && e.name.endsWith(".trunk")) return `${top}/.trunks/${e.name}`;
      }
    } catch {
      // no .trunks directory: fall through
    }
  }
  return `${gitDir}/trunks.sqlite`;
}
