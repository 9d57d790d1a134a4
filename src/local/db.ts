/**
 * The local state database (`.trunks/<repo>.trunk`, or `$GIT_DIR/trunks.sqlite` for a
 * repository that never ran `trunks init`): named storages, inline credentials, and
 * caches of immutable trunk data. node:sqlite is built into Deno: no native addon.
 */
import { DatabaseSync } from "node:sqlite";
import type { CachedRow, TrunkCache } from "../trunk/cache.ts";

const SCHEMA_VERSION = 1;
/** Every table `#migrate` creates: a file with all of them (and the stamp column) is current. */
export const TABLES = [
  "meta",
  "ref_entries",
  "ingested",
  "storages",
  "trunk_meta",
  "approved_storages",
];
/**
 * Rows of one ref-entry insert: a clone caches 20,000 entries, and one statement per row
 * took 3-4x the time (0.3 s against 0.08 s at 16 or 64 rows, with the same transaction).
 */
const ENTRY_ROWS = 64;
/** From this many keys on, a lookup reads all of the trunk's cached rows in one query. */
const BULK_LOOKUP = 256;
/**
 * Up to this many cached rows of a trunk (a few MB of text), `preload` reads them while a
 * listing is out; more (a cache that kept every entry of a long log) are looked up by key
 * after the listing, as without a preload.
 */
const PRELOAD_MAX = 8192;
/**
 * From this many entries on, caching them waits for the event loop's next turn, or for
 * `holdWrites`' release: a clone of 20,000 refs answers git's `list` first and writes the
 * cache (~0.2 s) once its fetch has answered too. Unwritten when the process is killed:
 * the cache is then only smaller.
 */
const DEFER_PUT = 1024;

export class LocalDb implements TrunkCache {
  readonly db: DatabaseSync;

  constructor(readonly path: string) {
    this.db = new DatabaseSync(path);
    // Several git commands (a push and a fetch) may use the same file at once.
    // busy_timeout first: switching to WAL needs a lock another process may hold.
    // A new file gets 16 KiB pages (before WAL, which fixes the size; an existing file keeps
    // its own): a row is a ref entry of ~0.5 KB, and a clone of 20,000 refs writes them all
    // at once with a quarter less CPU than on 4 KiB pages, and an up-to-date fetch reads
    // them back no slower.
    this.db.exec(
      "PRAGMA busy_timeout=10000; PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    );
    this.#migrate();
  }

  /**
   * Whether the file already has every table and column this version uses, read without
   * a write: then opening it (every fetch and push) takes no write lock and writes nothing.
   */
  #current(): boolean {
    const tables = new Set(
      (this.db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as {
        name: string;
      }[]).map((t) => t.name),
    );
    if (!TABLES.every((t) => tables.has(t))) return false;
    const row = this.db.prepare(`SELECT value FROM meta WHERE key = 'schema'`).get() as
      | { value: string }
      | undefined;
    if (Number(row?.value) !== SCHEMA_VERSION) return false;
    const cols = this.db.prepare(`PRAGMA table_info(ref_entries)`).all() as { name: string }[];
    return cols.some((c) => c.name === "stamp");
  }

  #migrate(): void {
    if (this.#current()) return;
    this.db.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    const row = this.db.prepare(`SELECT value FROM meta WHERE key = 'schema'`).get() as
      | { value: string }
      | undefined;
    const version = row ? Number(row.value) : 0;
    if (version > SCHEMA_VERSION) {
      throw new Error(
        `${this.path} was written by a newer trunks (schema ${version}); upgrade trunks`,
      );
    }
    // Every statement is idempotent, so older files simply gain what they lack.
    {
      this.db.exec(`
        BEGIN IMMEDIATE;
        CREATE TABLE IF NOT EXISTS ref_entries (trunk TEXT NOT NULL, key TEXT NOT NULL, json TEXT NOT NULL,
          PRIMARY KEY (trunk, key)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS ingested (trunk TEXT NOT NULL, segment TEXT NOT NULL,
          at TEXT NOT NULL, PRIMARY KEY (trunk, segment)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS storages (name TEXT PRIMARY KEY, role TEXT NOT NULL, url TEXT NOT NULL,
          backend TEXT NOT NULL, settings TEXT NOT NULL DEFAULT '{}', secrets TEXT NOT NULL DEFAULT '{}',
          added TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS trunk_meta (location TEXT PRIMARY KEY, json TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS approved_storages (name TEXT PRIMARY KEY, entry TEXT NOT NULL,
          approved TEXT NOT NULL);
        INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', '1');
        COMMIT;`);
    }
    // The listed stamp (trunk/cache.ts listedStamp) a cached entry was read under. Older
    // files lack the column; their rows are simply read again once.
    const cols = this.db.prepare(`PRAGMA table_info(ref_entries)`).all() as { name: string }[];
    if (!cols.some((c) => c.name === "stamp")) {
      try {
        this.db.exec(`ALTER TABLE ref_entries ADD COLUMN stamp TEXT`);
      } catch (e) {
        // Another process added it between the check and here.
        if (!/duplicate column/i.test(String(e))) throw e;
      }
    }
  }

  /** A value of the database's own key-value table (`repo`: the trunk name chosen by init). */
  getValue(key: string): string | undefined {
    const row = this.db.prepare(`SELECT value FROM meta WHERE key = ?`).get(key) as
      | { value: string }
      | undefined;
    return row?.value;
  }

  setValue(key: string, value: string): void {
    this.db.prepare(`INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)`).run(key, value);
  }

  getMeta(location: string): string | undefined {
    const row = this.db.prepare(`SELECT json FROM trunk_meta WHERE location = ?`).get(location) as
      | { json: string }
      | undefined;
    return row?.json;
  }

  putMeta(location: string, json: string | undefined): void {
    if (json === undefined) {
      this.db.prepare(`DELETE FROM trunk_meta WHERE location = ?`).run(location);
    } else {
      this.db.prepare(`INSERT OR REPLACE INTO trunk_meta (location, json) VALUES (?, ?)`).run(
        location,
        json,
      );
    }
  }

  getEntries(trunkId: string, keys: string[]): Map<string, string> {
    return this.#lookup(trunkId, keys, "json");
  }

  /** A trunk's rows as `preload` read them; dropped by this process's next write of rows. */
  #preloaded: { trunkId: string; rows: Map<string, CachedRow> } | undefined;

  /**
   * Read the trunk's cached rows now, in one query, for the lookups that follow: an
   * up-to-date fetch reads them while its listing is out (50 ms and more, with nothing
   * else to do), not after it, while git waits. What a lookup then answers is what it
   * would have read a moment later, less what another process wrote meanwhile: a row
   * added is missed (the entry is read from the store), a stamp recorded since is not
   * seen (the entry is read again), a row dropped is still held. None of that lets a row
   * outrank the store: a row is used only where the listing vouches for it (trunk/cache.ts
   * `vouchedEntries`), and a row's text never changes under its key (only its stamp does,
   * and only on the same text: `#putNow`), so the text read is the one a later read gives.
   */
  preload(trunkId: string): Map<string, CachedRow> | undefined {
    this.#flush();
    this.#preloaded = undefined;
    if (this.#rowCount(trunkId) > PRELOAD_MAX) return undefined;
    const rows = this.db.prepare(`SELECT key, json, stamp FROM ref_entries WHERE trunk = ?`)
      .all(trunkId) as { key: string; json: string; stamp: string | null }[];
    this.#preloaded = {
      trunkId,
      rows: new Map(rows.map((r) => [r.key, { json: r.json, stamp: r.stamp }])),
    };
    return this.#preloaded.rows;
  }

  #pending: { trunkId: string; entries: Map<string, string>; stamps?: Map<string, string> }[] = [];
  /** Ingested marks put off while writes are held (`markIngested`). */
  #pendingMarks: { trunkId: string; segmentIds: string[] }[] = [];

  putEntries(trunkId: string, entries: Map<string, string>, stamps?: Map<string, string>): void {
    if (entries.size < DEFER_PUT) {
      this.#flush();
      this.#putNow(trunkId, entries, stamps);
      return;
    }
    if (this.#pending.push({ trunkId, entries, stamps }) > 1 || this.#held) return;
    // setTimeout, not node:timers' setImmediate: that import alone costs every start ~5 ms.
    setTimeout(() => {
      if (!this.#held) this.#flushNoThrow();
    }, 0);
  }

  #held = 0;

  holdWrites(): () => void {
    this.#held++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.#held > 0) return;
      this.#flushNoThrow();
      this.#checkpointNoThrow();
    };
  }

  /**
   * Copy the write-ahead log into the database file now, not when the last connection
   * closes: that copy costs two fsyncs, and a fetching helper closes only once git has
   * written the refs, while git waits for it to exit before a clone's checkout. Released,
   * the fetch's writes are done and git is busy with its refs meanwhile; the close then
   * finds nothing left to copy.
   */
  #checkpointNoThrow(): void {
    try {
      this.db.exec("PRAGMA wal_checkpoint(PASSIVE)");
    } catch {
      // Another connection's write lock, or a full disk: the close checkpoints as always.
    }
  }

  #flushNoThrow(): void {
    try {
      this.#flush();
    } catch (e) {
      // Nothing waits on it here: the entries stay in the store, read again next time (a
      // segment not marked ingested is fetched again).
      console.error(`trunks: could not write the cache (${(e as Error).message})`);
    }
  }

  /**
   * Cache writes put off by `putEntries` and `markIngested`, made before anything reads or
   * drops entries or marks.
   */
  #flush(): void {
    while (this.#pending.length) {
      const p = this.#pending.shift()!;
      this.#putNow(p.trunkId, p.entries, p.stamps);
    }
    while (this.#pendingMarks.length) {
      const m = this.#pendingMarks.shift()!;
      this.#markNow(m.trunkId, m.segmentIds);
    }
  }

  #putNow(trunkId: string, entries: Map<string, string>, stamps?: Map<string, string>): void {
    this.#preloaded = undefined;
    // A stamp is recorded only on a row holding the same bytes: never on a stale copy. Each
    // row of a statement meets ON CONFLICT on its own, as in a statement of its own.
    const insert = (n: number) =>
      this.db.prepare(
        `INSERT INTO ref_entries (trunk, key, json, stamp) VALUES ${
          Array(n).fill("(?, ?, ?, ?)").join(", ")
        }
         ON CONFLICT (trunk, key) DO UPDATE SET stamp = excluded.stamp
         WHERE excluded.stamp IS NOT NULL AND ref_entries.json = excluded.json`,
      );
    const full = entries.size >= ENTRY_ROWS ? insert(ENTRY_ROWS) : null;
    this.#tx(() => {
      let args: (string | null)[] = [];
      for (const [k, v] of entries) {
        args.push(trunkId, k, v, stamps?.get(k) ?? null);
        if (args.length === 4 * ENTRY_ROWS) {
          full!.run(...args);
          args = [];
        }
      }
      if (args.length) insert(args.length / 4).run(...args);
    });
  }

  getStamps(trunkId: string, keys: string[]): Map<string, string> {
    return this.#lookup(trunkId, keys, "stamp");
  }

  /**
   * One column of the rows of `keys`. Many keys (a clone or a push of thousands of refs)
   * are read in one pass over the trunk's rows rather than one query per key, which cost
   * a quarter of a second per 20,000 keys even when the cache was empty.
   */
  #lookup(trunkId: string, keys: string[], col: "json" | "stamp"): Map<string, string> {
    this.#flush();
    const out = new Map<string, string>();
    if (keys.length === 0) return out;
    const present = (v: string | null): v is string => v !== null && (col === "json" || v !== "");
    const preloaded = this.#preloaded?.trunkId === trunkId ? this.#preloaded.rows : undefined;
    if (preloaded) {
      for (const k of keys) {
        const row = preloaded.get(k);
        const v = row && (col === "json" ? row.json : row.stamp);
        if (v !== undefined && present(v)) out.set(k, v);
      }
      return out;
    }
    if (keys.length >= BULK_LOOKUP && this.#rowCount(trunkId) <= 2 * keys.length) {
      const wanted = new Set(keys);
      const rows = this.db.prepare(`SELECT key, ${col} AS v FROM ref_entries WHERE trunk = ?`)
        .all(trunkId) as { key: string; v: string | null }[];
      for (const r of rows) if (present(r.v) && wanted.has(r.key)) out.set(r.key, r.v);
      return out;
    }
    const stmt = this.db.prepare(`SELECT ${col} AS v FROM ref_entries WHERE trunk = ? AND key = ?`);
    for (const k of keys) {
      const row = stmt.get(trunkId, k) as { v: string | null } | undefined;
      if (row && present(row.v)) out.set(k, row.v);
    }
    return out;
  }

  /** Cached rows of a trunk (a long log keeps many no listing names any more). */
  #rowCount(trunkId: string): number {
    const row = this.db.prepare(`SELECT count(*) AS n FROM ref_entries WHERE trunk = ?`)
      .get(trunkId) as { n: number };
    return Number(row.n);
  }

  forgetEntries(trunkId: string): void {
    this.#flush();
    this.#preloaded = undefined;
    this.db.prepare(`DELETE FROM ref_entries WHERE trunk = ?`).run(trunkId);
  }

  ingested(trunkId: string): Set<string> {
    this.#flush();
    const rows = this.db.prepare(`SELECT segment FROM ingested WHERE trunk = ?`).all(trunkId) as {
      segment: string;
    }[];
    return new Set(rows.map((r) => r.segment));
  }

  /**
   * While a fetch holds writes (`holdWrites`), the marks wait for its release, after git
   * has its answer: a clone after a burst of pushes marks thousands of segments, and a
   * mark is a hint (one lost to a kill costs a download, never an object: fetch.ts
   * `refetchDistrusted`). Reads of the marks in this process write them first.
   */
  markIngested(trunkId: string, segmentIds: string[]): void {
    if (this.#held) {
      this.#pendingMarks.push({ trunkId, segmentIds: [...segmentIds] });
      return;
    }
    this.#markNow(trunkId, segmentIds);
  }

  #markNow(trunkId: string, segmentIds: string[]): void {
    if (segmentIds.length === 0) return;
    // All rows in one statement, the ids handed over as one JSON array: a clone after a
    // burst of pushes marks thousands, and rows bound 256 to a statement cost ~1 ms more
    // per 2,000 (each id bound, and its arguments built, by code still cold).
    const now = new Date().toISOString();
    this.#tx(() =>
      this.db.prepare(
        `INSERT OR IGNORE INTO ingested (trunk, segment, at) SELECT ?, value, ? FROM json_each(?)`,
      ).run(trunkId, now, JSON.stringify(segmentIds))
    );
  }

  forgetIngested(trunkId: string, segmentIds: string[]): void {
    this.#flush();
    const stmt = this.db.prepare(`DELETE FROM ingested WHERE trunk = ? AND segment = ?`);
    this.#tx(() => {
      for (const id of segmentIds) stmt.run(trunkId, id);
    });
  }

  #tx(fn: () => void): void {
    this.db.exec("BEGIN IMMEDIATE");
    try {
      fn();
      this.db.exec("COMMIT");
    } catch (e) {
      this.db.exec("ROLLBACK");
      throw e;
    }
  }

  close(): void {
    this.#flush();
    this.db.close();
  }
}
