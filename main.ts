/**
 * trunks: git repositories in storage you own.
 *
 * One executable, two faces: `trunks <command>` is the CLI; invoked as
 * `git-remote-trunks <remote> <url>` (by name, or via `trunks remote-helper`) it
 * speaks git's remote-helper protocol on stdin/stdout.
 */
import { main } from "./src/cli/main.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
