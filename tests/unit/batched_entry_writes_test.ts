/**
 * A push's batched cache writes (BatchedEntryWrites) must vouch as the cache underneath
 * would: the stamp of an entry this push created goes with that entry's bytes only. A row
 * cached before the trunk was rolled back (same key, another text of the same size) must
 * not be read back as the store's word under the new create's stamp.
 */
import { assert, assertEquals } from "../assert.ts";
import type { ListEntry } from "../../src/storage/store.ts";
import {
  BatchedEntryWrites,
  checkedStamp,
  MemoryCache,
  vouchedEntries,
} from "../../src/trunk/cache.ts";
import { refEntryKey } from "../keys.ts";

const KEY = refEntryKey("refs/heads/main", 5);

Deno.test("batched entry writes: a waiting stamp never vouches for another cached text", () => {
  const inner = new MemoryCache();
  const older = `{"new":"${"1".repeat(40)}"}`;
  const created = `{"new":"${"2".repeat(40)}"}`;
  assertEquals(older.length, created.length);
  // Cached before the store was rolled back past seq 5, under the stamp it had then.
  inner.putEntries("t", new Map([[KEY, older]]), new Map([[KEY, checkedStamp("t:1000")]]));
  const batched = new BatchedEntryWrites(inner);
  // This push created seq 5 again, with other bytes: the store gave it stamp t:2000.
  batched.putEntries("t", new Map([[KEY, created]]), new Map([[KEY, checkedStamp("t:2000")]]));
  const listed = new Map<string, ListEntry>([
    [KEY, { key: KEY, size: created.length, modified: new Date(2000) }],
  ]);
  const v = vouchedEntries(batched, "t", listed);
  assert(!v.trusted.has(KEY), "the older row was vouched for by the new create's stamp");
  assertEquals(v.doubtful.get(KEY), older);
  // Once flushed, the cache underneath agrees (the stamp stays off the older row).
  batched.flush();
  assert(!vouchedEntries(inner, "t", listed).trusted.has(KEY));
  // With no older row, the waiting entry is vouched for and checked.
  const fresh = new BatchedEntryWrites(new MemoryCache());
  fresh.putEntries("t", new Map([[KEY, created]]), new Map([[KEY, checkedStamp("t:2000")]]));
  const w = vouchedEntries(fresh, "t", listed);
  assertEquals(w.trusted.get(KEY), created);
  assert(w.checked.has(KEY));
});
