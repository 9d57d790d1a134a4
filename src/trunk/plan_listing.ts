/**
 * The two listings a fetch's plan starts from: `segments/` (with the details of the sidecars
 * and the packs they name only) and `blobs/`. Small and apart from replaces.ts, so a fresh
 * clone can send them beside its first listings (local/trunk_storages.ts) before the plan's
 * code has loaded.
 */
import { type ListEntry, listKeys, type Store } from "../storage/store.ts";
import { BLOBS_PREFIX, SEGMENTS_PREFIX } from "./layout.ts";

export const REPLACES_EXT = ".replaces";

/**
 * Sidecars, and the packs that have one: told by the names alone, `<id>.replaces` beside
 * `<id>.pack`. A trunk within two leases of a burst of pushes lists thousands of plain
 * segments, and a detail is a stat each on local disk: the plan needs none of theirs.
 */
export function sidecarsAndTheirPacks(keys: readonly string[]): { has(key: string): boolean } {
  const compacted = new Set<string>();
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    if (k.endsWith(REPLACES_EXT)) compacted.add(k.slice(0, -REPLACES_EXT.length));
  }
  return {
    has: (key) =>
      key.endsWith(REPLACES_EXT) || (key.endsWith(".pack") && compacted.has(key.slice(0, -5))),
  };
}

/** `segments/` as the fetch's plan lists it (`listSegmentKeys` with `plainDetails` false). */
export function listSegmentsForPlan(store: Store): Promise<ListEntry[]> {
  return store.list(SEGMENTS_PREFIX, undefined, { details: sidecarsAndTheirPacks });
}

/**
 * Both listings, sent beside the refs' listing of a fresh clone rather than after it: on a
 * distant store each listing page is a round trip, and the segments' pages then wait on
 * the refs' no longer (a corpus clone: 3 rounds -> 2; after 2,000 pushes: 11 -> 8). Listed
 * before the refs, the segments may miss a push that landed between the two listings,
 * whose ref the refs' listing shows: the fetch lists them again, after the refs, when a
 * wanted object is not in what it got (trunk/fetch.ts `fetch`).
 */
export interface EarlyPlanListings {
  segments: Promise<ListEntry[]>;
  /** The keys under `blobs/` (`storedBlobs`). */
  blobs: Promise<string[]>;
}

export function startPlanListings(store: Store): EarlyPlanListings {
  const segments = listSegmentsForPlan(store);
  const blobs = listKeys(store, BLOBS_PREFIX);
  // Consumed by the plan, or dropped when no clone follows; a failure is the plan's to meet.
  segments.catch(() => {});
  blobs.catch(() => {});
  return { segments, blobs };
}
