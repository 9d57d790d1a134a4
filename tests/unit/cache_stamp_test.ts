/**
 * A cached ref entry is used only while the listing vouches for it (trunk/cache.ts): same
 * size and same stamp. A backend that lists no modified time or tag vouches for nothing.
 */
import { assertEquals } from "../assert.ts";
import { listedStamp, MemoryCache, settleEntries, vouchedEntries } from "../../src/trunk/cache.ts";
import type { ListEntry } from "../../src/storage/store.ts";
import { LocalDb } from "../../src/local/db.ts";
import { refEntryKey } from "../keys.ts";

const key = "refs/x/000000000001";
const entry = (modified: Date, etag?: string): Map<string, ListEntry> =>
  new Map([[key, { key, size: 2, modified, ...(etag ? { etag } : {}) }]]);

Deno.test("cache stamp: same key and size but another modified time is re-read", () => {
  const cache = new MemoryCache();
  const first = entry(new Date(1000));
  settleEntries(cache, "t", new Map([[key, "ab"]]), first, new Map());
  assertEquals(vouchedEntries(cache, "t", first).trusted.get(key), "ab");
  const restored = entry(new Date(2000));
  const v = vouchedEntries(cache, "t", restored);
  assertEquals([v.trusted.size, v.doubtful.get(key)], [0, "ab"]);
  // Read again: other bytes are a contradiction; the same bytes take the new stamp.
  assertEquals([...settleEntries(cache, "t", new Map([[key, "cd"]]), restored, v.doubtful)], [
    key,
  ]);
  assertEquals(settleEntries(cache, "t", new Map([[key, "ab"]]), restored, v.doubtful).size, 0);
  assertEquals(vouchedEntries(cache, "t", restored).trusted.get(key), "ab");
});

Deno.test("cache stamp: a version tag wins over the modified time", () => {
  const cache = new MemoryCache();
  const listed = entry(new Date(1000), '"v1"');
  settleEntries(cache, "t", new Map([[key, "ab"]]), listed, new Map());
  assertEquals(vouchedEntries(cache, "t", entry(new Date(1000), '"v2"')).trusted.size, 0);
  assertEquals(vouchedEntries(cache, "t", entry(new Date(5000), '"v1"')).trusted.size, 1);
});

Deno.test("cache stamp: no modified time and no tag: never vouched for, always re-read", () => {
  const cache = new MemoryCache();
  const listed = entry(new Date(0));
  assertEquals(listedStamp(listed.get(key)!), null);
  settleEntries(cache, "t", new Map([[key, "ab"]]), listed, new Map());
  assertEquals(vouchedEntries(cache, "t", listed).doubtful.get(key), "ab");
});

Deno.test("cache stamp: an entry this client wrote (no stamp yet) is re-read once", () => {
  const cache = new MemoryCache();
  cache.putEntries("t", new Map([[key, "ab"]]));
  const listed = entry(new Date(1000));
  const v = vouchedEntries(cache, "t", listed);
  assertEquals(v.doubtful.size, 1);
  settleEntries(cache, "t", new Map([[key, "ab"]]), listed, v.doubtful);
  assertEquals(vouchedEntries(cache, "t", listed).trusted.size, 1);
});

Deno.test("cache stamp: the SQLite cache records a stamp only on the same bytes", async () => {
  const dir = await Deno.makeTempDir();
  const db = new LocalDb(`${dir}/t.sqlite`);
  try {
    db.putEntries("t", new Map([[key, "ab"]]));
    assertEquals(db.getStamps("t", [key]).size, 0);
    db.putEntries("t", new Map([[key, "cd"]]), new Map([[key, "t:1"]]));
    assertEquals([db.getStamps("t", [key]).size, db.getEntries("t", [key]).get(key)], [0, "ab"]);
    db.putEntries("t", new Map([[key, "ab"]]), new Map([[key, "t:2"]]));
    assertEquals(db.getStamps("t", [key]).get(key), "t:2");
    db.forgetEntries("t");
    assertEquals(db.getStamps("t", [key]).size, 0);
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cache: many keys are looked up in one pass, with what one query per key gives", async () => {
  const dir = await Deno.makeTempDir();
  const db = new LocalDb(`${dir}/t.sqlite`);
  try {
    const k = (i: number) => refEntryKey(`refs/heads/b${i}`, 1);
    const entries = new Map<string, string>();
    const stamps = new Map<string, string>();
    for (let i = 0; i < 600; i++) {
      if (i % 3 === 0) continue; // not cached
      entries.set(k(i), `{"n":${i}}`);
      if (i % 2 === 0) stamps.set(k(i), `t:${i}`);
    }
    db.putEntries("t", entries, stamps);
    db.putEntries("other", new Map([[k(0), "other trunk"], [k(3), "other trunk"]]));
    const keys = Array.from({ length: 600 }, (_, i) => k(i));
    const one = (f: (ks: string[]) => Map<string, string>) =>
      new Map(keys.flatMap((key) => [...f([key])]));
    // 600 keys: the bulk pass; one key at a time: the query per key.
    const bulkEntries = db.getEntries("t", keys);
    assertEquals(bulkEntries, one((ks) => db.getEntries("t", ks)));
    assertEquals(bulkEntries, entries);
    const bulkStamps = db.getStamps("t", keys);
    assertEquals(bulkStamps, one((ks) => db.getStamps("t", ks)));
    assertEquals(bulkStamps, stamps);
    assertEquals(db.getEntries("other", keys).size, 2);
    // A trunk holding far more rows than asked for is read key by key: same answer.
    const more = new Map(Array.from({ length: 2000 }, (_, i) => [`refs/x/${i}`, "old"]));
    db.putEntries("t", more);
    assertEquals(db.getEntries("t", keys), entries);
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});
