/** How to start this same trunks again: the compiled binary itself, or `deno run` on main.ts. */
import { fileURLToPath } from "node:url";

export interface TrunksCommand {
  path: string;
  args: string[];
}

/**
 * `deno run`'s arguments before main.ts, for every launcher of trunks from source (the
 * installed fallback, the shim, maintenance's child, the tests' and benches' launchers).
 * Without --unstable-lazy-dynamic-imports, Deno reads and analyses every module any
 * command may `import()` (~150) before main.ts starts: ~18 ms of CPU at each git fetch's
 * helper start, most of it for code that fetch never runs. With it, a dynamic import's
 * modules load when it runs. The compiled binary holds every module either way.
 */
export const DENO_RUN_ARGS = ["run", "-A", "--quiet", "--unstable-lazy-dynamic-imports"];

export function selfCommand(): TrunksCommand {
  if (Deno.build.standalone) return { path: Deno.execPath(), args: [] };
  const main = fileURLToPath(new URL("../../main.ts", import.meta.url));
  return { path: Deno.execPath(), args: [...DENO_RUN_ARGS, main] };
}
