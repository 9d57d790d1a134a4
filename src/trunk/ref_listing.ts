/**
 * Which keys of a listing of `refs/` a fetch reads the details of (`ListOptions.details`):
 * what `readLatest` (refs.ts) reads of them. Within two leases of a burst of pushes the
 * listing holds thousands of superseded entries whose size and time a fetch never reads,
 * and on local disk each would cost a stat (~7 µs, more than the directory's read).
 */
import { refLayout, SEQ_WIDTH } from "./layout.ts";

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
 * Where no two neighbours share all but a seq, every key is picked (a superset of the picks
 * only where a stray key sits between one ref's entries).
 */
export function fetchedRefDetails(keys: readonly string[]): { has(key: string): boolean } {
  // No two neighbours are entries of one ref (a clone of a trunk past its maintenance: one
  // entry a ref): then every key is one this picks, and a look at each pair's end costs a
  // clone of 20,000 refs ~10 ms less than parsing every key into a set of them all.
  for (let i = 1; i < keys.length; i++) {
    if (sameUpToSeq(keys[i - 1], keys[i])) return picked(keys);
  }
  return EVERY_KEY;
}

const EVERY_KEY = { has: (_key: string) => true };

/**
 * Whether `a` and `b` may be entries of one ref: they differ at most in their last
 * SEQ_WIDTH characters (an entry's seq), after a separator of either shape (not two
 * snapshots' keys, which hold 16 digits).
 */
function sameUpToSeq(a: string, b: string): boolean {
  const sep = a.length - SEQ_WIDTH - 1;
  if (a.length !== b.length || (a[sep] !== "~" && a[sep] !== "/")) return false;
  // Backwards: neighbouring names of refs tend to differ at their end (b1041, b1042).
  for (let i = sep; i >= 0; i--) {
    if (a.charCodeAt(i) !== b.charCodeAt(i)) return false;
  }
  return true;
}

/** `fetchedRefDetails` where some ref lists several entries: the keys picked, by one pass. */
function picked(keys: readonly string[]): Set<string> {
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
