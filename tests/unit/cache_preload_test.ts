/**
 * `LocalDb.preload`: an up-to-date fetch reads its trunk's cached rows while the listing is
 * out, so matching the listing afterwards runs no query while git waits. The listing still
 * decides which rows are used (DESIGN.md "The store is the truth"): a row whose key it does
 * not name is not used, and one whose stamp it contradicts is read again from the store.
 */
import { assertEquals, assertRejects } from "../assert.ts";
import { LocalDb } from "../../src/local/db.ts";
import { getBytes, type Store } from "../../src/storage/store.ts";
import { REFS_PREFIX } from "../../src/trunk/layout.ts";
import { layout, refEntryKey } from "../keys.ts";
import { parseAhead, readRefState, StaleCacheError } from "../../src/trunk/refs.ts";
import { Trunk } from "../../src/trunk/trunk.ts";
import { seal } from "../../src/trunk/seal.ts";
import { memoryTrunkWith, oid } from "../memory_trunk.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** `store`, counting its gets. */
function counted(store: Store): { store: Store; gets: () => number } {
  let gets = 0;
  const wrapped = new Proxy(store, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target);
      if (prop === "get") {
        return (...args: Parameters<Store["get"]>) => {
          gets++;
          return target.get(...args);
        };
      }
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return { store: wrapped, gets: () => gets };
}

async function withDb(fn: (db: LocalDb, path: string) => void | Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "trunks-preload-" });
  const db = new LocalDb(`${dir}/t.sqlite`);
  try {
    await fn(db, `${dir}/t.sqlite`);
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const rows = (n: number) =>
  new Map(Array.from({ length: n }, (_, i) => [`refs/r${i}/000000000001`, `{"i":${i}}`]));

Deno.test("cache preload: lookups answer as the database did, until this process writes rows", async () => {
  await withDb((db, path) => {
    const keys = [...rows(4).keys()];
    db.putEntries("t", rows(3), new Map([[keys[0], "c:e:x"]]));
    db.putEntries("u", rows(2));
    db.preload("t");
    assertEquals(db.getEntries("t", keys), rows(3));
    assertEquals(db.getStamps("t", keys), new Map([[keys[0], "c:e:x"]]));
    assertEquals(db.getEntries("u", keys).size, 2, "another trunk is looked up as before");

    // Read ahead: what another process drops meanwhile is still held...
    const other = new LocalDb(path);
    other.forgetEntries("t");
    other.close();
    assertEquals(db.getEntries("t", keys).size, 3);
    // ...until this process writes rows: then the database answers again.
    db.putEntries("t", new Map([[keys[3], `{"i":3}`]]));
    assertEquals([...db.getEntries("t", keys).keys()], [keys[3]]);

    db.preload("t");
    db.forgetEntries("t");
    assertEquals(db.getEntries("t", keys).size, 0, "a drop in this process is seen at once");
  });
});

Deno.test("cache preload: a fetch's state is matched from the preloaded rows, with no get", async () => {
  const { mem, id, meta } = await memoryTrunkWith(5, "preload");
  await withDb(async (db, path) => {
    await readRefState(mem, db, meta);
    const listing = await mem.list(REFS_PREFIX);
    db.preload(id);
    // Gone from the file after the preload: only the preload can still answer for them.
    const other = new LocalDb(path);
    other.forgetEntries(id);
    other.close();
    const { store, gets } = counted(mem);
    const state = await readRefState(store, db, meta, listing);
    assertEquals(gets(), 0, "an entry was read from the store");
    assertEquals(state.latest.size, 5);
  });
});

Deno.test("cache preload: the listing still decides which preloaded rows are used", async () => {
  const { mem, id, meta } = await memoryTrunkWith(3, "preload");
  await withDb(async (db) => {
    await readRefState(mem, db, meta);
    // An entry the store no longer holds: its preloaded row gives no ref.
    await mem.delete(refEntryKey("refs/heads/b0", 1));
    // An entry rewritten in the store (same size, sealed, another stamp): read again, and
    // the contradiction drops the cache (the caller reads the trunk again).
    const key = refEntryKey("refs/heads/b1", 1);
    const { sum: _, ...entry } = JSON.parse(dec.decode((await getBytes(mem, key))!));
    await new Promise((r) => setTimeout(r, 5));
    await mem.put(key, enc.encode(JSON.stringify(seal({ ...entry, new: oid(7) }))));
    db.preload(id);
    const { store, gets } = counted(mem);
    await assertRejects(
      () => readRefState(store, db, meta, undefined),
      StaleCacheError,
    );
    assertEquals(gets(), 1, "only the contradicted entry is read again");
    db.preload(id);
    const listing = (await mem.list(REFS_PREFIX)).filter((e) => !e.key.includes("b1"));
    const state = await readRefState(mem, db, meta, listing);
    assertEquals([...state.latest.keys()], ["refs/heads/b2"]);
  });
});

/** The same entry with its oid's first digit changed: valid JSON of the same size, unsealed. */
function forge(text: string): string {
  const e = JSON.parse(text);
  const forged = { ...e, new: e.new.replace(/^./, (c: string) => c === "a" ? "b" : "a") };
  return JSON.stringify(forged);
}

Deno.test("cache preload: an entry parsed ahead never skips a check the read makes", async () => {
  const { mem, meta } = await memoryTrunkWith(2, "preload");
  const key = refEntryKey("refs/heads/b1", 1);
  const good = dec.decode((await getBytes(mem, key))!);
  await withDb(async (db) => {
    await readRefState(mem, db, meta);
    // Parsed ahead as if checked, but the row is not recorded as checked: the read hashes
    // its seal, and refuses it.
    const bad = forge(good);
    await mem.put(key, enc.encode(bad));
    const listing = await mem.list(REFS_PREFIX);
    parseAhead([[key, bad]], layout);
    await assertRejects(
      () => readRefState(mem, db, meta, listing),
      Error,
      "does not match its seal",
    );
  });
  await mem.put(key, enc.encode(good));
  await withDb(async (db) => {
    const first = await readRefState(mem, db, meta);
    // A row parsed ahead from another text than the one the read takes is not used.
    const other = seal({ ...JSON.parse(good), sum: undefined, new: oid(9) });
    parseAhead([[key, JSON.stringify(other)]], layout);
    const state = await readRefState(mem, db, meta);
    assertEquals(state.latest.get("refs/heads/b1")!.new, first.latest.get("refs/heads/b1")!.new);
  });
});

Deno.test("cache preload: a trunk's read ahead parses its checked rows, used by the next read", async () => {
  const { mem, meta } = await memoryTrunkWith(4, "preload");
  await withDb(async (db) => {
    const trunk = await Trunk.open(mem, db, "reader@test");
    const first = await trunk.refState();
    trunk.readAhead();
    const { store, gets } = counted(mem);
    const again = await readRefState(store, db, meta);
    assertEquals(gets(), 0);
    assertEquals(
      [...again.latest].map(([r, e]) => [r, e.new]),
      [...first.latest].map(([r, e]) => [r, e.new]),
    );
  });
});
