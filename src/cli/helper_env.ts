/**
 * Git finds `git-remote-trunks` on PATH. When it is not there (trunks run from a
 * checkout, or a binary moved without `install-helper`), commands that start git put
 * a shim for this very trunks in a private directory at the front of git's PATH.
 */
import { delimiter } from "node:path";
import { gitInteractive } from "../git/run.ts";
import { findHelper, installHelper, selfCommand } from "./install_helper.ts";

let cached: Promise<Record<string, string>> | undefined;

/** Extra env for git child processes so `trunks::` URLs work (empty when already fine). */
export function helperEnv(): Promise<Record<string, string>> {
  return cached ??= (async (): Promise<Record<string, string>> => {
    if (await findHelper()) return {};
    const dir = await Deno.makeTempDir({ prefix: "trunks-helper-" });
    const self = selfCommand();
    await installHelper(dir, self.path, self.args);
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // best effort: a temp dir
      }
    });
    return { PATH: `${dir}${delimiter}${Deno.env.get("PATH") ?? ""}` };
  })();
}

/** Run git with the terminal (stdin, stdout, stderr) and the helper reachable; its exit code. */
export async function runGitInteractive(args: string[], cwd?: string): Promise<number> {
  return await gitInteractive(args, { cwd, env: await helperEnv() });
}
