/**
 * The one call a push makes when it is done: when the trunk needs it
 * (src/trunk/maintenance.ts), start `trunks maintenance --auto` detached, so git gets
 * its answer now and the step runs on; or run it here with TRUNKS_AUTO_MAINTENANCE=wait.
 * Never fails the push: the refs have moved, maintenance is an afterthought.
 */
import { autoStepAfterPush, autoStepFailed, runStep } from "../trunk/maintenance.ts";
import type { RefState } from "../trunk/refs.ts";
import type { Trunk } from "../trunk/trunk.ts";
import { say } from "./io.ts";
import type { RemoteContext } from "./resolve.ts";
import { selfCommand } from "./self.ts";

export function afterPush(
  ctx: RemoteContext,
  trunk: Trunk,
  state: RefState,
  written: number,
): Promise<void> {
  // Not async: the push's state (every ref's entry, ~10 MB at 20,000 refs) is needed only
  // to decide, and no frame of the step that follows holds it.
  let mode;
  try {
    mode = autoStepAfterPush(trunk, state, written);
  } catch (e) {
    say(autoStepFailed(e, false));
    return Promise.resolve();
  }
  return mode === null ? Promise.resolve() : startStep(ctx, trunk, mode);
}

async function startStep(
  ctx: RemoteContext,
  trunk: Trunk,
  mode: "background" | "wait",
): Promise<void> {
  if (mode === "wait") {
    try {
      await runStep(trunk);
    } catch (e) {
      say(autoStepFailed(e, true));
    }
    return;
  }
  try {
    // Another step of this repository still running: it will see these entries too.
    if (ctx.gitDir && await Deno.stat(`${ctx.gitDir}/trunks-maintenance.lock`).catch(() => null)) {
      return;
    }
    const self = selfCommand();
    const child = new Deno.Command(self.path, {
      args: [...self.args, "maintenance", "--auto", ctx.url],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    child.unref();
  } catch (e) {
    say(autoStepFailed(e, false));
  }
}
