/**
 * `segments/<id>.replaces`: written by compaction before the segments it replaces are
 * deleted, and before the compacted segment itself becomes visible. It lets a client
 * holding an older listing (or an older local repository) know that the compacted
 * segment holds nothing it lacks, and that the replaced segments need not be fetched.
 *
 *   {"v":1,"replaces":["<segment id>",...],"nested":{"<replaced compacted id>":[...],...}}
 *
 * `nested` carries the sidecars of replaced compacted segments, which are deleted with
 * them: a client that has the inputs of an earlier compaction, but never fetched it,
 * still knows it has everything.
 *
 * The guarantee compaction gives (src/trunk/gc.ts): a compacted segment's objects are a
 * subset of the union of the segments it replaces, and it holds every object of each
 * replaced segment that was younger than the grace period when it was built.
 */
import { getBytes, type ListEntry, type Store } from "../storage/store.ts";
import { TrunkError } from "./errors.ts";
import { parseSegmentKey, SEGMENT_ID_RE, segmentReplacesKey, SEGMENTS_PREFIX } from "./layout.ts";
import { mapLimit } from "./pool.ts";
import type { SegmentInfo } from "./segments.ts";

/** Nested sidecars beyond this many ids are dropped (clients then download a bit more). */
const NESTED_MAX_IDS = 20_000;

export function encodeReplaces(
  ids: string[],
  nested: Map<string, string[]> = new Map(),
): Uint8Array {
  const keep: Record<string, string[]> = {};
  let total = ids.length;
  for (const [id, r] of nested) {
    if (total + r.length > NESTED_MAX_IDS) break;
    keep[id] = [...r].sort();
    total += r.length;
  }
  return new TextEncoder().encode(
    JSON.stringify({ v: 1, replaces: [...ids].sort(), nested: keep }) + "\n",
  );
}

export interface Sidecar {
  replaces: string[];
  nested: Map<string, string[]>;
}

export function decodeReplaces(bytes: Uint8Array, key: string): Sidecar {
  let o: { v?: unknown; replaces?: unknown; nested?: unknown };
  try {
    o = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new TrunkError(`${key} is not valid JSON; run trunks check`, "corrupt");
  }
  if (
    o?.v !== 1 || !Array.isArray(o.replaces) ||
    !o.replaces.every((x) => typeof x === "string" && SEGMENT_ID_RE.test(x))
  ) {
    throw new TrunkError(`${key} is not a segment list; run trunks check`, "corrupt");
  }
  const nested = new Map<string, string[]>();
  if (o.nested !== undefined) {
    const ok = typeof o.nested === "object" && o.nested !== null &&
      Object.entries(o.nested).every(([id, r]) =>
        SEGMENT_ID_RE.test(id) && Array.isArray(r) &&
        r.every((x) => typeof x === "string" && SEGMENT_ID_RE.test(x))
      );
    if (!ok) {
      throw new TrunkError(`${key} has a malformed nested list; run trunks check`, "corrupt");
    }
    for (const [id, r] of Object.entries(o.nested as Record<string, string[]>)) nested.set(id, r);
  }
  return { replaces: o.replaces as string[], nested };
}

/** Everything under `segments/`, sorted into complete segments, sidecars and strays. */
export interface SegmentListing {
  /** Pack and index both present. */
  complete: SegmentInfo[];
  /** Sidecars by segment id (the segment may be incomplete: then it is a stray). */
  sidecars: Map<string, ListEntry>;
  /** Keys that are not part of a complete segment: crashed uploads, unknown names. */
  strays: ListEntry[];
}

/**
 * `indexDetails` false: the `.idx` keys' sizes and times are left out of the listing where
 * that is cheaper (`ListOptions.details`; every key is still listed, so a segment is
 * complete exactly as before): `idxSize` is then NaN, and so are a stray index's details.
 */
export async function listSegmentKeys(
  store: Store,
  opts: { indexDetails?: boolean } = {},
): Promise<SegmentListing> {
  const packs = new Map<string, ListEntry>();
  const idxs = new Map<string, ListEntry>();
  const sidecars = new Map<string, ListEntry>();
  const strays: ListEntry[] = [];
  const details = opts.indexDetails === false
    ? (keys: readonly string[]) => new Set(keys.filter((k) => !k.endsWith(".idx")))
    : undefined;
  for (const e of await store.list(SEGMENTS_PREFIX, undefined, { details })) {
    const k = parseSegmentKey(e.key);
    if (!k) strays.push(e);
    else if (k.part === "pack") packs.set(k.id, e);
    else if (k.part === "idx") idxs.set(k.id, e);
    else sidecars.set(k.id, e);
  }
  const complete: SegmentInfo[] = [];
  for (const [id, p] of packs) {
    const i = idxs.get(id);
    if (i) complete.push({ id, packSize: p.size, idxSize: i.size, modified: p.modified });
    else strays.push(p);
  }
  for (const [id, i] of idxs) if (!packs.has(id)) strays.push(i);
  for (const [id, s] of sidecars) if (!idxs.has(id) || !packs.has(id)) strays.push(s);
  complete.sort((a, b) => a.id < b.id ? -1 : 1);
  return { complete, sidecars, strays };
}

/**
 * Read the sidecars of complete segments: compacted id -> ids it replaces, including
 * the nested lists of compacted segments already deleted.
 *
 * `trustNested` (the fetch's plan): newest sidecar first, in waves that double up to the
 * store's parallelism, and a sidecar whose list a newer one already carries (`nested`) is
 * not read. Automatic maintenance merges the last merged segment with the new ones every
 * few dozen pushes, and each merge's sidecar carries the chain (`carriedNested`), so a
 * reader after a burst of thousands of pushes reads a few sidecars, not one per merge. A
 * list taken from a newer sidecar describes the same immutable segment (its id is its
 * pack's hash); one the reader never learns only costs a download, never an object.
 */
export async function readSidecars(
  store: Store,
  listing: SegmentListing,
  onBad?: (key: string, err: TrunkError) => void,
  opts: { trustNested?: boolean } = {},
): Promise<Map<string, string[]>> {
  const ids = listing.complete.map((s) => s.id).filter((id) => listing.sidecars.has(id));
  const out = new Map<string, string[]>();
  const nested = new Map<string, string[]>();
  const readOne = async (id: string) => {
    const key = segmentReplacesKey(id);
    const raw = await getBytes(store, key);
    if (!raw) return;
    try {
      const sc = decodeReplaces(raw, key);
      out.set(id, sc.replaces);
      for (const [n, r] of sc.nested) nested.set(n, r);
    } catch (e) {
      if (!onBad || !(e instanceof TrunkError)) throw e;
      onBad(key, e);
    }
  };
  if (!opts.trustNested) await mapLimit(ids, store.capabilities.parallelism, readOne);
  else {
    const at = (id: string) => listing.sidecars.get(id)!.modified.getTime();
    const order = ids.sort((a, b) => at(b) - at(a));
    for (let next = 0, wave = 1; next < order.length; wave *= 2) {
      const batch: string[] = [];
      const size = Math.min(wave, store.capabilities.parallelism);
      while (batch.length < size && next < order.length) {
        const id = order[next++];
        if (!nested.has(id)) batch.push(id);
      }
      await mapLimit(batch, size, readOne);
    }
  }
  for (const [n, r] of nested) if (!out.has(n)) out.set(n, r);
  return out;
}

/**
 * The nested lists a compacted segment's sidecar carries: those of the segments it
 * replaces (`chosen`), and of every segment still stored (`present`) that those replace in
 * turn, so that the newest sidecar tells a reader the whole chain of merges
 * (`readSidecars` with `trustNested`). Deleted segments are not carried further, so the
 * lists stay bounded by what two leases keep.
 */
export function carriedNested(
  replaces: Map<string, string[]>,
  chosen: string[],
  present: Set<string>,
  self: string,
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const todo = chosen.map((id) => ({ id, direct: true }));
  for (let i = 0; i < todo.length; i++) {
    const { id, direct } = todo[i];
    const r = replaces.get(id);
    if (id === self || out.has(id) || !r || (!direct && !present.has(id))) continue;
    out.set(id, r);
    for (const x of r) todo.push({ id: x, direct: false });
  }
  return out;
}

/**
 * When each replaced segment was replaced: the listed time of the earliest sidecar, of a
 * compacted segment still stored, that names it. A reader that listed just before that
 * compaction may still download the replaced segment for up to two leases after it, so
 * deletion is measured from here (`replacedLongAgo`), not from the segment's own age.
 */
export function replacedTimes(
  listing: SegmentListing,
  replaces: Map<string, string[]>,
): Map<string, number> {
  const present = new Set(listing.complete.map((s) => s.id));
  const out = new Map<string, number>();
  for (const [id, r] of replaces) {
    const at = listing.sidecars.get(id)?.modified.getTime();
    if (!present.has(id) || at === undefined) continue;
    for (const x of r) {
      if (x !== id && !(at >= (out.get(x) ?? Infinity))) out.set(x, at);
    }
  }
  return out;
}

/**
 * Stored before `cutoff` and replaced (at `replacedAt`) no later than it: with a grace of
 * zero (a lease of zero, in tests) what was replaced this instant may go.
 */
export function replacedLongAgo(
  s: SegmentInfo,
  replacedAt: number | undefined,
  cutoff: number,
): boolean {
  return replacedAt !== undefined && s.modified.getTime() < cutoff && replacedAt <= cutoff;
}

/**
 * A compaction only vouches for segments as they were when it ran: a replaced segment
 * stored again after the sidecar (a push's guard putting back what a clean took) may
 * hold objects the compacted segment left out, so it is no longer counted as replaced.
 * Both times come from the store's listing, so clocks do not matter.
 */
function coveredWhenWritten(
  listing: SegmentListing,
  replaces: Map<string, string[]>,
): Map<string, string[]> {
  const modified = new Map(listing.complete.map((s) => [s.id, s.modified.getTime()]));
  const out = new Map<string, string[]>();
  for (const [id, r] of replaces) {
    const at = listing.sidecars.get(id)?.modified.getTime();
    out.set(
      id,
      at === undefined ? r : r.filter((x) => x === id || (modified.get(x) ?? -Infinity) < at),
    );
  }
  return out;
}

export interface FetchPlan {
  /** Segments to download, compacted ones first; `covers` are marked ingested with it. */
  download: { segment: SegmentInfo; covers: string[] }[];
  /** Listed segments this client already has every object of (mark them ingested now). */
  alreadyHave: string[];
}

/**
 * Which segments a client must download, given what it has ingested. A compacted segment
 * whose replaced segments were all ingested holds nothing new; a replaced segment is
 * covered by its compacted segment (which holds all of it while it is young, and all of
 * it that any ref reaches once it is old).
 */
export async function planFetch(store: Store, ingested: Set<string>): Promise<FetchPlan> {
  // The plan reads packs' sizes and times and sidecars' times, never an index's: a trunk
  // within two leases of a burst of pushes lists thousands of them (a stat each on disk).
  const listing = await listSegmentKeys(store, { indexDetails: false });
  const pending = listing.complete.filter((s) => !ingested.has(s.id));
  if (pending.length === 0) return { download: [], alreadyHave: [] };
  // A damaged sidecar only costs a download: its segment is fetched like any other.
  const inputs = await readSidecars(store, listing, () => {}, { trustNested: true });
  // What each compacted segment vouches for (see coveredWhenWritten); its inputs as listed
  // still bound what it holds.
  const replaces = coveredWhenWritten(listing, inputs);
  const closure = (id: string): string[] => {
    const out = new Set<string>();
    const walk = (x: string) => {
      for (const y of replaces.get(x) ?? []) if (!out.has(y)) out.add(y), walk(y);
    };
    walk(id);
    return [...out];
  };
  const have = new Set(ingested);
  // Fixpoint, since compactions chain: a compacted segment whose inputs were all
  // ingested holds nothing new; everything a held compacted segment replaces is held.
  for (let changed = true; changed;) {
    changed = false;
    for (const [id, r] of inputs) {
      if (!have.has(id) && r.length > 0 && r.every((x) => have.has(x))) {
        have.add(id);
        changed = true;
      }
      if (have.has(id)) {
        for (const x of replaces.get(id) ?? []) if (!have.has(x)) have.add(x), changed = true;
      }
    }
  }
  const alreadyHave = listing.complete.map((s) => s.id).filter((id) =>
    have.has(id) && !ingested.has(id)
  );
  const covered = new Set<string>();
  const newestFirst = [...listing.complete].sort((a, b) =>
    b.modified.getTime() - a.modified.getTime()
  );
  const download: FetchPlan["download"] = [];
  for (const s of newestFirst) {
    if (!inputs.has(s.id) || have.has(s.id) || covered.has(s.id)) continue;
    const covers = closure(s.id);
    download.push({ segment: s, covers });
    for (const x of covers) covered.add(x);
  }
  // Segments covered by a compacted segment being downloaded are marked with it.
  for (const s of listing.complete) {
    if (!have.has(s.id) && !covered.has(s.id) && !inputs.has(s.id)) {
      download.push({ segment: s, covers: [] });
    }
  }
  return { download, alreadyHave };
}
