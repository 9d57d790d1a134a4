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
