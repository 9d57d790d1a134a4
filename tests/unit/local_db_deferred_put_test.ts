/**
 * A large batch of ref entries (a clone's 20,000) is cached on the event loop's next turn,
 * after the helper has answered git's `list`; anything that reads or drops entries, and
 * closing, writes it first, so the process itself never sees the cache without it.
 */
import { assertEquals } from "../assert.ts";
import { DatabaseSync } from "node:sqlite";
import { LocalDb } from "../../src/local/db.ts";

// The write is put off with setTimeout(0); a timer set after it runs after it.
const turn = () => new Promise<void>((r) => setTimeout(r, 0));

function batch(n: number): Map<string, string> {
  return new Map(Array.from({ length: n }, (_, i) => [`refs/r${i}/000000000001`, `{"i":${i}}`]));
}

Deno.test("a large cache write waits for the next turn; reads, drops and close write it first", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const entries = batch(3000);
    const keys = [...entries.keys()];
    const path = `${dir}/a.sqlite`;
    const db = new LocalDb(path);
    const other = new LocalDb(path);
    db.putEntries("t", entries);
    assertEquals(other.getEntries("t", keys).size, 0, "written before the loop turned");
    await turn();
    assertEquals(other.getEntries("t", keys).size, 3000, "written on the next turn");

    db.putEntries("u", entries);
    assertEquals(db.getEntries("u", keys).size, 3000, "a read in the same process sees it");

    db.putEntries("v", entries);
    db.forgetEntries("v");
    await turn();
    assertEquals(other.getEntries("v", keys).size, 0, "dropped entries came back");

    db.putEntries("w", entries);
    db.close();
    assertEquals(other.getEntries("w", keys).size, 3000, "close left the write undone");

    // A small write (one push's entries) is made at once, as before.
    other.putEntries("x", batch(10));
    const third = new LocalDb(path);
    assertEquals(third.getEntries("x", [...batch(10).keys()]).size, 10);
    other.close();
    third.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("held writes wait for their release, not for the next turn; reads still see them", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const entries = batch(3000);
    const keys = [...entries.keys()];
    const path = `${dir}/a.sqlite`;
    const db = new LocalDb(path);
    const other = new LocalDb(path);
    const release = db.holdWrites();
    db.putEntries("t", entries);
    await turn();
    assertEquals(other.getEntries("t", keys).size, 0, "written while held");
    release();
    assertEquals(other.getEntries("t", keys).size, 3000, "release left the write undone");
    release(); // a second call changes nothing

    // Held, then read in the same process: written first, as without a hold.
    const again = db.holdWrites();
    db.putEntries("u", entries);
    assertEquals(db.getEntries("u", keys).size, 3000);
    again();

    // Held, never released: close writes it.
    db.holdWrites();
    db.putEntries("w", entries);
    await turn();
    assertEquals(other.getEntries("w", keys).size, 0, "written while held");
    db.close();
    assertEquals(other.getEntries("w", keys).size, 3000, "close left the write undone");
    other.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("released writes are copied into the database file before the close", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/a.sqlite`;
    const db = new LocalDb(path);
    const release = db.holdWrites();
    db.markIngested("t", ["s1", "s2"]);
    db.putEntries("t", batch(3000));
    release();
    // The database file alone, without its write-ahead log: what the close would copy
    // in (two fsyncs while git waits for the helper to exit) is in it already.
    await Deno.copyFile(path, `${dir}/b.sqlite`);
    const copy = new DatabaseSync(`${dir}/b.sqlite`);
    try {
      const count = (table: string) =>
        (copy.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
      assertEquals(count("ref_entries"), 3000);
      assertEquals(count("ingested"), 2);
    } finally {
      copy.close();
      db.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("markIngested: any number of segments, repeats ignored", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const db = new LocalDb(`${dir}/a.sqlite`);
    const ids = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `s${from + i}`);
    for (const n of [0, 1, 255, 256, 257, 600]) {
      db.markIngested(`t${n}`, ids(n));
      assertEquals(db.ingested(`t${n}`), new Set(ids(n)));
    }
    db.markIngested("t600", [...ids(10, 595), ...ids(10, 595)]);
    assertEquals(db.ingested("t600"), new Set(ids(605)));
    // Handed over as JSON: any text comes back as it went in.
    const odd = ['a"b', "c\\d", "é\u{1F600}", "x\ny", "[1]"];
    db.markIngested("odd", odd);
    assertEquals(db.ingested("odd"), new Set(odd));
    db.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("held writes: ingested marks wait for the release; reads and forgets in this process see them", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/a.sqlite`;
    const db = new LocalDb(path);
    const other = new LocalDb(path);
    const ids = Array.from({ length: 600 }, (_, i) => `s${i}`);
    const release = db.holdWrites();
    db.markIngested("t", ids);
    // Fails on 5512d25: the marks were written at once, while git waited for the answer.
    assertEquals(other.ingested("t").size, 0, "marked while held");
    release();
    assertEquals(other.ingested("t"), new Set(ids), "release left the marks unwritten");

    const again = db.holdWrites();
    db.markIngested("u", ids);
    assertEquals(db.ingested("u"), new Set(ids), "a read in the same process sees them");
    db.markIngested("v", ids);
    db.forgetIngested("v", ids.slice(0, 100));
    assertEquals(db.ingested("v"), new Set(ids.slice(100)), "a forget came before its marks");
    again();

    // Held, never released: close writes them.
    db.holdWrites();
    db.markIngested("w", ids);
    db.close();
    assertEquals(other.ingested("w"), new Set(ids), "close left the marks unwritten");
    other.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("putEntries: any number of rows, many to a statement, each row's conflict its own", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const db = new LocalDb(`${dir}/a.sqlite`);
    for (const n of [0, 1, 63, 64, 65, 200]) {
      const t = `t${n}`;
      const entries = batch(n);
      const keys = [...entries.keys()];
      // Every third row cached before: half of them with other bytes (a stale copy).
      const before = new Map(
        keys.filter((_, i) => i % 3 === 0).map((k, i) => [
          k,
          i % 2 ? `{"stale":${i}}` : entries.get(k)!,
        ]),
      );
      db.putEntries(t, before, new Map([...before.keys()].map((k) => [k, "t:1"])));
      // Stamps for every other row; rows without one keep the stamp they have.
      const stamps = new Map(keys.filter((_, i) => i % 2 === 0).map((k) => [k, "t:2"]));
      const write = new Map(entries);
      db.putEntries(t, write, stamps);
      const rows = db.getEntries(t, keys);
      const got = db.getStamps(t, keys);
      assertEquals(rows.size, n, `${n}: every row`);
      for (const [i, k] of keys.entries()) {
        const held = before.get(k);
        assertEquals(rows.get(k), held ?? entries.get(k), `${n}: bytes of ${k}`);
        const same = held === undefined || held === entries.get(k);
        const stamp = stamps.has(k) && same ? "t:2" : held !== undefined ? "t:1" : undefined;
        assertEquals(got.get(k), stamp, `${n}: stamp of row ${i}`);
      }
    }
    db.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
