/** How to start this same trunks again: the compiled binary itself, or `deno run` on main.ts. */
import { fileURLToPath } from "node:url";

export interface TrunksCommand {
  path: string;
  args: string[];
}

export function selfCommand(): TrunksCommand {
  if (Deno.build.standalone) return { path: Deno.execPath(), args: [] };
  const main = fileURLToPath(new URL("../../main.ts", import.meta.url));
  return { path: Deno.execPath(), args: ["run", "-A", "-q", main] };
}
