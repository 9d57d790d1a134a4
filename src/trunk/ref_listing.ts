/**
 * Which keys of a listing of `refs/` a fetch reads the details of (`ListOptions.details`):
 * what `readLatest` (refs.ts) reads of them. Within two leases of a burst of pushes the
 * listing holds thousands of superseded entries whose size and time a fetch never reads,
 * and on local disk each would cost a stat (~7 µs, more than the directory's read).
 */
import { entryKeyParts } from "./layout.ts";

/**
 * Each ref's latest entry (its size and stamp vouch for a cached copy or a snapshot's), the
 * entry after each ref's oldest (when that oldest was superseded: `supersededSince`), and
 * every key that is not an entry (snapshots). Not the times of the other entries: a state
 * read from such a listing counts only these in `unsnapshotted`, so maintenance, which
 * decides by it after a push, never takes a fetch's state (a push lists with every detail).
 *
 * `keys` come in byte order, so a ref's entries are together, oldest first (seqs are
 * zero-padded): one pass, no map of 20,000 refs. Were they not, a latest entry left without
 * details would only be read from its own key (its listed size and stamp vouch for nothing).
 */
export function fetchedRefDetails(keys: readonly string[]): Set<string> {
  const out = new Set<string>();
  let enc: string | null = null;
  let latest = "";
  let count = 0;
  let oldest = 0;
  for (const key of keys) {
    const k = entryKeyParts(key);
    if (!k) {
      out.add(key);
      continue;
    }
    if (k.enc !== enc) {
      if (enc !== null) out.add(latest);
      [enc, count, oldest] = [k.enc, 0, k.seq];
    } else if (count === 1 && k.seq === oldest + 1) out.add(key);
    latest = key;
    count++;
  }
  if (enc !== null) out.add(latest);
  return out;
}
