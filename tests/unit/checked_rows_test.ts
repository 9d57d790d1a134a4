/**
 * An up-to-date fetch parses the cached ref entries without hashing them again only when
 * the row was recorded as checked (trunk/cache.ts `checkedStamp`): its text passed every
 * check of `parseEntry`, seal included, when read from the store under the stamp listed
 * now. A row another reader cached unchecked is still checked in full, and a damaged row
 * the listing does not vouch for is read again from the store.
 */
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { LocalDb } from "../../src/local/db.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { getBytes } from "../../src/storage/store.ts";
import { refEntryKey } from "../keys.ts";
import { ensureMeta } from "../../src/trunk/meta.ts";
import { readRefLog, readRefState } from "../../src/trunk/refs.ts";
import { Trunk } from "../../src/trunk/trunk.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { memoryTrunkWith, oid } from "../memory_trunk.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

async function withDb(fn: (db: LocalDb) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "trunks-checked-" });
  const db = new LocalDb(`${dir}/t.sqlite`);
  try {
    await fn(db);
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** The same entry with its oid's first digit changed: valid JSON of the same size. */
function forge(text: string): string {
  const e = JSON.parse(text);
  const forged = { ...e, new: e.new.replace(/^./, (c: string) => c === "a" ? "b" : "a") };
  const out = JSON.stringify(forged);
  assertEquals(out.length, text.length);
  return out;
}

const KEY = refEntryKey("refs/heads/b1", 1);

Deno.test("checked rows: a read records its rows as checked, and reads them again alike", async () => {
  const { mem, meta, id } = await memoryTrunkWith(3, "checked");
  await withDb(async (db) => {
    const first = await readRefState(mem, db, meta);
    const keys = [0, 1, 2].map((r) => refEntryKey(`refs/heads/b${r}`, 1));
    const stamps = db.getStamps(id, keys);
    assertEquals([...stamps.values()].filter((s) => s.startsWith("c:")).length, 3);
    const again = await readRefState(mem, db, meta);
    assertEquals([...again.latest], [...first.latest]);
  });
});

Deno.test("checked rows: an entry a log read cached unchecked is still refused for its seal", async () => {
  const { mem, meta, id } = await memoryTrunkWith(3, "checked");
  const good = dec.decode((await getBytes(mem, KEY))!);
  await mem.put(KEY, enc.encode(forge(good)));
  await withDb(async (db) => {
    // The log read caches what it fetched before it parses (and refuses) the entry.
    await assertRejects(() => readRefLog(mem, db, meta), Error, "does not match its seal");
    assert(db.getEntries(id, [KEY]).has(KEY), "the log read cached the forged entry");
    assert(!db.getStamps(id, [KEY]).get(KEY)?.startsWith("c:"), "recorded unchecked");
    await assertRejects(() => readRefState(mem, db, meta), Error, "does not match its seal");
  });
});

Deno.test("checked rows: a damaged checked row the listing does not vouch for is read again", async () => {
  const { mem, meta, id } = await memoryTrunkWith(3, "checked");
  await withDb(async (db) => {
    const reader = new Trunk(mem, meta, db, "reader@test");
    const truth = await reader.refState();
    const row = db.getEntries(id, [KEY]).get(KEY)!;
    // Another size than the stored object: the listing no longer vouches for the row.
    db.db.prepare(`UPDATE ref_entries SET json = ? WHERE trunk = ? AND key = ?`)
      .run(forge(row) + " ", id, KEY);
    // The store contradicts the row: the cache of the trunk is dropped and read again.
    const state = await reader.refState();
    assertEquals(state.latest.get("refs/heads/b1")!.new, truth.latest.get("refs/heads/b1")!.new);
    assertEquals(db.getEntries(id, [KEY]).get(KEY), row);
  });
});

Deno.test("checked rows: an entry this process created is cached as checked, and parses as sealed", async () => {
  await withDb(async (db) => {
    const mem = new MemoryStore("memory://created");
    const meta = await ensureMeta(mem, "sha1");
    const writer = new Trunk(mem, meta, db, "writer@test");
    const res = await writer.updateRef({
      ref: "refs/heads/b1",
      new: oid(2),
      base: null,
      segments: [],
    });
    assert(res.ok);
    assert(db.getStamps(meta.id, [KEY]).get(KEY)?.startsWith("c:"), "recorded checked");
    // What is cached is what is stored, and it passes the full seal check too.
    const stored = dec.decode((await getBytes(mem, KEY))!);
    assertEquals(db.getEntries(meta.id, [KEY]).get(KEY), stored);
    assertEquals(
      (await readRefState(mem, new MemoryCache(), meta)).latest.get("refs/heads/b1")!.new,
      oid(2),
    );
    assertEquals((await readRefState(mem, db, meta)).latest.get("refs/heads/b1")!.new, oid(2));
  });
});
