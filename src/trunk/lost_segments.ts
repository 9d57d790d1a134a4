/**
 * Segments the ref log names that the store no longer holds: neither listed nor replaced
 * by a compaction (a `.replaces` sidecar). `trunks check` names them in its problems; a
 * fetch that finds a hole in a ref's history names them in its one-line error.
 */
import type { Store } from "../storage/store.ts";
import type { TrunkCache } from "./cache.ts";
import { segmentPackKey, type TrunkKeys } from "./layout.ts";
import { readRefLog, type RefEntry } from "./refs.ts";
import { listSegmentKeys, readSidecars, type SegmentListing } from "./replaces.ts";

/** Per ref, the pack keys its entries name that are gone, in the log's order. */
export function lostSegmentKeys(
  entries: Iterable<RefEntry>,
  listing: SegmentListing,
  replaces: Map<string, string[]>,
): Map<string, string[]> {
  const there = new Set(listing.complete.map((s) => s.id));
  for (const ids of replaces.values()) for (const id of ids) there.add(id);
  const lost = new Map<string, string[]>();
  for (const e of entries) {
    for (const id of e.segments) {
      if (there.has(id)) continue;
      const list = lost.get(e.ref) ?? [];
      if (!list.includes(segmentPackKey(id))) list.push(segmentPackKey(id));
      lost.set(e.ref, list);
    }
  }
  return lost;
}

/** `lostSegmentKeys` read from the store (the whole ref log: for error paths only). */
export async function findLostSegments(
  store: Store,
  cache: TrunkCache,
  trunk: TrunkKeys,
): Promise<Map<string, string[]>> {
  const [entries, listing] = await Promise.all([
    readRefLog(store, cache, trunk),
    listSegmentKeys(store),
  ]);
  // A damaged sidecar vouches for nothing: its segments count as gone.
  const replaces = await readSidecars(store, listing, () => {});
  return lostSegmentKeys(entries, listing, replaces);
}
