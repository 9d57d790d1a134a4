/**
 * `trunks maintenance [<remote>|<url>] [--auto] [--json]`: one bounded maintenance step
 * (src/trunk/maintenance.ts): a snapshot, pruning past two leases, a merge of the
 * smallest segments. A push starts it with --auto in the background when thresholds
 * are passed; --auto is quiet, skips when another --auto run of this repository is
 * under way, and records a failure in <git dir>/trunks-maintenance.log.
 */
import { resolveRemote } from "../../helper/resolve.ts";
import { maintain, type MaintenanceReport } from "../../trunk/maintenance.ts";
import { parseCommand, printJson } from "../args.ts";
import type { Command } from "../command.ts";
import { describeError } from "../../trunk/describe_error.ts";
import { target } from "./check.ts";

const usage = `usage: trunks maintenance [<remote>|<trunk-url>] [--auto] [--json]

One bounded, crash-safe maintenance step: a snapshot of every ref (clones read one
object instead of one per ref), ref entries superseded more than two leases ago
archived to reflog/ and pruned, and the smallest segments merged into one. Pushes
run it in the background when needed (TRUNKS_AUTO_MAINTENANCE=0 turns that off);
trunks check --clean does the full job.

  --auto     quiet; skip when another --auto step of this repository is running
  --json     print what was done`;

export const command: Command = {
  summary: "one bounded maintenance step (snapshot, pruning, segment merge)",
  usage,
  run,
};

/** A lock older than this belongs to a step that died. */
const STALE_LOCK_MS = 60 * 60 * 1000;

async function run(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    name: "maintenance",
    usage,
    options: { auto: { type: "boolean" }, json: { type: "boolean" } },
    positionals: [0, 1],
  });
  if (!parsed) return 0;
  const auto = parsed.values.auto === true;
  const { url, remote } = await target(parsed.positionals[0]);
  const ctx = await resolveRemote(url, remote ?? url);
  const lock = auto && ctx.gitDir ? `${ctx.gitDir}/trunks-maintenance.lock` : null;
  const workDir = await Deno.makeTempDir({ prefix: "trunks-maint-" });
  let locked = false;
  try {
    if (lock && !(locked = await takeLock(lock))) return 0;
    const log = auto || parsed.values.json
      ? () => {}
      : (l: string) => console.error(`trunks: ${l}`);
    let report: MaintenanceReport;
    try {
      report = await maintain(await ctx.trunk(), { workDir, log });
    } catch (e) {
      if (!auto || !ctx.gitDir) throw e;
      await Deno.writeTextFile(
        `${ctx.gitDir}/trunks-maintenance.log`,
        `${new Date().toISOString()} ${describeError(e)}\n`,
        { append: true },
      ).catch(() => {});
      return 1;
    }
    if (parsed.values.json) printJson(report);
    else if (!auto) console.error(`trunks: ${summary(report)}`);
    return 0;
  } finally {
    if (lock && locked) await Deno.remove(lock).catch(() => {});
    await ctx.close();
    await Deno.remove(workDir, { recursive: true }).catch(() => {});
  }
}

async function takeLock(path: string): Promise<boolean> {
  try {
    await Deno.writeTextFile(path, `${Deno.pid}\n`, { createNew: true });
    return true;
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    const st = await Deno.stat(path).catch(() => null);
    if (st?.mtime && Date.now() - st.mtime.getTime() > STALE_LOCK_MS) {
      await Deno.remove(path).catch(() => {});
      return await takeLock(path);
    }
    return false;
  }
}

function summary(r: MaintenanceReport): string {
  const parts = [
    r.snapshot ? `wrote ${r.snapshot}` : "snapshot up to date",
    `${r.prune?.pruned ?? 0} ref entries pruned`,
    r.merge?.merged ? `${r.merge.merged.replaces} segments merged` : "no segments merged",
    `${r.merge?.deleted.length ?? 0} replaced segments deleted`,
  ];
  return parts.join(", ");
}
