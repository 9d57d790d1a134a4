/**
 * Automatic maintenance (DESIGN.md "Metadata that stays small"): nobody runs GC in a
 * sandbox, so after a successful push that leaves many entries outside the newest
 * snapshot, the client starts one bounded step in the background, as `git gc --auto`
 * does: a snapshot of every ref's latest entry, pruning of entries superseded past two
 * leases (archived to `reflog/` first), and a geometric merge of the smallest segments.
 *
 * Every step is crash-safe on its own: a snapshot is one exclusive create, a prune
 * archives before it deletes and deletes each ref's oldest entries first, a merge writes
 * its sidecar and segment before anything it replaces is deleted (past the grace only).
 * A kill at any point leaves a valid trunk, and the next step finishes the job.
 *
 * `TRUNKS_AUTO_MAINTENANCE=0` turns the background step off; `=wait` runs it before the
 * push returns (tests, and scripts that want a quiet trunk afterwards). The rule of when
 * and how is `autoStepAfterPush`, used by the helper (a detached process) and by the
 * library (a step in its own process, awaited by `close()`).
 */
import { GitError } from "../git/run.ts";
import { describeError } from "./describe_error.ts";
import { TrunkError } from "./errors.ts";
import { faultPoint } from "./faults.ts";
import { parseSnapshotKey, REFS_PREFIX, SNAPSHOT_PREFIX, snapshotKey } from "./layout.ts";
import type { ListEntry, Store } from "../storage/store.ts";
import { type MergeReport, mergeSmallSegments } from "./merge_segments.ts";
import { leaseMs as leaseMsOf } from "./lease.ts";
import { pruneRefLog, type PruneReport } from "./prune.ts";
import { readLatest, type RefState, StaleCacheError } from "./refs.ts";
import { writeSnapshot } from "./snapshots.ts";
import { namesMirror, readLatestMap } from "./storage_map.ts";
import type { Trunk } from "./trunk.ts";

/** A push leaving at least this many entries newer than the newest snapshot starts a step. */
export const SNAPSHOT_AFTER = 50;
export const AUTO_ENV = "TRUNKS_AUTO_MAINTENANCE";

export type AutoMode = "off" | "background" | "wait";

/** What `TRUNKS_AUTO_MAINTENANCE` asks for (default: background). */
export function autoMode(): AutoMode {
  let raw: string | undefined;
  try {
    raw = Deno.env.get(AUTO_ENV);
  } catch {
    return "off"; // no env permission (a library user): never spawn anything
  }
  const v = (raw ?? "").trim().toLowerCase();
  if (v === "" || v === "1" || v === "true" || v === "on" || v === "background") {
    return "background";
  }
  if (v === "0" || v === "false" || v === "off") return "off";
  if (v === "wait") return "wait";
  throw new TrunkError(
    `${AUTO_ENV}=${JSON.stringify(raw)} is not one of 0, 1, wait`,
    "bad-input",
  );
}

/**
 * Whether the state a push just built on (plus what it wrote) calls for a step: many
 * entries outside the newest snapshot, or, on a trunk whose steps prune (`prunes`), many
 * superseded entries of which the oldest has become prunable (two leases old), so the
 * listing shrinks back to the number of refs after a burst of pushes, at the first push
 * two leases later.
 */
export function maintenanceDue(
  state: RefState,
  written: number,
  leaseMs: number,
  { prunes = true, now = Date.now() }: { prunes?: boolean; now?: number } = {},
): boolean {
  if (state.unsnapshotted + written >= SNAPSHOT_AFTER) return true;
  const since = state.supersededSince;
  return prunes && (state.superseded ?? 0) + written >= SNAPSHOT_AFTER && since != null &&
    since < now - 2 * leaseMs;
}

/**
 * After a push that moved `written` refs on top of `state`: whether a step is due and
 * how to run it (null: off, or not due). Throws on a bad TRUNKS_AUTO_MAINTENANCE.
 */
export function autoStepAfterPush(
  trunk: Trunk,
  state: RefState,
  written: number,
): Exclude<AutoMode, "off"> | null {
  if (written === 0) return null;
  const mode = autoMode();
  if (mode === "off") return null;
  // A step prunes nothing on a mirrored trunk (`maintain`): counted there, its superseded
  // entries, which only grow, would start a step after every push once there are 50. The
  // map as the push read it (`Trunk.mapNamesMirrors`) says so without a request of its own.
  const prunes = trunk.mirrored === null && trunk.mapNamesMirrors !== true;
  return maintenanceDue(state, written, leaseMsOf(trunk.meta), { prunes }) ? mode : null;
}

/**
 * The one line told when an automatic step after a push did not run to its end: never
 * started (a bad TRUNKS_AUTO_MAINTENANCE, a process that could not be spawned), or
 * `started` and failed on the way. The push stands either way: its refs moved first, and
 * each part of a step is crash-safe, so a later step finishes the job.
 */
export function autoStepFailed(e: unknown, started: boolean): string {
  return started
    ? `trunks: maintenance started but failed: ${
      describeError(e)
    } (the push is done; a later step, or trunks maintenance, finishes the job)`
    : `trunks: maintenance not started: ${describeError(e)}`;
}

/** One step in a temporary work directory of its own, removed afterwards. */
export async function runStep(
  trunk: Trunk,
  opts: Omit<MaintenanceOptions, "workDir"> = {},
): Promise<MaintenanceReport> {
  const workDir = await Deno.makeTempDir({ prefix: "trunks-maint-" });
  try {
    return await maintain(trunk, { ...opts, workDir });
  } finally {
    await Deno.remove(workDir, { recursive: true }).catch(() => {});
  }
}

export interface MaintenanceOptions {
  workDir: string;
  log?: (line: string) => void;
  /** Step parts to skip (tests run them one at a time). */
  skip?: Partial<Record<"snapshot" | "prune" | "merge", boolean>>;
}

export interface MaintenanceReport {
  snapshot: string | null;
  deletedSnapshots: number;
  prune: PruneReport | null;
  merge: MergeReport | null;
}

/**
 * One bounded maintenance step. Pruning and deleting replaced segments are skipped on
 * a trunk with mirrors (this client's, or any its storage map names): a mirror that
 * missed the delete would look diverged.
 */
export async function maintain(
  trunk: Trunk,
  opts: MaintenanceOptions,
): Promise<MaintenanceReport> {
  const log = opts.log ?? (() => {});
  const report: MaintenanceReport = {
    snapshot: null,
    deletedSnapshots: 0,
    prune: null,
    merge: null,
  };
  // Mirrored by the trunk's own map, not only by this client's view: a client that has not
  // approved (or cannot reach) the mirrors sees the primary alone, and a prune there would
  // leave every mirror holding entries the primary lacks, diverged for everyone.
  // A map the opener read naming one is enough; "none" may be stale, so it is read then.
  const mirrored = trunk.mirrored !== null || trunk.mapNamesMirrors === true ||
    await readMapNamesMirrors(trunk.store);
  const leaseMs = leaseMsOf(trunk.meta);
  // One listing of refs/ serves the snapshot and the prune.
  const listed = await trunk.store.list(REFS_PREFIX);
  if (!opts.skip?.snapshot) {
    const r = await takeSnapshot(trunk, listed);
    report.snapshot = r.key;
    report.deletedSnapshots = r.deleted;
    if (r.key) log(`wrote ${r.key}`);
    faultPoint("maint:after-snapshot");
  }
  if (!opts.skip?.prune && !mirrored) {
    report.prune = await pruneRefLog(trunk.store, trunk.cache, trunk.meta, leaseMs, { listed });
    if (report.prune.pruned) {
      log(`pruned ${report.prune.pruned} ref entries into ${report.prune.archive}`);
    }
  }
  if (!opts.skip?.merge) {
    try {
      report.merge = await mergeSmallSegments(trunk.store, trunk.meta.objectFormat, {
        workDir: opts.workDir,
        // Mirrored: never delete (a mirror missing a delete is harmless, but keep it simple).
        graceMs: mirrored ? Infinity : 2 * leaseMs,
        log,
      });
    } catch (e) {
      // Merging packs is git's work: a library process without git (or without leave to
      // run it) keeps the snapshot and the pruning, and leaves merging to a client with git.
      if (!noGit(e)) throw e;
      log("segments not merged: git is not available to this process");
    }
    if (report.merge?.merged) {
      log(`merged ${report.merge.merged.replaces} segments into ${report.merge.merged.id}`);
    }
  }
  return report;
}

async function readMapNamesMirrors(store: Store): Promise<boolean> {
  try {
    return namesMirror((await readLatestMap(store))?.map);
  } catch (e) {
    // A map that cannot be read may name mirrors: keep every entry (trunks check names it).
    if (e instanceof TrunkError && e.code === "corrupt") return true;
    throw e;
  }
}

function noGit(e: unknown): boolean {
  return (e instanceof GitError && e.code === 127) || e instanceof Deno.errors.NotCapable ||
    e instanceof Deno.errors.PermissionDenied;
}

/**
 * A snapshot of every ref's latest entry, unless the newest one already covers them all.
 * Snapshots older than the previous one are deleted: a reader that listed one and finds
 * it gone reads entries one by one instead.
 */
export async function takeSnapshot(
  trunk: Trunk,
  listed?: ListEntry[],
): Promise<{ key: string | null; deleted: number }> {
  const { unsnapshotted, snapshotSeq, raw } = await latestTexts(trunk, listed);
  let key: string | null = null;
  if (unsnapshotted > 0 && raw.size > 0) {
    const seq = (snapshotSeq ?? 0) + 1;
    if (await writeSnapshot(trunk.store, trunk.id, seq, raw)) key = snapshotKey(seq);
  }
  const newest = key ? (snapshotSeq ?? 0) + 1 : snapshotSeq;
  let deleted = 0;
  if (newest !== null) {
    const all = listed ?? await trunk.store.list(SNAPSHOT_PREFIX);
    for (const e of all) {
      const s = parseSnapshotKey(e.key);
      if (s !== null && s < newest - 1) {
        await trunk.store.delete(e.key);
        deleted++;
      }
    }
  }
  return { key, deleted };
}

/**
 * What a snapshot takes of the state: every latest entry's stored text and two counts.
 * The parsed entries are not kept (readLatest "snapshot"): ~10 MB at 20,000 refs.
 */
async function latestTexts(
  trunk: Trunk,
  listed?: ListEntry[],
): Promise<{ unsnapshotted: number; snapshotSeq: number | null; raw: Map<string, string> }> {
  // Every entry's own seal checked: the snapshot's seal, which readers take instead of
  // them, must not vouch for a cached copy that rotted since it was read (a row that
  // fails contradicts the store: the trunk's cached entries go and the store is read).
  let read;
  try {
    read = await readLatest(trunk.store, trunk.cache, trunk.meta, listed, "snapshot");
  } catch (e) {
    if (!(e instanceof StaleCacheError)) throw e;
    trunk.cache.forgetEntries(trunk.id);
    read = await readLatest(trunk.store, trunk.cache, trunk.meta, undefined, "snapshot");
  }
  const { state, raw } = read;
  return { unsnapshotted: state.unsnapshotted, snapshotSeq: state.snapshotSeq, raw };
}
