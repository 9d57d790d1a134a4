/**
 * The push's guard against a concurrent clean: before any ref moves, make sure the
 * push's own segment and the objects it builds on (the trunk tips it excluded) are
 * still stored. Compaction keeps whatever was young or referenced within the grace
 * period, so this only matters for a push slower than the grace period: its own
 * segment, if deleted, is uploaded again; a missing base fails the push cleanly
 * instead of writing a ref whose history is gone.
 */
import type { Store } from "../storage/store.ts";
import { PackIndex } from "../pack/pack_index.ts";
import { segmentIdxKey } from "./layout.ts";
import { mapLimit } from "./pool.ts";
import {
  listSegmentKeys,
  readSidecars,
  replacedSegments,
  type SegmentListing,
  vouchedLists,
} from "./replaces.ts";
import { readSegmentIndex, type SegmentInfo } from "./segments.ts";

/** Listings retried when a segment vanished while its index was read. */
const RELISTS = 3;

/** The push's own segment, and how to store it again. */
export interface OwnSegment {
  id: string;
  reupload(): Promise<void>;
}

/**
 * Which of `base` no segment that stays holds now (a clean since the push read the state
 * removed them); puts `own` back first if a clean deleted it. Listed and read now, after
 * the upload, whatever the clocks say: a clean that finds no ref reaching anything deletes
 * every segment old enough without writing a sidecar, so a sidecar newer than the push's
 * read is no sign that nothing was collected (the guard runs only for a push past half its
 * lease, and the base is usually in the newest segment's index). A replaced segment does
 * not count: one a clean's compaction replaced without the base (garbage then) stays
 * listed for two leases, and a clean that listed before the push's entry deletes it; a
 * merge's replacement holds all it replaced.
 */
export async function collectedBase(
  store: Store,
  objectFormat: "sha1" | "sha256",
  base: string[],
  own?: OwnSegment,
): Promise<string[]> {
  const ownId = own?.id;
  for (let attempt = 0;; attempt++) {
    const listing = await listSegmentKeys(store);
    const mine = own;
    if (mine && !listing.complete.some((s) => s.id === mine.id)) {
      await mine.reupload();
      own = undefined;
    }
    if (base.length === 0) return [];
    const left = new Set(base);
    let vanished = false;
    const readIndex = async (s: SegmentInfo) => {
      if (left.size === 0) return;
      const idx = await readSegmentIndex(store, s.id)
        .then((b) => new PackIndex(b, objectFormat, segmentIdxKey(s.id)))
        .catch(() => null);
      if (!idx) vanished = true;
      for (const o of [...left]) if (idx?.find(o) !== undefined) left.delete(o);
    };
    // Newest first, in waves that double up to the store's parallelism, and no index read
    // once every base object is found: the base is usually what the last pushes wrote,
    // while a burst with automatic maintenance writes a sidecar every few dozen pushes and
    // keeps thousands of segments listed (replaced ones stay two leases), so reading every
    // index made each push cost more than the last.
    const order = searchOrder(await staying(store, listing), ownId);
    for (let at = 0, wave = 2; at < order.length && left.size > 0; wave *= 2) {
      const n = Math.min(wave, store.capabilities.parallelism);
      await mapLimit(order.slice(at, at + n), n, readIndex);
      at += n;
    }
    // A clean still deleting what it replaced: its new segment is complete by now.
    if (left.size === 0 || !vanished || attempt >= RELISTS) return [...left];
  }
}

/**
 * The listed segments no compacted one replaces (as a merge judges them: its sidecars, the
 * newest carrying the older ones'). A sidecar that cannot be read replaces nothing here.
 */
async function staying(store: Store, listing: SegmentListing): Promise<SegmentInfo[]> {
  if (listing.sidecars.size === 0) return listing.complete;
  const replaces = await readSidecars(store, listing, () => {}, { trustNested: true });
  const replaced = replacedSegments(listing, vouchedLists(listing, replaces));
  return listing.complete.filter((s) => !replaced.has(s.id));
}

/** Newest first; the push's own segment last (it holds no base object: they were left out). */
function searchOrder(segments: SegmentInfo[], ownId?: string): SegmentInfo[] {
  const rank = (s: SegmentInfo) => s.id === ownId ? -Infinity : s.modified.getTime();
  return [...segments].sort((a, b) => rank(b) - rank(a));
}
