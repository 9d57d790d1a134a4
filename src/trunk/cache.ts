/**
 * What a client remembers about a trunk: ref entries (immutable, so cached forever)
 * and which segments its local repository has ingested. Implementations: SQLite
 * (src/local) and memory.
 */
export interface TrunkCache {
  /** trunk.json as last read from a location (it never changes for a given trunk). */
  getMeta(location: string): string | undefined;
  putMeta(location: string, json: string | undefined): void;
  getEntries(trunkId: string, keys: string[]): Map<string, string>;
  putEntries(trunkId: string, entries: Map<string, string>): void;
  /** Drop every cached ref entry of a trunk: the store contradicted the cache. */
  forgetEntries(trunkId: string): void;
  ingested(trunkId: string): Set<string>;
  markIngested(trunkId: string, segmentIds: string[]): void;
  forgetIngested(trunkId: string, segmentIds: string[]): void;
}

export class MemoryCache implements TrunkCache {
  #entries = new Map<string, string>();
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

  putEntries(trunkId: string, entries: Map<string, string>): void {
    for (const [k, v] of entries) this.#entries.set(`${trunkId}\0${k}`, v);
  }

  forgetEntries(trunkId: string): void {
    for (const k of [...this.#entries.keys()]) {
      if (k.startsWith(`${trunkId}\0`)) this.#entries.delete(k);
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
 * A cache whose entry writes wait for `flush()` and then go in one batch: a push of
 * thousands of refs creates an entry per ref, and one write (a SQLite transaction) each
 * costs seconds. Reads see the waiting entries. Nothing is lost if `flush` never runs:
 * the entries are in the store, and the cache only saves re-reading them.
 */
export class BatchedEntryWrites implements TrunkCache {
  #pending = new Map<string, Map<string, string>>();

  constructor(readonly inner: TrunkCache) {}

  getMeta(location: string): string | undefined {
    return this.inner.getMeta(location);
  }

  putMeta(location: string, json: string | undefined): void {
    this.inner.putMeta(location, json);
  }

  getEntries(trunkId: string, keys: string[]): Map<string, string> {
    const out = this.inner.getEntries(trunkId, keys);
    const pending = this.#pending.get(trunkId);
    for (const k of pending ? keys : []) {
      const v = pending!.get(k);
      if (v !== undefined) out.set(k, v);
    }
    return out;
  }

  putEntries(trunkId: string, entries: Map<string, string>): void {
    let pending = this.#pending.get(trunkId);
    if (!pending) this.#pending.set(trunkId, pending = new Map());
    for (const [k, v] of entries) pending.set(k, v);
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

  /** Write every waiting entry to the cache underneath, in one call per trunk. */
  flush(): void {
    for (const [trunkId, entries] of this.#pending) this.inner.putEntries(trunkId, entries);
    this.#pending.clear();
  }
}
