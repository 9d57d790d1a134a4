/**
 * `segments/<id>.replaces`: written by compaction before the segments it replaces are
 * deleted, and before the compacted segment itself becomes visible. It lets a client
 * holding an older listing (or an older local repository) know that the compacted
 * segment holds nothing it lacks, and that the replaced segments need not be fetched.
 *
 *   {"v":1,"replaces":["<segment id>",...],"nested":{"<replaced compacted id>":[...],...},
 *    "listed":{"<segment id>":<ms>,...},"nestedListed":{"<replaced compacted id>":{...},...},
 *    "whole":true,"nestedWhole":["<replaced compacted id>",...]}
 *
 * `nested` carries the sidecars of replaced compacted segments, which are deleted with
 * them: a client that has the inputs of an earlier compaction, but never fetched it,
 * still knows it has everything.
 *
 * `listed` (and `nestedListed` for the nested lists) records each replaced segment's
 * stored time as the compaction listed it. Segment ids are their packs' hashes, so a push
 * can store a replaced segment again (a branch deleted, then pushed again); a clean's
 * compaction left out what was garbage when it listed, so it vouches for the segment only
 * as it was then (`vouchedLists`). Sidecars without these times (older clients) are judged
 * by their own stored time instead, while it is listed. Older clients ignore both fields.
 *
 * `whole` (true: written by a merge, merge_segments.ts) says the segment holds every
 * object of every segment its list names, whatever happens to them later: nothing was
 * dropped, and a segment stored again is the same pack (the same id). `nestedWhole` names
 * the nested lists that were whole in turn. A clean's compaction writes neither (it drops
 * garbage), nor did sidecars from before these fields: not whole. Every decoder released
 * reads the fields it knows and ignores the rest, so older clients read these sidecars
 * as before.
 *
 * The guarantee compaction gives (src/trunk/gc.ts): a compacted segment's objects are a
 * subset of the union of the segments it replaces, and it holds every object of each
 * replaced segment that was younger than the grace period when it was built.
 */
import { getBytes, type ListEntry, type Store } from "../storage/store.ts";
import { TrunkError } from "./errors.ts";
import { getSmall, SIDECAR_MAX_BYTES } from "./small_objects.ts";
import { faultPoint } from "./faults.ts";
import { sidecarsAndTheirPacks } from "./plan_listing.ts";
import {
  parseSegmentKey,
  SEGMENT_ID_RE,
  segmentIdxKey,
  segmentPackKey,
  segmentReplacesKey,
  SEGMENTS_PREFIX,
} from "./layout.ts";
import { mapLimit } from "./pool.ts";
import type { SegmentInfo } from "./segments.ts";
import { PackIndex } from "../pack/pack_index.ts";

/** Nested sidecars beyond this many ids are dropped (clients then download a bit more). */
const NESTED_MAX_IDS = 20_000;

/**
 * A compacted segment's list of what it replaces, with each one's stored time as the
 * compaction listed it, where the sidecar recorded that.
 */
export type ReplacedList = string[] & {
  listed?: Map<string, number>;
  /** Its segment holds every object of each segment listed (a merge's list). */
  whole?: true;
};

/**
 * `listed`: the stored time of each of `ids` as the compaction listed it. `whole`: a
 * merge's sidecar (it, and the nested lists that were whole, are marked so); a clean's is
 * not.
 */
export function encodeReplaces(
  ids: string[],
  nested: Map<string, ReplacedList> = new Map(),
  listed: Map<string, number> = new Map(),
  opts: { whole?: boolean } = {},
): Uint8Array {
  const keep: Record<string, string[]> = {};
  const keepListed: Record<string, Record<string, number>> = {};
  const keepWhole: string[] = [];
  let total = ids.length;
  for (const [id, r] of nested) {
    if (total + r.length > NESTED_MAX_IDS) break;
    keep[id] = [...r].sort();
    if (r.listed?.size) keepListed[id] = timesOf(r, r.listed);
    if (r.whole) keepWhole.push(id);
    total += r.length;
  }
  return new TextEncoder().encode(
    JSON.stringify({
      v: 1,
      replaces: [...ids].sort(),
      nested: keep,
      listed: timesOf(ids, listed),
      nestedListed: keepListed,
      ...(opts.whole ? { whole: true, nestedWhole: keepWhole.sort() } : {}),
    }) + "\n",
  );
}

function timesOf(ids: string[], times: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const id of [...ids].sort()) {
    const t = times.get(id);
    if (t !== undefined && Number.isFinite(t)) out[id] = t;
  }
  return out;
}

export interface Sidecar {
  replaces: ReplacedList;
  nested: Map<string, ReplacedList>;
}

/**
 * Every element is a segment id. Plain loops, not `every` with a closure: a clone's helper
 * validates a few thousand ids once, in code still cold.
 */
function allIds(a: unknown): a is string[] {
  if (!Array.isArray(a)) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    if (typeof x !== "string" || !SEGMENT_ID_RE.test(x)) return false;
  }
  return true;
}

/** A plain JSON object (not null, not an array). */
function isRecord(o: unknown): o is Record<string, unknown> {
  return typeof o === "object" && o !== null && !Array.isArray(o);
}

/** A sidecar's `listed` times, or null when malformed. */
function parseTimes(o: unknown): Map<string, number> | null {
  if (o === undefined) return new Map();
  if (!isRecord(o)) return null;
  const out = new Map<string, number>();
  for (const id in o) {
    const t = o[id];
    if (typeof t !== "number" || !Number.isFinite(t) || !SEGMENT_ID_RE.test(id)) return null;
    out.set(id, t);
  }
  return out;
}

function withTimes(
  ids: string[],
  times: Map<string, number> | undefined,
  whole: boolean,
): ReplacedList {
  const list: ReplacedList = ids;
  if (times?.size) list.listed = times;
  if (whole) list.whole = true;
  return list;
}

export function decodeReplaces(bytes: Uint8Array, key: string): Sidecar {
  let o: {
    v?: unknown;
    replaces?: unknown;
    nested?: unknown;
    listed?: unknown;
    nestedListed?: unknown;
    whole?: unknown;
    nestedWhole?: unknown;
  };
  try {
    o = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new TrunkError(`${key} is not valid JSON; run trunks check`, "corrupt");
  }
  if (o?.v !== 1 || !allIds(o.replaces)) {
    throw new TrunkError(`${key} is not a segment list; run trunks check`, "corrupt");
  }
  const nested = new Map<string, string[]>();
  if (o.nested !== undefined) {
    let ok = typeof o.nested === "object" && o.nested !== null;
    const all = o.nested as Record<string, unknown>;
    for (const id in ok ? all : {}) {
      const r = all[id];
      if (!SEGMENT_ID_RE.test(id) || !allIds(r)) {
        ok = false;
        break;
      }
      nested.set(id, r);
    }
    if (!ok) {
      throw new TrunkError(`${key} has a malformed nested list; run trunks check`, "corrupt");
    }
  }
  const listed = parseTimes(o.listed);
  const nestedListed = new Map<string, Map<string, number>>();
  let nestedOk = o.nestedListed === undefined || isRecord(o.nestedListed);
  const all = nestedOk ? (o.nestedListed ?? {}) as Record<string, unknown> : {};
  for (const id in all) {
    const times = parseTimes(all[id]);
    if (!SEGMENT_ID_RE.test(id) || !times) {
      nestedOk = false;
      break;
    }
    nestedListed.set(id, times);
  }
  if (!listed || !nestedOk) {
    throw new TrunkError(`${key} has malformed listed times; run trunks check`, "corrupt");
  }
  if (
    !(o.whole === undefined || typeof o.whole === "boolean") ||
    !(o.nestedWhole === undefined || allIds(o.nestedWhole))
  ) {
    throw new TrunkError(`${key} has a malformed whole mark; run trunks check`, "corrupt");
  }
  const nestedWhole = new Set(o.nestedWhole ?? []);
  for (const [id, r] of nested) {
    nested.set(id, withTimes(r, nestedListed.get(id), nestedWhole.has(id)));
  }
  return { replaces: withTimes(o.replaces, listed, o.whole === true), nested };
}

/**
 * The compacted segments whose lists must be judged by stored times (`vouchedLists`):
 * each one whose list is not whole, and every one such a list reaches, through any lists.
 * The others' lists are whole (merges') and reached only from whole lists: each such
 * segment holds every object of all it names, transitively, whatever happened to them
 * since, and no time is needed to say what it covers (`planFetch`).
 *
 * Whole lists below one that is not are judged by times too, because coverage chains: a
 * clean C that replaced a merge M whose whole list names x covers x through M. If x was
 * stored again since C ran, it may hold objects C dropped as garbage then; M's list taken
 * whole under C would let C cover x, and those objects would be lost.
 */
export function timedLists(lists: Map<string, ReplacedList>): Set<string> {
  const out = new Set<string>();
  const todo: string[] = [];
  for (const [id, r] of lists) if (!r.whole) todo.push(id);
  while (todo.length) {
    const id = todo.pop()!;
    if (out.has(id)) continue;
    out.add(id);
    for (const x of lists.get(id) ?? []) if (lists.has(x) && !out.has(x)) todo.push(x);
  }
  return out;
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

/** Every key but a `.idx` (`listSegmentKeys`' `indexDetails` false). */
const NOT_INDEXES = { has: (key: string) => !key.endsWith(".idx") };

/**
 * `indexDetails` false: the `.idx` keys' sizes and times are left out of the listing where
 * that is cheaper (`ListOptions.details`; every key is still listed, so a segment is
 * complete exactly as before): `idxSize` is then NaN, and so are a stray index's details.
 * `plainDetails` false: only sidecars' and their packs' details are asked for, no index's
 * either (a plain segment's `packSize` is then NaN and its time invalid, where the store
 * leaves them out). `listed`: that listing (`plainDetails` false) already sent
 * (plan_listing.ts `startPlanListings`).
 */
export async function listSegmentKeys(
  store: Store,
  opts: { indexDetails?: boolean; plainDetails?: boolean } = {},
  listed?: Promise<ListEntry[]>,
): Promise<SegmentListing> {
  const packs = new Map<string, ListEntry>();
  const idxs = new Map<string, ListEntry>();
  const sidecars = new Map<string, ListEntry>();
  const strays: ListEntry[] = [];
  const details = opts.plainDetails === false
    ? sidecarsAndTheirPacks
    : opts.indexDetails === false
    ? () => NOT_INDEXES
    : undefined;
  const entries = listed && opts.plainDetails === false
    ? await listed
    : await store.list(SEGMENTS_PREFIX, undefined, { details });
  for (const e of entries) {
    const k = parseSegmentKey(e.key);
    if (!k) strays.push(e);
    else if (k.part === "pack") packs.set(k.id, e);
    else if (k.part === "idx") idxs.set(k.id, e);
    else sidecars.set(k.id, e);
  }
  const complete: SegmentInfo[] = [];
  for (const [id, p] of packs) {
    const i = idxs.get(id);
    if (i) {
      complete.push({
        id,
        packSize: p.size,
        idxSize: i.size,
        modified: p.modified,
        idxModified: i.modified,
      });
    } else strays.push(p);
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
 * not read (nor decoded, when a newer one of its own wave carries it). Automatic
 * maintenance merges the last merged segment with the new ones every few dozen pushes,
 * and each merge's sidecar carries the chain (`carriedNested`), so a reader after a burst
 * of thousands of pushes reads a few sidecars, not one per merge. A list taken from a
 * newer sidecar describes the same immutable segment (its id is its pack's hash); one the
 * reader never learns only costs a download, never an object.
 */
export async function readSidecars(
  store: Store,
  listing: SegmentListing,
  onBad?: (key: string, err: TrunkError) => void,
  opts: { trustNested?: boolean } = {},
): Promise<Map<string, ReplacedList>> {
  const ids = listing.complete.map((s) => s.id).filter((id) => listing.sidecars.has(id));
  const out = new Map<string, ReplacedList>();
  const nested = new Map<string, ReplacedList>();
  const take = (id: string, raw: Uint8Array | null) => {
    if (!raw) return;
    const key = segmentReplacesKey(id);
    try {
      const sc = decodeReplaces(raw, key);
      out.set(id, sc.replaces);
      for (const [n, r] of sc.nested) nested.set(n, r);
    } catch (e) {
      if (!onBad || !(e instanceof TrunkError)) throw e;
      onBad(key, e);
    }
  };
  const read = (id: string) =>
    getSmall(store, segmentReplacesKey(id), SIDECAR_MAX_BYTES, "sidecar").catch((e) => {
      // One too large is as unusable as one damaged: told to onBad, as it is.
      if (!onBad || !(e instanceof TrunkError)) throw e;
      onBad(segmentReplacesKey(id), e);
      return null;
    });
  if (!opts.trustNested) {
    await mapLimit(ids, store.capabilities.parallelism, async (id) => take(id, await read(id)));
  } else {
    const at = (id: string) => listing.sidecars.get(id)!.modified.getTime();
    const order = ids.sort((a, b) => at(b) - at(a));
    for (let next = 0, wave = 1; next < order.length; wave *= 2) {
      const batch: string[] = [];
      const size = Math.min(wave, store.capabilities.parallelism);
      while (batch.length < size && next < order.length) {
        const id = order[next++];
        if (!nested.has(id)) batch.push(id);
      }
      // Read together, then decoded newest first: one that a newer sidecar of the same
      // wave carries is not decoded either (after 2,000 pushes: a sidecar of 60 KB, ~1 ms).
      const raws = await mapLimit(batch, size, read);
      for (let i = 0; i < batch.length; i++) if (!nested.has(batch[i])) take(batch[i], raws[i]);
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
  replaces: Map<string, ReplacedList>,
  chosen: string[],
  present: Set<string>,
  self: string,
): Map<string, ReplacedList> {
  const out = new Map<string, ReplacedList>();
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
 * What each compacted segment still vouches for: a compaction vouches for segments only as
 * they were when it ran. A replaced segment stored again since (a branch deleted, then
 * pushed again: the same pack, the same id; a push's guard putting back what a clean took)
 * may hold objects the compacted segment left out as garbage, so it is no longer counted
 * as replaced: not covered by a fetch, not deleted by a clean or a merge. Judged by the
 * stored time the sidecar recorded for it (a later one: stored again), else (a sidecar
 * without times, an older client's) by being stored before the sidecar as listed now.
 * Such a list whose sidecar is not listed (deleted with its segment, the list carried
 * nested by a newer one) vouches for no segment still stored: what it replaced was deleted
 * with or before it, so one still stored was stored again, and when is not known (the
 * carrier's time is later than the clean's: a segment stored again between them would
 * count as covered). Every time compared comes from the store's listings. `timed` (the
 * fetch's plan, see `timedLists`): only those lists are judged; the others vouch for all
 * they name.
 */
export function vouchedLists(
  listing: SegmentListing,
  replaces: Map<string, ReplacedList>,
  timed?: Set<string>,
): Map<string, string[]> {
  const modified = listedTimes(listing);
  const out = new Map<string, string[]>();
  for (const [id, r] of replaces) {
    if (timed && !timed.has(id)) {
      out.set(id, r);
      continue;
    }
    const at = listing.sidecars.get(id)?.modified.getTime();
    out.set(
      id,
      r.filter((x) => {
        const now = modified.get(x);
        if (x === id || now === undefined) return true;
        const was = r.listed?.get(x);
        // Stored again means stored later; an earlier time is a copy that kept its times.
        if (was !== undefined) return now <= was;
        return at !== undefined && now < at;
      }),
    );
  }
  return out;
}

/**
 * The segment is still stored as it was listed, pack and index: a replaced segment is
 * deleted only then, not once a push stored the same pack again (the same id) since the
 * listing, whichever of its two parts landed first. One LIST just before the delete: a
 * push in the instant between them is not seen.
 */
async function storedAsListed(store: Store, s: SegmentInfo): Promise<boolean> {
  const now = await segmentKeysNow(store, s.id);
  const pack = now.get(segmentPackKey(s.id));
  const idx = now.get(segmentIdxKey(s.id));
  const idxWas = s.idxModified?.getTime() ?? NaN;
  return pack !== undefined && idx !== undefined && pack <= s.modified.getTime() && idx <= idxWas;
}

/**
 * A replaced segment deleted by a clean or a merge: index first (without it the segment is
 * no longer listed as complete), then its pack and any sidecar `listing` showed. False, and
 * nothing deleted, when it was stored again since the listing (`storedAsListed`: no longer
 * replaced). `between`: a fault point between the index and the pack.
 */
export async function deleteReplaced(
  store: Store,
  s: SegmentInfo,
  listing: SegmentListing,
  between?: string,
): Promise<boolean> {
  if (!(await storedAsListed(store, s))) return false;
  await store.delete(segmentIdxKey(s.id));
  if (between) faultPoint(between);
  await store.delete(segmentPackKey(s.id));
  if (listing.sidecars.has(s.id)) await store.delete(segmentReplacesKey(s.id));
  return true;
}

/**
 * The replaced segments: those a stored compacted segment vouches for, where that one is
 * current (nothing replaces it) or is replaced in turn by such a chain. Sidecars that
 * name each other with no current segment above them (a compaction that stopped between
 * its sidecar and its upload, or any damage) replace nothing: deleting a segment needs a
 * current one that holds what it held.
 */
export function replacedSegments(
  listing: SegmentListing,
  vouched: Map<string, string[]>,
): Set<string> {
  const present = new Set(listing.complete.map((s) => s.id));
  const named = new Set<string>();
  for (const [id, r] of vouched) {
    if (present.has(id)) { for (const x of r) if (x !== id) named.add(x); }
  }
  const out = new Set<string>();
  const todo = [...vouched.keys()].filter((id) => present.has(id) && !named.has(id));
  while (todo.length) {
    const id = todo.pop()!;
    for (const x of vouched.get(id) ?? []) {
      if (x === id || out.has(x)) continue;
      out.add(x);
      if (present.has(x)) todo.push(x);
    }
  }
  return out;
}

/** A segment's keys as stored now, with their stored times: one LIST, just before a delete. */
export async function segmentKeysNow(store: Store, id: string): Promise<Map<string, number>> {
  const listed = await store.list(`${SEGMENTS_PREFIX}${id}.`);
  return new Map(listed.map((e) => [e.key, e.modified.getTime()]));
}

/** The listed stored time of each complete segment, as a sidecar records it. */
export function listedTimes(listing: SegmentListing): Map<string, number> {
  return new Map(listing.complete.map((s) => [s.id, s.modified.getTime()]));
}

/** A segment that `timed` lists name is listed without its stored time. */
function needsTimes(
  listing: SegmentListing,
  lists: Map<string, ReplacedList>,
  timed: Set<string>,
): boolean {
  if (timed.size === 0) return false;
  const untimed = new Set<string>();
  for (const s of listing.complete) if (Number.isNaN(s.modified.getTime())) untimed.add(s.id);
  if (untimed.size === 0) return false;
  for (const id of timed) for (const x of lists.get(id) ?? []) if (untimed.has(x)) return true;
  return false;
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
export async function planFetch(
  store: Store,
  ingested: Set<string>,
  listed?: Promise<ListEntry[]>,
): Promise<FetchPlan> {
  // Details of sidecars and compacted packs only, never an index's or a plain pack's: a
  // trunk within two leases of a burst of pushes lists thousands of them (a stat each on
  // disk), and only `vouchedLists` reads plain packs' times.
  let listing = await listSegmentKeys(store, { plainDetails: false }, listed);
  if (listing.complete.every((s) => ingested.has(s.id))) return { download: [], alreadyHave: [] };
  // A damaged sidecar only costs a download: its segment is fetched like any other.
  const inputs = await readSidecars(store, listing, () => {}, { trustNested: true });
  // What each compacted segment vouches for (see vouchedLists): judged by stored times only
  // where a list that is not whole reaches it (`timedLists`); its inputs as listed still
  // bound what it holds.
  const timed = timedLists(inputs);
  if (needsTimes(listing, inputs, timed)) {
    // Listed again with every pack's time, where the store left plain ones out (local
    // disk). The sidecars stay those read above: a compacted segment stored since is
    // fetched as a plain one (a download more, never an object less).
    listing = await listSegmentKeys(store, { indexDetails: false });
  }
  const replaces = vouchedLists(listing, inputs, timed);
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
  // Only compacted segments are walked here: after a burst of pushes a few dozen among
  // thousands listed (sorting them all by time cost ~1-2 ms of cold comparisons).
  const newestFirst = listing.complete.filter((s) => inputs.has(s.id)).sort((a, b) =>
    b.modified.getTime() - a.modified.getTime()
  );
  const download: FetchPlan["download"] = [];
  for (const s of newestFirst) {
    if (have.has(s.id) || covered.has(s.id)) continue;
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

/** Segment id -> the object ids its index lists (read once per step). */
export type IndexCache = Map<string, Promise<Set<string> | null>>;

/**
 * Whether the current segments replacing `s` (through any chain of lists) hold every
 * object of it, by their indexes. A sidecar is only the store's word: one naming a segment
 * its own does not hold (damage, a foreign or faulty writer) would have that segment
 * deleted while refs still need it. A merge's list (`whole`: its segment holds all) found
 * to lie is an error naming it. A clean's list may leave garbage out, so no index tells
 * whether it lies: a segment a clean replaced is left (false, nothing read) to the next
 * clean, which judges by reachability.
 */
export async function heldByReplacements(
  store: Store,
  objectFormat: "sha1" | "sha256",
  s: SegmentInfo,
  vouched: Map<string, string[]>,
  replaces: Map<string, ReplacedList>,
  current: Set<string>,
  indexes: IndexCache,
): Promise<boolean> {
  const namers = new Map<string, string[]>();
  for (const [id, r] of vouched) {
    for (const x of r) if (x !== id) namers.set(x, [...namers.get(x) ?? [], id]);
  }
  const holders: string[] = [];
  const seen = new Set([s.id]);
  const todo = [s.id];
  let whole = true;
  while (todo.length) {
    for (const up of namers.get(todo.pop()!) ?? []) {
      if (seen.has(up)) continue;
      seen.add(up);
      if (!replaces.get(up)?.whole) whole = false;
      if (current.has(up)) holders.push(up);
      else todo.push(up);
    }
  }
  if (!whole || holders.length === 0) return false;
  const oidsOf = (id: string) => {
    let p = indexes.get(id);
    if (!p) {
      const key = segmentIdxKey(id);
      p = getBytes(store, key).then((b) =>
        b ? new Set(new PackIndex(b, objectFormat, key).oids()) : null
      );
      indexes.set(id, p);
    }
    return p;
  };
  const mine = await oidsOf(s.id);
  const held = await Promise.all(holders.map(oidsOf));
  if (!mine || held.some((h) => !h)) return false; // deleted meanwhile: the next step sees
  const lacking = [...mine].find((o) => !held.some((h) => h!.has(o)));
  if (lacking === undefined) return true;
  const namer = (namers.get(s.id) ?? [])[0];
  throw new TrunkError(
    `${
      segmentReplacesKey(namer)
    } says its segment holds all of segment ${s.id}, but object ${lacking} is in no segment replacing it: ${s.id} is kept; remove that sidecar if it is not what a merge wrote`,
    "corrupt",
  );
}
