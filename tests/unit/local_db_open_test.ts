/**
 * Opening the local database: a current file is opened without a write (every fetch and
 * push opens it), an older file still gains what it lacks.
 */
import { assert, assertEquals } from "../assert.ts";
import { DatabaseSync } from "node:sqlite";
import { LocalDb, TABLES } from "../../src/local/db.ts";

async function tmpDb(): Promise<string> {
  return `${await Deno.makeTempDir({ prefix: "trunks-db-" })}/t.sqlite`;
}

function changes(db: LocalDb): number {
  return (db.db.prepare(`SELECT total_changes() AS n`).get() as { n: number }).n;
}

function tables(db: LocalDb): string[] {
  return (db.db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as {
    name: string;
  }[]).map((t) => t.name).sort();
}

Deno.test("local db: a fresh file gets exactly the tables a current file is checked for", async () => {
  const path = await tmpDb();
  const db = new LocalDb(path);
  try {
    assertEquals(tables(db), [...TABLES].sort());
    assert(changes(db) > 0, "the first open wrote the schema");
  } finally {
    db.close();
  }
  const again = new LocalDb(path);
  try {
    assertEquals(changes(again), 0, "a current file is opened without writing");
  } finally {
    again.close();
  }
  await Deno.remove(path.replace(/\/t\.sqlite$/, ""), { recursive: true });
});

Deno.test("local db: a file lacking a table or the stamp column gains it on open", async () => {
  const path = await tmpDb();
  const db = new LocalDb(path);
  db.db.exec(`DROP TABLE approved_storages`);
  db.db.exec(`ALTER TABLE ref_entries DROP COLUMN stamp`);
  db.close();
  const again = new LocalDb(path);
  try {
    assertEquals(tables(again), [...TABLES].sort());
    const cols = again.db.prepare(`PRAGMA table_info(ref_entries)`).all() as { name: string }[];
    assert(cols.some((c) => c.name === "stamp"));
  } finally {
    again.close();
  }
  await Deno.remove(path.replace(/\/t\.sqlite$/, ""), { recursive: true });
});

Deno.test("local db: a new file has 16 KiB pages, an existing file keeps its own", async () => {
  const pageSize = (db: LocalDb) =>
    Number((db.db.prepare(`PRAGMA page_size`).get() as { page_size: number }).page_size);
  const path = await tmpDb();
  const db = new LocalDb(path);
  try {
    assertEquals(pageSize(db), 16384);
  } finally {
    db.close();
  }
  // A file made with SQLite's default pages, as every version before wrote them.
  const older = await tmpDb();
  const raw = new DatabaseSync(older);
  raw.exec("PRAGMA journal_mode=WAL; CREATE TABLE t (x)");
  raw.close();
  const reopened = new LocalDb(older);
  try {
    assertEquals(pageSize(reopened), 4096);
    assertEquals(tables(reopened).filter((t) => t !== "t"), [...TABLES].sort());
  } finally {
    reopened.close();
  }
  for (const p of [path, older]) {
    await Deno.remove(p.replace(/\/t\.sqlite$/, ""), { recursive: true });
  }
});
