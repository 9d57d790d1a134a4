/**
 * The push's guard against a concurrent clean: before any ref moves, make sure the
 * objects the push's segment builds on (the trunk tips it excluded) are still stored.
 * Compaction keeps whatever refs reached within the grace period, so this only fires
 * for a push slower than the grace period; it then fails cleanly instead of writing a
 * ref whose history is gone.
 */
import type { Store } from "../storage/store.ts";
import { hashLenOf, readSegmentIndex } from "./idx.ts";
import { mapLimit } from "./pool.ts";
import { listSegmentKeys } from "./replaces.ts";

/** Store and local clocks may disagree by this much. */
const SKEW_MS = 10 * 60 * 1000;
/** Listings retried when a segment vanished while its index was read. */
const RELISTS = 3;

/** Which of `base` a clean that ran since `since` (ms) removed; empty when none ran. */
export async function collectedBase(
  store: Store,
  objectFormat: "sha1" | "sha256",
  base: string[],
  since: number,
): Promise<string[]> {
  if (base.length === 0) return [];
  for (let attempt = 0;; attempt++) {
    const listing = await listSegmentKeys(store);
    const cleaned = [...listing.sidecars.values()].some((e) =>
      e.modified.getTime() >= since - SKEW_MS
    );
    if (!cleaned) return [];
    const left = new Set(base);
    let vanished = false;
    await mapLimit(listing.complete, store.capabilities.parallelism, async (s) => {
      if (left.size === 0) return;
      const idx = await readSegmentIndex(store, s.id, hashLenOf(objectFormat)).catch(() => null);
      if (!idx) vanished = true;
      for (const o of idx?.oids ?? []) left.delete(o);
    });
    // A clean still deleting what it replaced: its new segment is complete by now.
    if (left.size === 0 || !vanished || attempt >= RELISTS) return [...left];
  }
}
