/**
 * Which keys of a listing of `refs/` a fetch reads the details of (`ListOptions.details`):
 * what `readLatest` (refs.ts) reads of them. Within two leases of a burst of pushes the
 * listing holds thousands of superseded entries whose size and time a fetch never reads,
 * and on local disk each would cost a stat (~7 µs, more than the directory's read).
 */
import { refLayout } from "./layout.ts";

const v1 = refLayout(1);
const v2 = refLayout(2);

/**
 * An entry key of either format, its ref told apart by shape (a format-1 one as `/<enc>`:
 * no encoding holds `/`). The listing leaves before trunk.json is read, so its format is
 * not known yet; a trunk holds only its own shape's entries (stray keys of the other cost
 * their details and are then not read), so both shapes' picks cover either format's read.
 */
function entryOf(key: string): { ref: string; seq: number } | null {
  const flat = v2.parts(key);
  if (flat) return { ref: flat.enc, seq: flat.seq };
  const nested = v1.parts(key);
  return nested && { ref: `/${nested.enc}`, seq: nested.seq };
}

/**
 * Each ref's latest entry (its size and stamp vouch for a cached copy or a snapshot's), the
 * entry after each ref's oldest (when that oldest was superseded: `supersededSince`), and
 * every key that is not an entry (snapshots). Not the times of the other entries: a state
 * read from such a listing counts only these in `unsnapshotted`, so maintenance, which
 * decides by it after a push, never takes a fetch's state (a push lists with every detail).
 *
 * `keys` come in byte order, so the entries of one ref and shape are together, oldest first:
 * they share the prefix `refs/<enc>/` or `refs/<enc>~` (no encoding holds `/` or `~`), and
 * seqs are zero-padded. One pass, no map of 20,000 refs. Were they not, a latest entry left
 * without details would only be read from its own key (its size and stamp vouch for nothing).
 */
export function fetchedRefDetails(keys: readonly string[]): Set<string> {
  const out = new Set<string>();
  let ref: string | null = null;
  let latest = "";
  let count = 0;
  let oldest = 0;
  for (const key of keys) {
    const k = entryOf(key);
    if (!k) {
      out.add(key);
      continue;
    }
    if (k.ref !== ref) {
      if (ref !== null) out.add(latest);
      [ref, count, oldest] = [k.ref, 0, k.seq];
    } else if (count === 1 && k.seq === oldest + 1) out.add(key);
    latest = key;
    count++;
  }
  if (ref !== null) out.add(latest);
  return out;
}
