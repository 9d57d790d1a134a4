/**
 * Geometric merging of the smallest segments, the bounded compaction automatic
 * maintenance runs (as `git repack --geometric=2` does): sorted by size, the small
 * segments that break a doubling progression are rolled up into one, so a trunk pushed
 * to thousands of times keeps a handful of segments, each merge costing about the size
 * of what it merges, never the whole trunk.
 *
 * A merged segment holds every object of every segment it replaces (nothing is dropped:
 * that is `trunks check --clean`'s job), so it is safe however young its inputs are.
 * Its sidecar (`segments/<id>.replaces`, see replaces.ts) is written before it, so a
 * reader that sees it knows what it replaces. Replaced segments are deleted only once
 * replaced more than the grace (two leases) ago, like a clean's, so a reader or pusher
 * that listed them just before the merge still finds them.
 */
import { indexPackInto, initScratch, packObjectList } from "../git/compact.ts";
import type { Store } from "../storage/store.ts";
import { storeLag } from "../storage/probe.ts";
import { PackIndex } from "../pack/pack_index.ts";
import { mapLimit } from "./pool.ts";
import {
  carriedNested,
  deleteReplaced,
  encodeReplaces,
  heldByReplacements,
  type IndexCache,
  listedTimes,
  listSegmentKeys,
  readSidecars,
  replacedLongAgo,
  replacedSegments,
  replacedTimes,
  vouchedLists,
} from "./replaces.ts";
import { downloadSegmentPack, type SegmentInfo, sha256File, storeCompacted } from "./segments.ts";

export interface MergeOptions {
  /** Where the merged pack is built (removed by the caller). */
  workDir: string;
  /** Replaced segments younger than this stay (at least two leases). */
  graceMs: number;
  /** Merge only when at least this many current segments exist. */
  minSegments?: number;
  /** Bounds of one merge: segments and bytes read. */
  maxSegments?: number;
  maxBytes?: number;
  log?: (line: string) => void;
}

export interface MergeReport {
  merged: { id: string; replaces: number; bytes: number } | null;
  /** Replaced segments deleted (older than the grace). */
  deleted: string[];
}

/**
 * Replaced segments go once replaced more than `graceMs` ago by the store's clock: every
 * listed time was stamped by it, and one behind ours by more than the grace made segments
 * replaced a moment ago look old enough (the clean and the ref log's pruning measure by it
 * too). Read (`storeLag`: three requests) only when `any` says something would go by our
 * clock, the most any cutoff lets go when the store is behind; a store ahead changes nothing.
 */
async function deletionCutoff(
  store: Store,
  graceMs: number,
  any: (cutoff: number) => boolean,
): Promise<number> {
  const now = Date.now();
  if (!any(now - graceMs)) return now - graceMs;
  return Date.now() - (await storeLag(store)) - graceMs;
}

/**
 * Which of the current segments to roll up: sorted by size, every segment below the
 * point where each larger one is at least twice the one before it, extended while the
 * rolled-up total would break the progression with the next; within the bounds.
 */
export function chooseRollup(
  current: SegmentInfo[],
  maxSegments: number,
  maxBytes: number,
): SegmentInfo[] {
  const sorted = [...current].sort((a, b) => a.packSize - b.packSize);
  let split = 0;
  for (let i = sorted.length - 1; i > 0; i--) {
    if (sorted[i].packSize < 2 * sorted[i - 1].packSize) {
      split = i + 1;
      break;
    }
  }
  let total = sorted.slice(0, split).reduce((a, s) => a + s.packSize, 0);
  while (split < sorted.length && sorted[split].packSize < 2 * total) {
    total += sorted[split++].packSize;
  }
  const out: SegmentInfo[] = [];
  let bytes = 0;
  for (const s of sorted.slice(0, split)) {
    if (out.length >= maxSegments || bytes + s.packSize > maxBytes) break;
    out.push(s);
    bytes += s.packSize;
  }
  return out.length >= 2 ? out : [];
}

export async function mergeSmallSegments(
  store: Store,
  objectFormat: "sha1" | "sha256",
  opts: MergeOptions,
): Promise<MergeReport> {
  const log = opts.log ?? (() => {});
  const report: MergeReport = { merged: null, deleted: [] };
  const listing = await listSegmentKeys(store);
  // Newest sidecar first, and none that a newer one carries (`trustNested`): within two
  // leases of a burst every merge's sidecar is still listed, each carrying the chain
  // before it, so reading them all cost every step a GET per merge and a parse growing
  // with the square of the burst. A carried list describes the same immutable pack.
  const replaces = await readSidecars(store, listing, () => {}, { trustNested: true });
  const present = new Set(listing.complete.map((s) => s.id));
  const vouched = vouchedLists(listing, replaces);
  const replaced = replacedSegments(listing, vouched);

  // Segments replaced more than the grace ago go first: index, then pack, then any sidecar.
  const replacedAt = replacedTimes(listing, vouched);
  const oldBy = (cutoff: number) =>
    listing.complete.filter((s) =>
      replaced.has(s.id) && replacedLongAgo(s, replacedAt.get(s.id), cutoff)
    );
  const old = oldBy(await deletionCutoff(store, opts.graceMs, (c) => oldBy(c).length > 0));
  const current = listing.complete.filter((s) => !replaced.has(s.id));
  const currentIds = new Set(current.map((s) => s.id));
  const indexes: IndexCache = new Map();
  const lies: unknown[] = [];
  await mapLimit(old, store.capabilities.parallelism, async (s) => {
    // Deleted only once the segments replacing it are seen to hold it (a sidecar's list is
    // the store's word); a lie is reported once the other deletions are done.
    try {
      const held = await heldByReplacements(
        store,
        objectFormat,
        s,
        vouched,
        replaces,
        currentIds,
        indexes,
      );
      if (!held) return;
    } catch (e) {
      lies.push(e);
      return;
    }
    // Stored again since the listing: no longer replaced (see vouchedLists).
    if (await deleteReplaced(store, s, listing, "maint:between-deletes")) report.deleted.push(s.id);
  });
  if (lies.length) throw lies[0];

  if (current.length < (opts.minSegments ?? 8)) return report;
  const chosen = chooseRollup(current, opts.maxSegments ?? 100, opts.maxBytes ?? 256 << 20);
  if (chosen.length === 0) return report;
  log(`merging the ${chosen.length} smallest of ${current.length} segments`);

  const scratch = await initScratch(opts.workDir, objectFormat);
  const objects = new Map<string, string>();
  // Downloads overlap; index-pack verifies every object id of each.
  await mapLimit(chosen, Math.min(4, store.capabilities.parallelism), async (s) => {
    const tmp = `${opts.workDir}/in-${s.id}.pack`;
    await downloadSegmentPack(store, s.id, tmp, undefined, undefined, s.packSize);
    const idx = await indexPackInto(scratch, tmp);
    for (const oid of new PackIndex(await Deno.readFile(idx), objectFormat, idx).oids()) {
      objects.set(oid, "");
    }
  });
  const built = await packObjectList(scratch, objects, opts.workDir);
  const id = await sha256File(built.packPath);
  const ids = chosen.map((s) => s.id);
  const nested = carriedNested(replaces, ids, present, id);
  await storeCompacted(
    store,
    id,
    built,
    // Whole: it holds every object of every input, whatever happens to them later.
    encodeReplaces(ids.filter((x) => x !== id), nested, listedTimes(listing), { whole: true }),
    !present.has(id) ? "no" : replaced.has(id) ? "replaced" : "current",
    { afterSidecar: "maint:after-sidecar", afterSegment: "maint:after-segment" },
  );
  report.merged = {
    id,
    replaces: ids.filter((x) => x !== id).length,
    bytes: (await Deno.stat(built.packPath)).size,
  };
  return report;
}
