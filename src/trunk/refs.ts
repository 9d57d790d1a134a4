/**
 * The ref log: `refs/<enc>~<seq>` entries (`refs/<enc>/<seq>` in format 1, layout.ts),
 * created exclusively. The highest seq is a ref's value; updating from seq n means
 * creating n+1, so exactly one of two racing writers wins without any lock.
 */
import { createStamped, type ListEntry, stampOf, type Store } from "../storage/store.ts";
import {
  byteLength,
  checkedStamp,
  listedStamp,
  preciseStamp,
  settleEntries,
  type TrunkCache,
  vouchedEntries,
} from "./cache.ts";
import { TrunkError } from "./errors.ts";
import {
  foreignLayout,
  parseSnapshotKey,
  type RefLayout,
  refLayout,
  REFS_PREFIX,
  SEGMENT_ID_RE,
  type TrunkKeys,
} from "./layout.ts";
import { badRefName } from "./ref_format.ts";
import { decodeRefSegment, encodesAs } from "./refcodec.ts";
import { mapLimit } from "./pool.ts";
import { escapeUnsafe } from "../storage/plain_text.ts";
import { checkSeal, seal, sealHolds } from "./seal.ts";
import { getSmall } from "./small_objects.ts";
import { loadSnapshot, snapshotMaxBytes } from "./snapshots.ts";

export interface RefEntry {
  /** The trunk's id: a cache from a trunk since re-created at the same URL is detected. */
  trunk?: string;
  ref: string;
  seq: number;
  /** Value before this entry (zero oid when the ref did not exist). */
  old: string;
  /** Value after it; a zero oid deletes the ref. */
  new: string;
  /** For `HEAD`: the branch it points at (then `new` is zero). */
  symref?: string;
  time: string;
  writer: string;
  /** Segments written by the push that made this entry. */
  segments: string[];
  /** SHA-256 seal of the entry (seal.ts); absent in entries written before seals. */
  sum?: string;
}

/** The current state of every ref the log has ever seen (deleted ones included). */
export interface RefState {
  /** Latest entry per ref name. */
  latest: Map<string, RefEntry>;
  /** Number of entries listed (the log's length, pruned entries excepted). */
  entryCount: number;
  /** Seq of the newest snapshot listed, or null when the trunk has none. */
  snapshotSeq: number | null;
  /**
   * Entries listed as written after the newest snapshot (all of them without one); from a
   * fetch's listing (ref_listing.ts), only among the entries whose times it gave.
   */
  unsnapshotted: number;
  /** Listed entries that are not their ref's latest (pruning's candidates). */
  superseded?: number;
  /**
   * When the oldest listed superseded entry was superseded (its successor's time, ms), or
   * null when none is listed: pruning can take it two leases after that.
   */
  supersededSince?: number | null;
  /**
   * Keys of latest entries this read has the store's word for: read from their own keys,
   * or cached copies the listing vouched for with a precise stamp (the one recorded when
   * they were read or created, `vouchedEntries`, `preciseStamp`); not snapshot copies.
   */
  fresh?: Set<string>;
  /**
   * Listed keys shaped as another format's entries: none of this trunk's (layout.ts). A
   * listing of nothing else may be of a trunk re-created at this URL in another format.
   */
  foreign?: number;
}

const OID_RE = /^([0-9a-f]{40}|[0-9a-f]{64})$/;

export function isDeleted(e: RefEntry): boolean {
  return !e.symref && /^0+$/.test(e.new);
}

/** Bounds on what one ref entry may hold; a real entry is a few hundred bytes. */
const ENTRY_MAX_BYTES = 1024 * 1024;
/**
 * The bytes read of a ref entry: parseEntry's bound counts UTF-16 units, and each takes at
 * most 3 bytes of UTF-8, so no entry it accepts is refused unread.
 */
export const ENTRY_READ_MAX_BYTES = 3 * ENTRY_MAX_BYTES;

/**
 * An entry past either bound (read or parsed) is damage, as one that does not parse or
 * whose seal fails: the read fails and trunks check names it. Skipped, a ref whose newest
 * entry it is would read as never pushed to (gone from git ls-remote and from clones),
 * not as its previous value.
 */
function oversizedEntry(key: string): TrunkError {
  return new TrunkError(
    `ref entry ${key} is larger than any entry (${ENTRY_MAX_BYTES} characters): the trunk is damaged, run trunks check`,
    "corrupt",
  );
}
const ENTRY_MAX_SEGMENTS = 10_000;
const TEXT_MAX = 1024;

/**
 * An entry that parses but must not be used: a ref name git would refuse (a newline in
 * it would inject lines into git's protocol), a key that is not its ref's encoding, a
 * field out of bounds. Readers skip it, naming the key; it never reaches git.
 */
export class UnsafeEntryError extends TrunkError {
  constructor(readonly key: string, why: string) {
    // `why` quotes what the entry holds: no control in it reaches a terminal (stderr).
    super(`ref entry ${key} ${why}; it is ignored (run trunks check)`, "corrupt");
  }
}

// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

function plainText(v: unknown): boolean {
  return typeof v === "string" && v.length <= TEXT_MAX && !CONTROL.test(v);
}

/**
 * The writer an entry records, as readers accept it (`plainText`): it comes from $USER,
 * the host name or a library caller, and an entry readers skip would hide an acknowledged
 * push (its ref would read as not moved). Escaped, not dropped: the auditor still sees it.
 */
export function entryWriter(writer: string): string {
  return escapeUnsafe(writer).slice(0, TEXT_MAX);
}

/**
 * A test that remembers the last value that passed it: a clone's 20,000 entries mostly
 * share their trunk id, writer, segment and oids, and an equal string passes the same test
 * again. One per field, so fields that differ from each other (an entry's `old` and `new`,
 * its `time` and `writer`) do not evict each other's value. Each starts as a value that
 * passes.
 */
function remembered(test: (v: string) => boolean, first: string): (v: unknown) => boolean {
  let last = first;
  return (v) => {
    if (v === last) return true;
    if (typeof v !== "string" || !test(v)) return false;
    last = v;
    return true;
  };
}

const isOid = (v: string) => OID_RE.test(v);
const ZERO_OID = "0".repeat(40);
const knownNew = remembered(isOid, ZERO_OID);
const knownOld = remembered(isOid, ZERO_OID);
const knownSegmentId = remembered((v) => SEGMENT_ID_RE.test(v), "0".repeat(64));
/** `undefined`, or plain text (`plainText`). */
function optionalTextOf(): (v: unknown) => boolean {
  const known = remembered(plainText, "");
  return (v) => v === undefined || known(v);
}
const optionalTime = optionalTextOf();
const optionalWriter = optionalTextOf();
const optionalTrunk = optionalTextOf();

/**
 * Whether an entry naming `ref` may sit under the key segment `enc`: the key decodes to
 * that name, or is a hashed long name (then `unsafeWhy` compares the encodings). Comparing
 * the name's encoding (`encoded`) first spares decoding every key of a clone (the usual
 * case: they match).
 */
function namesItsKey(ref: string, enc: string, encoded: boolean): boolean {
  if (encoded) return true;
  const decoded = decodeRefSegment(enc);
  return decoded === null || decoded === ref;
}

/**
 * The checks of everything a reader takes from an entry, beyond its JSON shape; `encoded`
 * says whether its key's segment is `encodeRef(e.ref)`.
 */
function unsafeWhy(e: RefEntry, encoded: boolean): string | null {
  const bad = badRefName(e.ref);
  if (bad) return `names ref ${JSON.stringify(e.ref.slice(0, 200))}, which ${bad}`;
  if (!encoded) return `is stored under a key that is not its ref's (${e.ref})`;
  if (e.symref !== undefined) {
    const why = e.ref !== "HEAD" ? "is not HEAD" : badRefName(e.symref);
    if (why || e.symref === "HEAD") {
      return `points HEAD at ${JSON.stringify(e.symref.slice(0, 200))}, which ${why ?? "is HEAD"}`;
    }
  }
  if (e.segments.length > ENTRY_MAX_SEGMENTS) return `lists ${e.segments.length} segments`;
  for (const s of e.segments) {
    if (!knownSegmentId(s)) return "lists a segment id that is not 64 hex digits";
  }
  if (!optionalTime(e.time) || !optionalWriter(e.writer)) {
    return "has a time or writer that is not plain text";
  }
  if (!optionalTrunk(e.trunk)) return "has a malformed trunk id";
  return null;
}

/**
 * A stored ref entry, checked: size, JSON shape, key, seal and every field a reader uses.
 * `sealChecked`: a seal already covers the very text, so hashing it again is skipped and
 * the other checks still run: a cached row recorded as checked when it was read from the
 * store, or a copy carried by a snapshot whose own seal checked (snapshots.ts). Never for
 * an entry read from its own key.
 */
export function parseEntry(
  raw: string,
  key: string,
  layout: RefLayout,
  sealChecked = false,
): RefEntry {
  if (raw.length > ENTRY_MAX_BYTES) throw oversizedEntry(key);
  let e: RefEntry;
  try {
    e = JSON.parse(raw);
  } catch {
    throw new TrunkError(
      `ref entry ${key} is not valid JSON (truncated or damaged); run trunks check`,
      "corrupt",
    );
  }
  const k = layout.parts(key);
  const named = e && typeof e === "object" && typeof e.ref === "string";
  // Compared once: the key's check here and unsafeWhy's below both need it.
  const encoded = named && !!k && encodesAs(e.ref, k.enc);
  const ok = named && e.seq === k?.seq && knownNew(e.new) && knownOld(e.old) &&
    Array.isArray(e.segments) && namesItsKey(e.ref, k.enc, encoded) &&
    (e.symref === undefined || typeof e.symref === "string");
  if (!ok) {
    throw new TrunkError(
      `ref entry ${key} does not describe that ref and seq; the trunk is damaged, run trunks check`,
      "corrupt",
    );
  }
  if (!sealChecked) checkSeal(e, `ref entry ${key}`);
  const why = unsafeWhy(e, encoded);
  if (why) throw new UnsafeEntryError(key, why);
  return e;
}

/** Below this many entries to fetch, GETs in parallel beat reading a whole snapshot. */
const SNAPSHOT_WORTH = 16;

const reported = new Set<string>();

/** A ref entry's bytes (null: there is none); one past its bound is `oversizedEntry`, unread. */
export function readEntryBytes(store: Store, key: string): Promise<Uint8Array | null> {
  return getSmall(store, key, ENTRY_READ_MAX_BYTES, "ref entry", () => oversizedEntry(key));
}

/** Say once per process that an entry is skipped (stderr: stdout may belong to git). */
function reportSkipped(e: UnsafeEntryError): void {
  if (reported.has(e.key)) return;
  reported.add(e.key);
  console.error(`trunks: ${e.message}`);
}

/**
 * Up to this many entries, seals are hashed with WebCrypto rather than node:crypto. Its
 * load is ~22 ms of a process's CPU; an async digest costs ~0.04 ms more than a native
 * hash (the whole check, parse and canonical text included, in a fresh process: 323 seals
 * 46 ms of CPU by WebCrypto against 56-76 ms by node:crypto, 1,000 seals 74-80 against
 * 57-64 ms): they break even at ~550. A clone of a few hundred refs then loads no
 * node:crypto at all.
 */
const WEB_SEALS_MAX = 512;

/**
 * Keys of the `[key, text]` whose seal holds, hashed with WebCrypto (seal.ts
 * `sealHolds`), when there are at most WEB_SEALS_MAX of them. parseEntry checks the
 * others' seals itself, and every entry's other checks. Many entries go to node:crypto:
 * one load, then a synchronous hash each, beats as many async digests.
 */
async function sealsByWebCrypto(entries: [string, string][]): Promise<Set<string>> {
  const held = new Set<string>();
  if (entries.length > WEB_SEALS_MAX) return held;
  await Promise.all(entries.map(async ([key, text]) => {
    if (text.length > ENTRY_MAX_BYTES) return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return;
    }
    if (value && typeof value === "object" && await sealHolds(value)) held.add(key);
  }));
  return held;
}

/** `parseEntry`, or null (reported once) for an entry that must not be used. */
function parseOrSkip(
  raw: string,
  key: string,
  layout: RefLayout,
  sealChecked = false,
): RefEntry | null {
  try {
    return parseEntry(raw, key, layout, sealChecked);
  } catch (e) {
    if (e instanceof UnsafeEntryError) {
      reportSkipped(e);
      return null;
    }
    throw e;
  }
}

type ParsedAhead = Map<string, { text: string; entry: RefEntry }>;
/**
 * Entries parsed ahead by `parseAhead`, by key, taken by the next `readLatest` (of a trunk
 * of the same format: keys are parsed in their trunk's layout).
 */
let parsedAhead: ParsedAhead = new Map();
let parsedAheadFormat = 0;

/**
 * Parse cached entries while a listing is out (`[key, text]` of rows whose seal was checked
 * when they were read, `checkedRows`): the next `readLatest` takes the result for a key
 * whose text is the same and that it would parse as sealed, which is `parseEntry(text, key,
 * layout, true)`, the very call made here. Which rows are used is still the listing's to say. A
 * row that fails is left to that read, which reports it.
 */
export function parseAhead(rows: Iterable<[string, string]>, layout: RefLayout): void {
  parsedAhead = new Map();
  parsedAheadFormat = layout.format;
  for (const [key, text] of rows) {
    try {
      parsedAhead.set(key, { text, entry: parseEntry(text, key, layout, true) });
    } catch {
      // parsed again, and refused or reported, by the read
    }
  }
}

/**
 * One list of `refs/`, then the latest entry of each ref: from the cache, from the newest
 * snapshot when many are missing, else fetched in parallel; cached forever since entries
 * never change.
 */
export async function readRefState(
  store: Store,
  cache: TrunkCache,
  trunk: TrunkKeys,
  listing?: ListEntry[],
): Promise<RefState> {
  return (await readLatest(store, cache, trunk, listing, "state")).state;
}

/**
 * What a `readLatest` caller takes. "state": the parsed latest entries (`state.latest`),
 * `raw` left empty (a fetch's state needs no texts: 20,000 rows less). "snapshot": each
 * latest entry's stored JSON by key in `raw` (what a snapshot holds), every entry's own
 * seal hashed (cached rows recorded as checked and snapshot copies included: the new
 * snapshot's seal then vouches for bytes whose writers' seals it checked, not for a cached
 * row that rotted since it was read), and `state.latest` left empty: each entry is parsed
 * and checked all the same, but not kept (at 20,000 refs ~10 MB more at the peak of a
 * maintenance step, which encodes the texts next).
 */
export type ReadFor = "state" | "snapshot";

/** readRefState, or a snapshot writer's texts (`ReadFor`). */
export async function readLatest(
  store: Store,
  cache: TrunkCache,
  trunk: TrunkKeys,
  listing: ListEntry[] | undefined,
  readFor: ReadFor,
): Promise<{ state: RefState; raw: Map<string, string> }> {
  const verifySeals = readFor === "snapshot";
  const trunkId = trunk.id;
  const layout = refLayout(trunk.format);
  const ahead = parsedAheadFormat === layout.format ? parsedAhead : new Map() as ParsedAhead;
  parsedAhead = new Map();
  const listed = listing ?? await store.list(REFS_PREFIX);
  // Per ref: its latest listed entry, and its oldest listed seq. One pass, no ref name
  // decoded and no string built per entry: within two leases of a burst the listing holds
  // every superseded entry, and only each ref's latest is read.
  const perRef = new Map<string, ListedRef>();
  let snap: { seq: number; modified: number } | null = null;
  let entryCount = 0;
  let foreign = 0;
  // Each entry's listed time, in listing order: counted against the snapshot's once that
  // is known (its key sorts last), without telling entries from other keys a second time.
  const times: number[] = [];
  for (const entry of listed) {
    const k = layout.parts(entry.key);
    if (!k) {
      const s = parseSnapshotKey(entry.key);
      if (s !== null && (!snap || s > snap.seq)) {
        snap = { seq: s, modified: entry.modified.getTime() };
      } else if (s === null && foreignLayout(layout, entry.key)) foreign++;
      continue;
    }
    entryCount++;
    times.push(entry.modified.getTime());
    const cur = perRef.get(k.enc);
    if (!cur) perRef.set(k.enc, { seq: k.seq, entry, oldest: k.seq });
    else {
      if (k.seq > cur.seq) [cur.seq, cur.entry] = [k.seq, entry];
      if (k.seq < cur.oldest) cur.oldest = k.seq;
    }
  }
  const { supersededSince, unsnapshotted } = logTimes(listed, perRef, snap, times, layout);
  const listedOf = new Map<string, ListEntry>();
  for (const r of perRef.values()) listedOf.set(r.entry.key, r.entry);
  const keys = [...listedOf.keys()];
  // A cached entry the listing does not vouch for (another size, modified time or version
  // tag: the trunk was re-created or restored at this URL) is read again from its key.
  const { trusted: cached, checked, copied, doubtful } = vouchedEntries(
    cache,
    trunkId,
    listedOf,
    true,
  );
  let missing = keys.filter((k) => !cached.has(k));
  const fetched = new Map<string, string>();
  const fromSnapshot = new Set<string>();
  // Copies from a snapshot whose seal checked: that seal covers their bytes (snapshots.ts).
  let snapshotSealed = false;
  if (snap && missing.length >= SNAPSHOT_WORTH) {
    const snapshot = await loadSnapshot(
      store,
      trunk,
      snap.seq,
      snapshotMaxBytes(listedOf.values()),
    );
    snapshotSealed = snapshot?.sealed ?? false;
    const copies = snapshot?.entries;
    const rest: string[] = [];
    for (const key of missing) {
      const raw = copies?.get(key);
      if (raw !== undefined && !doubtful.has(key) && byteLength(raw) === listedOf.get(key)!.size) {
        fetched.set(key, raw);
        fromSnapshot.add(key);
      } else rest.push(key);
    }
    missing = rest;
  }
  await mapLimit(missing, store.capabilities.parallelism * 2, async (key) => {
    const raw = await readEntryBytes(store, key);
    if (!raw) {
      throw new TrunkError(
        `ref entry ${key} was listed but cannot be read; retry, or run trunks check`,
        "corrupt",
      );
    }
    fetched.set(key, new TextDecoder().decode(raw));
  });
  const latest = new Map<string, RefEntry>();
  const raw = new Map<string, string>();
  // Keys whose text passed every check now, to be recorded as checked with their stamp.
  const passed = new Set<string>();
  // Per key (by index in `keys`), whether another seal already covers its text: a cached
  // row recorded as checked, or a copy from a snapshot whose seal checked. Its text: a
  // cached row, else what was read (the two never share a key: `missing`).
  const vouched: boolean[] = new Array(keys.length);
  const texts: string[] = new Array(keys.length);
  const unvouched: [string, string][] = [];
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    const fromCache = cached.get(key);
    texts[i] = fromCache ?? fetched.get(key)!;
    vouched[i] = !verifySeals &&
      (fromCache !== undefined ? checked.has(key) : snapshotSealed && fromSnapshot.has(key));
    // Past WEB_SEALS_MAX, sealsByWebCrypto hashes none: the list need not grow further.
    if (!vouched[i] && unvouched.length <= WEB_SEALS_MAX) unvouched.push([key, texts[i]]);
  }
  const webSealed = await sealsByWebCrypto(unvouched);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    const text = texts[i];
    const sealed = vouched[i] || webSealed.has(key);
    const parsed = sealed ? ahead.get(key) : undefined;
    let e: RefEntry | null;
    try {
      e = parsed?.text === text ? parsed.entry : parseOrSkip(text, key, layout, sealed);
    } catch (err) {
      // A snapshot's writer: a cached row that fails its seal may have rotted since it was
      // read, and the store hold it intact (the caller drops the cache and reads again).
      if (verifySeals && err instanceof TrunkError && cached.has(key)) {
        throw new StaleCacheError(key);
      }
      throw err;
    }
    if (!e) continue;
    if (!checked.has(key)) passed.add(key);
    if (e.trunk !== undefined && e.trunk !== trunkId) {
      throw new ForeignEntryError(key, e.trunk, trunkId);
    }
    if (verifySeals) raw.set(key, text);
    else latest.set(e.ref, e);
  }
  // The store holds another entry under a key we cached: it was restored from an older
  // copy, or replaced. The store is the truth: the caller drops the cache and re-reads.
  const changed = settleEntries(cache, trunkId, fetched, listedOf, doubtful, passed, fromSnapshot);
  if (changed.size) throw new StaleCacheError([...changed][0]);
  // Trusted rows cached by a reader that did not check them (a log read, an older client):
  // checked now, so the next fetch parses them without hashing.
  const upgraded = new Map([...cached].filter(([k]) => passed.has(k)));
  if (upgraded.size) settleEntries(cache, trunkId, upgraded, listedOf, new Map(), passed);
  // A snapshot's copy, now or cached from an earlier read, is not the key's own bytes as
  // the store reported them: a push reads such a base again (trunk.ts #checkBases).
  // A clone's state came whole from the snapshot: nothing read is fresh.
  const fresh = fromSnapshot.size === fetched.size
    ? new Set<string>()
    : new Set([...fetched.keys()].filter((k) => !fromSnapshot.has(k)));
  for (const key of cached.keys()) {
    if (copied.has(key)) continue;
    if (preciseStamp(listedStamp(listedOf.get(key)!), store.capabilities)) fresh.add(key);
  }
  return {
    state: {
      latest,
      entryCount,
      snapshotSeq: snap?.seq ?? null,
      unsnapshotted,
      superseded: entryCount - perRef.size,
      supersededSince,
      fresh,
      foreign,
    },
    raw,
  };
}

interface ListedRef {
  /** The latest listed seq and its listing entry. */
  seq: number;
  entry: ListEntry;
  /** The oldest listed seq. */
  oldest: number;
}

/**
 * When the oldest listed superseded entry was superseded (its successor's listed time), and
 * how many entries were listed as written after the newest snapshot (all without one), from
 * `times`, every entry's listed time. Only refs listing more than one entry have a
 * superseded one; their successors' keys are found in a second pass rather than by keeping
 * every entry's time by key (20,000 refs of one entry each need none).
 */
function logTimes(
  listed: ListEntry[],
  perRef: Map<string, ListedRef>,
  snap: { modified: number } | null,
  times: number[],
  layout: RefLayout,
): { supersededSince: number | null; unsnapshotted: number } {
  const successors = new Set<string>();
  // Every ref listing one entry (each key is one entry, so none listed twice): no walk of
  // 20,000 refs to find none.
  const superseded = times.length > perRef.size;
  for (const [enc, r] of superseded ? perRef : []) {
    if (r.oldest < r.seq) successors.add(layout.keyOf(enc, r.oldest + 1));
  }
  let supersededSince: number | null = null;
  for (const { key, modified } of successors.size ? listed : []) {
    if (!successors.has(key)) continue;
    const t = modified.getTime();
    if (supersededSince === null || t < supersededSince) supersededSince = t;
  }
  let unsnapshotted = snap ? 0 : times.length;
  if (snap) { for (const t of times) if (t >= snap.modified) unsnapshotted++; }
  return { supersededSince, unsnapshotted };
}

/** Every entry of the log, oldest first per ref (for check, sync and audit). */
export async function readRefLog(
  store: Store,
  cache: TrunkCache,
  trunk: TrunkKeys,
): Promise<RefEntry[]> {
  const trunkId = trunk.id;
  const layout = refLayout(trunk.format);
  const listedOf = new Map(
    (await store.list(REFS_PREFIX)).filter((e) => layout.parts(e.key)).map((e) => [e.key, e]),
  );
  const keys = [...listedOf.keys()];
  const { trusted: cached, doubtful } = vouchedEntries(cache, trunkId, listedOf);
  const fetched = new Map<string, string>();
  await mapLimit(
    keys.filter((k) => !cached.has(k)),
    store.capabilities.parallelism * 2,
    async (key) => {
      const raw = await readEntryBytes(store, key);
      if (raw) fetched.set(key, new TextDecoder().decode(raw));
    },
  );
  // What the store holds wins; a contradicted cache is dropped, not trusted for other keys.
  if (settleEntries(cache, trunkId, fetched, listedOf, doubtful).size) {
    cache.forgetEntries(trunkId);
    settleEntries(cache, trunkId, fetched, listedOf, new Map());
  }
  return keys.flatMap((k) => {
    const raw = cached.get(k) ?? fetched.get(k);
    const e = raw === undefined ? null : parseOrSkip(raw, k, layout);
    return e ? [e] : [];
  });
}

/**
 * The store contradicts the cache (the trunk was re-created, replaced or restored from an
 * older copy): the cache of that trunk is dropped and the state read again.
 */
export class StaleCacheError extends Error {
  constructor(readonly key: string) {
    super(`the cached copy of ${key} does not match the store`);
  }
}

/**
 * A latest entry carrying another trunk's id. At first a stale cache like any other: the
 * trunk at this URL may have been replaced, and trunk.json is read again. Found again
 * once it was (`definite`), the entry was copied in from another trunk: one line naming
 * it, as `trunks log` and `trunks check` name it, instead of a stale cache's.
 */
export class ForeignEntryError extends StaleCacheError {
  constructor(key: string, readonly foreign: string, readonly mine: string) {
    super(key);
    this.message = escapeUnsafe(
      `ref entry ${key} belongs to another trunk (${foreign}), not this one (${mine}); run trunks check, which names it`,
    );
  }

  /** The same, after trunk.json was read again: the trunk is damaged, not the cache stale. */
  definite(): TrunkError {
    return new TrunkError(this.message, "corrupt");
  }
}

export type UpdateResult = { ok: true; entry: RefEntry } | { ok: false; winner: RefEntry | null };

/**
 * Compare-and-swap: create entry `prev.seq + 1` (or seq 1 for a new ref). Returns the
 * winning entry when another writer got there first.
 */
export async function writeRefEntry(
  store: Store,
  cache: TrunkCache,
  trunk: TrunkKeys,
  entry: RefEntry,
): Promise<UpdateResult> {
  const trunkId = trunk.id;
  const layout = refLayout(trunk.format);
  const key = layout.entryKey(entry.ref, entry.seq);
  // The caller gets the entry as stored (sealed), so its JSON size is the listed size.
  const sealed = seal(entry);
  const json = JSON.stringify(sealed);
  const created = await createStamped(store, key, new TextEncoder().encode(json));
  if (created) {
    // Cached with the stamp the store gave this create, so the next listing vouches for it
    // (no re-read); without one, the next read of the entry goes to the store. Recorded as
    // checked: this process sealed this very text, so a later read (the maintenance step's
    // snapshot, the next fetch) does not hash 20,000 entries again.
    const stamp = stampOf(created);
    cache.putEntries(
      trunkId,
      new Map([[key, json]]),
      stamp ? new Map([[key, checkedStamp(stamp)]]) : undefined,
    );
    return { ok: true, entry: sealed };
  }
  const raw = await readEntryBytes(store, key);
  if (!raw) return { ok: false, winner: null };
  const text = new TextDecoder().decode(raw);
  cache.putEntries(trunkId, new Map([[key, text]]));
  return { ok: false, winner: parseEntry(text, key, layout) };
}
