/**
 * What a client remembers about a trunk: ref entries (immutable, so cached forever)
 * and which segments its local repository has ingested. Implementations: SQLite
 * (src/local) and memory.
 */
import { type Capabilities, type ListEntry, stampOf } from "../storage/store.ts";

export interface TrunkCache {
  /** trunk.json as last read from a location (it never changes for a given trunk). */
  getMeta(location: string): string | undefined;
  putMeta(location: string, json: string | undefined): void;
  getEntries(trunkId: string, keys: string[]): Map<string, string>;
  /**
   * Cache entries not cached yet; with `stamps`, also record each key's listed stamp
   * (`listedStamp`) on a cached copy holding the same bytes.
   */
  putEntries(trunkId: string, entries: Map<string, string>, stamps?: Map<string, string>): void;
  /** The listed stamp recorded with each cached key (absent: none recorded). */
  getStamps(trunkId: string, keys: string[]): Map<string, string>;
  /** Drop every cached ref entry of a trunk: the store contradicted the cache. */
  forgetEntries(trunkId: string): void;
  ingested(trunkId: string): Set<string>;
  markIngested(trunkId: string, segmentIds: string[]): void;
  forgetIngested(trunkId: string, segmentIds: string[]): void;
  /**
   * Hold large entry writes back until the returned release runs (or the next read of
   * entries, or close). A clone's `list` caches 20,000 rows: held, they are written once
   * its `fetch` has answered git, while git writes the refs, not while git waits for the
   * pack. Optional: a cache that writes nothing to disk has nothing to hold.
   */
  holdWrites?(): () => void;
  /**
   * Read a trunk's cached entries now for the lookups that follow (until this cache's next
   * write of entries): called while a listing is out, so that matching the listing later
   * reads nothing. Returns what it read, by key (none when it read nothing ahead).
   * Optional: a cache in memory has nothing to read ahead.
   */
  preload?(trunkId: string): Map<string, CachedRow> | undefined;
}

/** A cached entry's text and the stamp recorded with it. */
export interface CachedRow {
  json: string;
  stamp: string | null;
}

export class MemoryCache implements TrunkCache {
  #entries = new Map<string, string>();
  #stamps = new Map<string, string>();
  #ingested = new Map<string, Set<string>>();
  #meta = new Map<string, string>();

  getMeta(location: string): string | undefined {
    return this.#meta.get(location);
  }

  putMeta(location: string, json: string | undefined): void {
    if (json === undefined) this.#meta.delete(location);
    else this.#meta.set(location, json);
  }

  getEntries(trunkId: string, keys: string[]): Map<string, string> {
    const out = new Map<string, string>();
    for (const k of keys) {
      const v = this.#entries.get(`${trunkId}\0${k}`);
      if (v !== undefined) out.set(k, v);
    }
    return out;
  }

  putEntries(trunkId: string, entries: Map<string, string>, stamps?: Map<string, string>): void {
    for (const [k, v] of entries) {
      const id = `${trunkId}\0${k}`;
      const held = this.#entries.get(id);
      if (held === undefined) this.#entries.set(id, v);
      const stamp = stamps?.get(k);
      if (stamp !== undefined && (held ?? v) === v) this.#stamps.set(id, stamp);
    }
  }

  getStamps(trunkId: string, keys: string[]): Map<string, string> {
    const out = new Map<string, string>();
    for (const k of keys) {
      const v = this.#stamps.get(`${trunkId}\0${k}`);
      if (v !== undefined) out.set(k, v);
    }
    return out;
  }

  forgetEntries(trunkId: string): void {
    for (const map of [this.#entries, this.#stamps]) {
      for (const k of [...map.keys()]) if (k.startsWith(`${trunkId}\0`)) map.delete(k);
    }
  }

  ingested(trunkId: string): Set<string> {
    return new Set(this.#ingested.get(trunkId) ?? []);
  }

  markIngested(trunkId: string, segmentIds: string[]): void {
    let s = this.#ingested.get(trunkId);
    if (!s) this.#ingested.set(trunkId, s = new Set());
    for (const id of segmentIds) s.add(id);
  }

  forgetIngested(trunkId: string, segmentIds: string[]): void {
    const s = this.#ingested.get(trunkId);
    for (const id of segmentIds) s?.delete(id);
  }
}

/**
 * What a listing says of one stored object beyond its key and size: its version tag where
 * the backend lists one, else its modified time. null: the backend gives neither, so a
 * cached copy under that key can never be vouched for.
 */
export function listedStamp(e: ListEntry): string | null {
  return stampOf(e);
}

/**
 * A stamp that tells a rewrite apart even within the same second: a version tag, or a time
 * from a store whose listed times are finer than seconds. A listing with whole seconds
 * (SFTP) can list a key rewritten within that second with the same stamp, so a push reads
 * such a base again rather than trust it.
 */
export function preciseStamp(stamp: string | null, capabilities: Capabilities): boolean {
  return !!stamp && (stamp.startsWith("e:") || !capabilities.coarseTimes);
}

/**
 * Prefix of a recorded stamp whose row passed every check of `parseEntry` (its seal
 * included) when it was read from the store under that stamp. An up-to-date fetch then
 * parses such a row without hashing it again; a row recorded by a reader that did not
 * check it (a log read, a mirror sync) carries the plain stamp and is checked in full.
 */
const CHECKED = "c:";

/** The stamp recorded for a row read under `stamp` that passed every check. */
export function checkedStamp(stamp: string): string {
  return CHECKED + stamp;
}

/**
 * Prefix of a recorded stamp whose row passed every check but whose bytes came from a
 * snapshot's copy, not from its own key: the listing vouches that the key is unchanged,
 * not that it holds these bytes. A fetch answers from such a row; a push's base never
 * rests on it without reading the key (DESIGN: the base is the object the store reported).
 */
const COPIED = "s:";

/**
 * `[key, text]` of the rows recorded as having passed every check when read (`CHECKED`, or
 * `COPIED` from a snapshot): those a fetch's read parses without hashing when the listing
 * vouches for them (refs.ts `parseAhead`).
 */
export function* checkedRows(rows: Map<string, CachedRow>): Iterable<[string, string]> {
  for (const [key, row] of rows) {
    if (row.stamp?.startsWith(CHECKED) || row.stamp?.startsWith(COPIED)) yield [key, row.json];
  }
}

/** Cached ref entries checked against a listing (`vouchedEntries`). */
export interface VouchedEntries {
  /** Cached bytes the listing vouches for: same size, same stamp as when cached. */
  trusted: Map<string, string>;
  /** Keys of `trusted` recorded with `checkedStamp`: their seal was checked when read. */
  checked: Set<string>;
  /** Keys of `checked` whose bytes came from a snapshot's copy, never from the key itself. */
  copied: Set<string>;
  /**
   * Cached bytes the listing does not vouch for (no stamp recorded, another stamp or size,
   * or a backend that lists no stamp): read the key again and `settleEntries`.
   */
  doubtful: Map<string, string>;
}

/**
 * The store is the truth: a cached entry is used only while the listing shows the very
 * object it was read from. A key restored from a backup or rewritten with the same size
 * lists another modified time or version tag, so it is read again. A snapshot's copy
 * (`COPIED`) is used only by a reader that says so (`acceptCopies`: a fetch's state, whose
 * push bases are read again); a pruner archiving it, a mirror sync copying it or a check
 * reads the key's own bytes, and a copy they contradict drops the cache.
 */
export function vouchedEntries(
  cache: TrunkCache,
  trunkId: string,
  listed: Map<string, ListEntry>,
  acceptCopies = false,
): VouchedEntries {
  const keys = [...listed.keys()];
  const cached = cache.getEntries(trunkId, keys);
  const stamps = cache.getStamps(trunkId, [...cached.keys()]);
  const trusted = new Map<string, string>();
  const checked = new Set<string>();
  const copied = new Set<string>();
  const doubtful = new Map<string, string>();
  for (const [key, text] of cached) {
    const l = listed.get(key)!;
    const stamp = listedStamp(l);
    const held = stamps.get(key);
    const copy = stamp !== null && held === COPIED + stamp;
    const marked = stamp !== null && (held === CHECKED + stamp || (copy && acceptCopies));
    const same = stamp !== null && (held === stamp || marked) && byteLength(text) === l.size;
    (same ? trusted : doubtful).set(key, text);
    if (same && marked) checked.add(key);
    if (same && copy) copied.add(key);
  }
  return { trusted, checked, copied, doubtful };
}

/**
 * Cache what was read from the store with the stamps listed for it (`passed`: keys whose
 * text passed every check of `parseEntry`, recorded as checked; `copies`: keys whose text
 * came from a snapshot, recorded as copied if they passed and not cached if not). Returns
 * the keys whose stored bytes differ from the cached copy: the store contradicted the cache.
 */
export function settleEntries(
  cache: TrunkCache,
  trunkId: string,
  read: Map<string, string>,
  listed: Map<string, ListEntry>,
  doubtful: Map<string, string>,
  passed?: Set<string>,
  copies?: Set<string>,
): Set<string> {
  const changed = new Set<string>();
  for (const [key, text] of doubtful) {
    const now = read.get(key);
    if (now !== undefined && now !== text) changed.add(key);
  }
  const unfit = (key: string) => changed.has(key) || (!!copies?.has(key) && !passed?.has(key));
  // A clone's 20,000 copies that all passed keep the read map as it is.
  let someUnfit = changed.size > 0;
  for (const key of someUnfit ? [] : copies ?? []) {
    if (passed?.has(key)) continue;
    someUnfit = true;
    break;
  }
  const keep = someUnfit ? new Map([...read].filter(([key]) => !unfit(key))) : read;
  const stamps = new Map<string, string>();
  for (const key of keep.keys()) {
    const l = listed.get(key);
    const stamp = l && listedStamp(l);
    if (!stamp) continue;
    stamps.set(
      key,
      copies?.has(key) ? COPIED + stamp : passed?.has(key) ? checkedStamp(stamp) : stamp,
    );
  }
  if (keep.size) cache.putEntries(trunkId, keep, stamps);
  return changed;
}

/**
 * `settleEntries`, and where the store contradicted the cache (restored or replaced),
 * the store is the truth: every cached entry under `trunkId` goes and only what was just
 * read is kept. True when the cache was contradicted.
 */
export function settleOrForget(
  cache: TrunkCache,
  trunkId: string,
  read: Map<string, string>,
  listed: Map<string, ListEntry>,
  doubtful: Map<string, string>,
  copies?: Set<string>,
): boolean {
  const settled = settleEntries(cache, trunkId, read, listed, doubtful, copies, copies);
  if (settled.size === 0) return false;
  cache.forgetEntries(trunkId);
  settleEntries(cache, trunkId, read, listed, new Map(), copies, copies);
  return true;
}

const utf8 = new TextEncoder();
/** Each UTF-16 unit takes at most 3 bytes: room for any string up to 64 Ki units. */
const scratch = new Uint8Array(3 * 65536);

/**
 * UTF-8 size of `s`, encoded into a reused buffer: a clone compares thousands of entries
 * with their listed sizes, and a fresh array per entry was most of that cost.
 */
export function byteLength(s: string): number {
  if (s.length > 65536) return utf8.encode(s).byteLength;
  return utf8.encodeInto(s, scratch).written;
}

/**
 * A cache whose entry writes wait for `flush()` and then go in one batch: a push of
 * thousands of refs creates an entry per ref, and one write (a SQLite transaction) each
 * costs seconds. Reads see the waiting entries. Nothing is lost if `flush` never runs:
 * the entries are in the store, and the cache only saves re-reading them.
 */
export class BatchedEntryWrites implements TrunkCache {
  #pending = new Map<string, { entries: Map<string, string>; stamps: Map<string, string> }>();

  constructor(readonly inner: TrunkCache) {}

  getMeta(location: string): string | undefined {
    return this.inner.getMeta(location);
  }

  putMeta(location: string, json: string | undefined): void {
    this.inner.putMeta(location, json);
  }

  getEntries(trunkId: string, keys: string[]): Map<string, string> {
    const out = this.inner.getEntries(trunkId, keys);
    const pending = this.#pending.get(trunkId)?.entries;
    for (const k of pending?.size ? keys : []) {
      const v = pending!.get(k);
      if (v !== undefined && !out.has(k)) out.set(k, v);
    }
    return out;
  }

  putEntries(trunkId: string, entries: Map<string, string>, stamps?: Map<string, string>): void {
    let pending = this.#pending.get(trunkId);
    if (!pending) this.#pending.set(trunkId, pending = { entries: new Map(), stamps: new Map() });
    for (const [k, v] of entries) if (!pending.entries.has(k)) pending.entries.set(k, v);
    // A stamp goes with the bytes it was listed or created for, as underneath.
    for (const [k, v] of stamps ?? []) {
      if (pending.entries.get(k) === entries.get(k)) pending.stamps.set(k, v);
    }
  }

  getStamps(trunkId: string, keys: string[]): Map<string, string> {
    const out = this.inner.getStamps(trunkId, keys);
    const pending = this.#pending.get(trunkId);
    if (!pending?.stamps.size) return out;
    const stamped = keys.filter((k) => pending.stamps.has(k));
    // As the cache underneath records them: a waiting stamp goes with the row read
    // (`getEntries`: the one underneath first) only when that row holds the same bytes,
    // never on an older copy of another text (a trunk restored from an older backup).
    const rows = this.inner.getEntries(trunkId, stamped);
    for (const k of stamped) {
      const row = rows.get(k);
      if (row === undefined || row === pending.entries.get(k)) out.set(k, pending.stamps.get(k)!);
    }
    return out;
  }

  forgetEntries(trunkId: string): void {
    this.#pending.delete(trunkId);
    this.inner.forgetEntries(trunkId);
  }

  ingested(trunkId: string): Set<string> {
    return this.inner.ingested(trunkId);
  }

  markIngested(trunkId: string, segmentIds: string[]): void {
    this.inner.markIngested(trunkId, segmentIds);
  }

  forgetIngested(trunkId: string, segmentIds: string[]): void {
    this.inner.forgetIngested(trunkId, segmentIds);
  }

  preload(trunkId: string): Map<string, CachedRow> | undefined {
    return this.inner.preload?.(trunkId);
  }

  /** Write every waiting entry to the cache underneath, in one call per trunk. */
  flush(): void {
    for (const [trunkId, p] of this.#pending) this.inner.putEntries(trunkId, p.entries, p.stamps);
    this.#pending.clear();
  }
}
