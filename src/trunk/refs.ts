/**
 * The ref log: `refs/<enc>/<seq>` entries, created exclusively. The highest seq is a
 * ref's value; updating from seq n means creating n+1, so exactly one of two racing
 * writers wins without any lock.
 */
import { getBytes, type Store } from "../storage/store.ts";
import type { TrunkCache } from "./cache.ts";
import { TrunkError } from "./errors.ts";
import { parseRefEntryKey, refEntryKey, REFS_PREFIX } from "./layout.ts";
import { mapLimit } from "./pool.ts";
import { checkSeal, seal } from "./seal.ts";

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
  /** Number of entries listed (the log's length). */
  entryCount: number;
}

const OID_RE = /^([0-9a-f]{40}|[0-9a-f]{64})$/;

export function isDeleted(e: RefEntry): boolean {
  return !e.symref && /^0+$/.test(e.new);
}

export function parseEntry(raw: string, key: string): RefEntry {
  let e: RefEntry;
  try {
    e = JSON.parse(raw);
  } catch {
    throw new TrunkError(
      `ref entry ${key} is not valid JSON (truncated or damaged); run trunks check`,
      "corrupt",
    );
  }
  const k = parseRefEntryKey(key);
  const ok = e && typeof e === "object" && typeof e.ref === "string" && e.seq === k?.seq &&
    OID_RE.test(e.new) && OID_RE.test(e.old) && Array.isArray(e.segments) &&
    (k.ref === null || k.ref === e.ref) && (e.symref === undefined || typeof e.symref === "string");
  if (!ok) {
    throw new TrunkError(
      `ref entry ${key} does not describe that ref and seq; the trunk is damaged, run trunks check`,
      "corrupt",
    );
  }
  checkSeal(e, `ref entry ${key}`);
  return e;
}

/**
 * One list of `refs/`, then the latest entry of each ref (from the cache, or fetched in
 * parallel and cached forever since entries never change).
 */
export async function readRefState(
  store: Store,
  cache: TrunkCache,
  trunkId: string,
): Promise<RefState> {
  const listed = await store.list(REFS_PREFIX);
  const latestKey = new Map<string, { key: string; seq: number; size: number }>();
  for (const { key, size } of listed) {
    const k = parseRefEntryKey(key);
    if (!k) continue;
    const cur = latestKey.get(k.enc);
    if (!cur || k.seq > cur.seq) latestKey.set(k.enc, { key, seq: k.seq, size });
  }
  const keys = [...latestKey.values()].map((v) => v.key);
  const cached = cache.getEntries(trunkId, keys);
  // A cached entry whose stored size differs is re-read: the trunk was re-created at
  // this URL, or the stored entry was damaged (then parsing below names it).
  const changed = new Set<string>();
  for (const { key, size } of latestKey.values()) {
    const c = cached.get(key);
    if (c !== undefined && new TextEncoder().encode(c).byteLength !== size) {
      cached.delete(key);
      changed.add(key);
    }
  }
  const missing = keys.filter((k) => !cached.has(k));
  const fetched = new Map<string, string>();
  await mapLimit(missing, store.capabilities.parallelism * 2, async (key) => {
    const raw = await getBytes(store, key);
    if (!raw) {
      throw new TrunkError(
        `ref entry ${key} was listed but cannot be read; retry, or run trunks check`,
        "corrupt",
      );
    }
    fetched.set(key, new TextDecoder().decode(raw));
  });
  const latest = new Map<string, RefEntry>();
  for (const key of keys) {
    const e = parseEntry(cached.get(key) ?? fetched.get(key)!, key);
    if (e.trunk !== undefined && e.trunk !== trunkId) throw new StaleCacheError(key);
    latest.set(e.ref, e);
  }
  // The store holds another entry under a key we cached: it was restored from an older
  // copy, or replaced. The store is the truth: the caller drops the cache and re-reads.
  if (changed.size) throw new StaleCacheError([...changed][0]);
  if (fetched.size) cache.putEntries(trunkId, fetched);
  return { latest, entryCount: listed.length };
}

/** Every entry of the log, oldest first per ref (for check, sync and audit). */
export async function readRefLog(
  store: Store,
  cache: TrunkCache,
  trunkId: string,
): Promise<RefEntry[]> {
  const keys = (await store.list(REFS_PREFIX)).map((e) => e.key).filter((k) => parseRefEntryKey(k));
  const cached = cache.getEntries(trunkId, keys);
  const fetched = new Map<string, string>();
  await mapLimit(
    keys.filter((k) => !cached.has(k)),
    store.capabilities.parallelism * 2,
    async (key) => {
      const raw = await getBytes(store, key);
      if (raw) fetched.set(key, new TextDecoder().decode(raw));
    },
  );
  if (fetched.size) cache.putEntries(trunkId, fetched);
  return keys.flatMap((k) => {
    const raw = cached.get(k) ?? fetched.get(k);
    return raw === undefined ? [] : [parseEntry(raw, k)];
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

export type UpdateResult = { ok: true; entry: RefEntry } | { ok: false; winner: RefEntry | null };

/**
 * Compare-and-swap: create entry `prev.seq + 1` (or seq 1 for a new ref). Returns the
 * winning entry when another writer got there first.
 */
export async function writeRefEntry(
  store: Store,
  cache: TrunkCache,
  trunkId: string,
  entry: RefEntry,
): Promise<UpdateResult> {
  const key = refEntryKey(entry.ref, entry.seq);
  // The caller gets the entry as stored (sealed), so its JSON size is the listed size.
  const sealed = seal(entry);
  const json = JSON.stringify(sealed);
  if (await store.create(key, new TextEncoder().encode(json))) {
    cache.putEntries(trunkId, new Map([[key, json]]));
    return { ok: true, entry: sealed };
  }
  const raw = await getBytes(store, key);
  if (!raw) return { ok: false, winner: null };
  const text = new TextDecoder().decode(raw);
  cache.putEntries(trunkId, new Map([[key, text]]));
  return { ok: false, winner: parseEntry(text, key) };
}
