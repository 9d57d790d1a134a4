/**
 * Progress lines for the CLI's own transfers (mirror copies): drawn by the one renderer
 * (src/trunk/progress.ts) when stderr is a terminal and the command is not quiet (-q),
 * as git decides for itself.
 */
import { type OnProgress, ProgressMeter } from "../trunk/progress.ts";
import { stderrLine } from "../trunk/stderr_line.ts";
import { verbosity } from "./args.ts";

/** The meter to hand the engine, or undefined: nothing extra on a pipe or with -q. */
export function terminalProgress(): OnProgress | undefined {
  if (verbosity() < 1 || !Deno.stderr.isTerminal()) return undefined;
  return new ProgressMeter(stderrLine.progress).update;
}
