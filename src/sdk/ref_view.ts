/**
 * The trunk's refs as the library sees them: one `list` of `refs/`, then only the
 * entries a call needs (reading one file at HEAD fetches two entries, not one per ref).
 * Entries are immutable, so each is fetched once and cached forever.
 */
import type { ListEntry, Store } from "../storage/store.ts";
import {
  byteLength,
  listedStamp,
  settleOrForget,
  type TrunkCache,
  vouchedEntries,
} from "../trunk/cache.ts";
import { TrunkError } from "../trunk/errors.ts";
import {
  parseSnapshotKey,
  type RefLayout,
  refLayout,
  REFS_PREFIX,
  type TrunkKeys,
} from "../trunk/layout.ts";
import { mapLimit } from "../trunk/pool.ts";
import { isDeleted, parseEntry, readEntryBytes, type RefEntry } from "../trunk/refs.ts";
import { encodeRef } from "../trunk/refcodec.ts";
import { loadSnapshot, snapshotMaxBytes } from "../trunk/snapshots.ts";

interface Latest {
  key: string;
  seq: number;
  size: number;
  /** As listed; absent for an entry this client just wrote and has not listed since. */
  listed?: ListEntry;
}

export class RefView {
  /** Latest key per encoded ref name, from the last list. */
  #latest = new Map<string, Latest>();
  #entries = new Map<string, RefEntry>();
  /** Stored size of each entry held, as read or written. */
  #sizes = new Map<string, number>();
  /** Listed stamp (trunk/cache.ts) each held entry was read under; null: written here. */
  #stamps = new Map<string, string | null>();
  #listed = false;
  /** Newest snapshot seq from the last list (null: none). */
  #snapshot: number | null = null;

  readonly trunkId: string;
  /** The trunk's own entry keys (its format's, layout.ts). */
  readonly #layout: RefLayout;

  constructor(
    readonly store: Store,
    readonly cache: TrunkCache,
    readonly trunk: TrunkKeys,
  ) {
    this.trunkId = trunk.id;
    this.#layout = refLayout(trunk.format);
  }

  get listed(): boolean {
    return this.#listed;
  }

  /** One list of `refs/`: what moved since is seen, nothing is fetched yet. */
  async refresh(): Promise<void> {
    const latest = new Map<string, Latest>();
    let snapshot: number | null = null;
    for (const listed of await this.store.list(REFS_PREFIX)) {
      const { key, size } = listed;
      const k = this.#layout.parts(key);
      if (!k) {
        const s = parseSnapshotKey(key);
        if (s !== null && (snapshot === null || s > snapshot)) snapshot = s;
        continue;
      }
      const cur = latest.get(k.enc);
      if (!cur || k.seq > cur.seq) latest.set(k.enc, { key, seq: k.seq, size, listed });
    }
    // An entry held in memory whose stored size or stamp changed (restored, rewritten) is
    // read again when needed; one written here takes the stamp it is first listed with.
    for (const l of latest.values()) {
      const size = this.#sizes.get(l.key);
      const held = this.#stamps.get(l.key);
      const stamp = listedStamp(l.listed!);
      if (size !== undefined && (size !== l.size || (held !== null && held !== stamp))) {
        this.#entries.delete(l.key);
      } else if (size !== undefined) this.#stamps.set(l.key, stamp);
    }
    this.#latest = latest;
    this.#snapshot = snapshot;
    this.#listed = true;
  }

  async #fetch(keys: string[]): Promise<void> {
    const want = keys.filter((k) => !this.#entries.has(k));
    if (want.length === 0) return;
    const listedOf = new Map<string, ListEntry>();
    for (const l of this.#latest.values()) if (l.listed) listedOf.set(l.key, l.listed);
    const wanted = new Map(want.flatMap((k) => listedOf.has(k) ? [[k, listedOf.get(k)!]] : []));
    // The cache is used only where the listing vouches for it (trunk/cache.ts).
    const { trusted: cached, doubtful } = vouchedEntries(this.cache, this.trunkId, wanted, true);
    const fetched = new Map<string, string>();
    // Taken from the snapshot, not read from their keys: cached as copies (trunk/cache.ts).
    const copies = new Set<string>();
    // Many to read (all refs of a fresh reader): the newest snapshot holds them in one GET.
    const uncached = want.filter((k) => !cached.has(k) && !doubtful.has(k));
    if (this.#snapshot !== null && uncached.length >= 16) {
      const snap = await loadSnapshot(
        this.store,
        this.trunk,
        this.#snapshot,
        snapshotMaxBytes(listedOf.values()),
      );
      for (const k of uncached) {
        const raw = snap?.entries.get(k);
        if (raw !== undefined && byteLength(raw) === listedOf.get(k)?.size) {
          cached.set(k, raw);
          fetched.set(k, raw);
          copies.add(k);
        }
      }
    }
    await mapLimit(want, this.store.capabilities.parallelism * 2, async (key) => {
      let raw = cached.get(key);
      if (raw === undefined) {
        const bytes = await readEntryBytes(this.store, key);
        if (!bytes) {
          throw new TrunkError(
            `ref entry ${key} was listed but cannot be read; retry, or run trunks check`,
            "corrupt",
          );
        }
        raw = new TextDecoder().decode(bytes);
        fetched.set(key, raw);
      }
      const e = parseEntry(raw, key, this.#layout);
      if (e.trunk !== undefined && e.trunk !== this.trunkId) {
        this.cache.putMeta(this.store.location, undefined);
        throw new TrunkError(
          `the trunk at ${this.store.location} was re-created since it was opened; open it again`,
          "format",
        );
      }
      this.#entries.set(key, e);
      this.#sizes.set(key, byteLength(raw));
      const l = listedOf.get(key);
      this.#stamps.set(key, l ? listedStamp(l) : null);
    });
    // The store holds another entry under a cached key (restored or replaced): the store is
    // the truth, so the trunk's cached entries go and what was just read is kept.
    settleOrForget(this.cache, this.trunkId, fetched, listedOf, doubtful, copies);
  }

  /** The ref's latest entry (a deleted ref's too), or null when it never existed. */
  async entry(ref: string): Promise<RefEntry | null> {
    const l = this.#latest.get(encodeRef(ref));
    if (!l) return null;
    await this.#fetch([l.key]);
    return this.#entries.get(l.key)!;
  }

  /** The ref's value when it is live (not deleted). */
  async live(ref: string): Promise<RefEntry | null> {
    const e = await this.entry(ref);
    return e && !isDeleted(e) ? e : null;
  }

  /** Latest entry of every ref (fetched in parallel; cached ones cost nothing). */
  async all(): Promise<Map<string, RefEntry>> {
    const keys = [...this.#latest.values()].map((l) => l.key);
    await this.#fetch(keys);
    const out = new Map<string, RefEntry>();
    for (const k of keys) {
      const e = this.#entries.get(k)!;
      out.set(e.ref, e);
    }
    return out;
  }

  /** Record an entry this client just wrote (so it needs no list to be seen). */
  wrote(entry: RefEntry): void {
    const key = this.#layout.entryKey(entry.ref, entry.seq);
    const size = byteLength(JSON.stringify(entry));
    this.#entries.set(key, entry);
    this.#sizes.set(key, size);
    this.#stamps.set(key, null);
    this.#latest.set(encodeRef(entry.ref), { key, seq: entry.seq, size });
  }
}
