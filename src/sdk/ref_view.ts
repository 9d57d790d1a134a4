/**
 * The trunk's refs as the library sees them: one `list` of `refs/`, then only the
 * entries a call needs (reading one file at HEAD fetches two entries, not one per ref).
 * Entries are immutable, so each is fetched once and cached forever.
 */
import { getBytes, type Store } from "../storage/store.ts";
import type { TrunkCache } from "../trunk/cache.ts";
import { TrunkError } from "../trunk/errors.ts";
import { parseRefEntryKey, parseSnapshotKey, refEntryKey, REFS_PREFIX } from "../trunk/layout.ts";
import { mapLimit } from "../trunk/pool.ts";
import { isDeleted, parseEntry, type RefEntry } from "../trunk/refs.ts";
import { encodeRef } from "../trunk/refcodec.ts";
import { loadSnapshot } from "../trunk/snapshots.ts";

interface Latest {
  key: string;
  seq: number;
  size: number;
}

export class RefView {
  /** Latest key per encoded ref name, from the last list. */
  #latest = new Map<string, Latest>();
  #entries = new Map<string, RefEntry>();
  /** Stored size of each entry held, as read or written. */
  #sizes = new Map<string, number>();
  #listed = false;
  /** Newest snapshot seq from the last list (null: none). */
  #snapshot: number | null = null;

  constructor(
    readonly store: Store,
    readonly cache: TrunkCache,
    readonly trunkId: string,
  ) {}

  get listed(): boolean {
    return this.#listed;
  }

  /** One list of `refs/`: what moved since is seen, nothing is fetched yet. */
  async refresh(): Promise<void> {
    const latest = new Map<string, Latest>();
    let snapshot: number | null = null;
    for (const { key, size } of await this.store.list(REFS_PREFIX)) {
      const k = parseRefEntryKey(key);
      if (!k) {
        const s = parseSnapshotKey(key);
        if (s !== null && (snapshot === null || s > snapshot)) snapshot = s;
        continue;
      }
      const cur = latest.get(k.enc);
      if (!cur || k.seq > cur.seq) latest.set(k.enc, { key, seq: k.seq, size });
    }
    // An entry held in memory whose stored size changed is read again when needed.
    for (const l of latest.values()) {
      const size = this.#sizes.get(l.key);
      if (size !== undefined && size !== l.size) this.#entries.delete(l.key);
    }
    this.#latest = latest;
    this.#snapshot = snapshot;
    this.#listed = true;
  }

  async #fetch(keys: string[]): Promise<void> {
    const want = keys.filter((k) => !this.#entries.has(k));
    if (want.length === 0) return;
    const sizes = new Map([...this.#latest.values()].map((l) => [l.key, l.size]));
    const cached = this.cache.getEntries(this.trunkId, want);
    const fetched = new Map<string, string>();
    // Many to read (all refs of a fresh reader): the newest snapshot holds them in one GET.
    const uncached = want.filter((k) => !cached.has(k));
    if (this.#snapshot !== null && uncached.length >= 16) {
      const snap = await loadSnapshot(this.store, this.trunkId, this.#snapshot);
      for (const k of uncached) {
        const raw = snap?.entries.get(k);
        if (raw !== undefined && new TextEncoder().encode(raw).byteLength === sizes.get(k)) {
          cached.set(k, raw);
          fetched.set(k, raw);
        }
      }
    }
    await mapLimit(want, this.store.capabilities.parallelism * 2, async (key) => {
      let raw = cached.get(key);
      if (raw !== undefined && new TextEncoder().encode(raw).byteLength !== sizes.get(key)) {
        // The store holds another entry under this key (restored or replaced): the store
        // is the truth, so the trunk's cached entries go and this one is read again.
        this.cache.forgetEntries(this.trunkId);
        raw = undefined;
      }
      if (raw === undefined) {
        const bytes = await getBytes(this.store, key);
        if (!bytes) {
          throw new TrunkError(
            `ref entry ${key} was listed but cannot be read; retry, or run trunks check`,
            "corrupt",
          );
        }
        raw = new TextDecoder().decode(bytes);
        fetched.set(key, raw);
      }
      const e = parseEntry(raw, key);
      if (e.trunk !== undefined && e.trunk !== this.trunkId) {
        this.cache.putMeta(this.store.location, undefined);
        throw new TrunkError(
          `the trunk at ${this.store.location} was re-created since it was opened; open it again`,
          "format",
        );
      }
      this.#entries.set(key, e);
      this.#sizes.set(key, new TextEncoder().encode(raw).byteLength);
    });
    if (fetched.size) this.cache.putEntries(this.trunkId, fetched);
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
    const key = refEntryKey(entry.ref, entry.seq);
    const size = new TextEncoder().encode(JSON.stringify(entry)).byteLength;
    this.#entries.set(key, entry);
    this.#sizes.set(key, size);
    this.#latest.set(encodeRef(entry.ref), { key, seq: entry.seq, size });
  }
}
