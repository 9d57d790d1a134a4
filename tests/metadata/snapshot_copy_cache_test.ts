/**
 * A snapshot's copy of an entry is not the key's own bytes. A reader caches it (a fetch
 * answers from it while the listing shows the key unchanged), but a push never builds on
 * it without reading the key, and a pruner, a mirror sync or a check reads the key: a
 * forged copy (same size, its own seal right, the snapshot sealed over it) must not
 * outlive the snapshot as the ref's value for a writer; and a copy whose key is gone when
 * the push reads it (the trunk wiped) is no base at all.
 */
import { assert, assertEquals } from "../assert.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { getBytes } from "../../src/storage/store.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { snapshotKey } from "../../src/trunk/layout.ts";
import { layout, refEntryKey } from "../keys.ts";
import { ensureMeta } from "../../src/trunk/meta.ts";
import { takeSnapshot } from "../../src/trunk/maintenance.ts";
import { readRefLog, readRefState, type RefEntry } from "../../src/trunk/refs.ts";
import { seal } from "../../src/trunk/seal.ts";
import { encodeSnapshot, parseSnapshot } from "../../src/trunk/snapshots.ts";
import { Trunk } from "../../src/trunk/trunk.ts";

const oid = (n: number) => n.toString(16).padStart(40, "0");
const dec = new TextDecoder();

async function forgedSnapshot() {
  const mem = new MemoryStore("memory://t");
  const meta = await ensureMeta(mem, "sha1");
  const writer = new Trunk(mem, meta, new MemoryCache(), "writer@test");
  for (let r = 0; r < 20; r++) {
    const res = await writer.updateRef({
      ref: `refs/heads/b${r}`,
      new: oid(r + 1),
      base: null,
      segments: [],
    });
    assert(res.ok);
  }
  await takeSnapshot(writer);
  // A store writer replaces the snapshot with one whose copy of b3 moves it, sealed right.
  const key = refEntryKey("refs/heads/b3", 1);
  const snap = parseSnapshot(
    dec.decode((await getBytes(mem, snapshotKey(1)))!),
    snapshotKey(1),
    1,
    layout,
  );
  const { sum: _, ...rest } = JSON.parse(snap.entries.get(key)!) as RefEntry;
  const forged = JSON.stringify(seal({ ...rest, new: oid(999) }));
  assertEquals(forged.length, snap.entries.get(key)!.length);
  const entries = new Map(snap.entries);
  entries.set(key, forged);
  await mem.delete(snapshotKey(1));
  assert(await mem.create(snapshotKey(1), encodeSnapshot(meta.id, 1, entries)));
  return { mem, meta, key };
}

Deno.test("a snapshot's cached copy is not a push's base: the key is read and the store wins", async () => {
  const { mem, meta, key } = await forgedSnapshot();
  const cache = new MemoryCache();
  // A clone while the forged snapshot is stored takes its copy (nothing can tell).
  const first = await readRefState(mem, cache, meta);
  assertEquals(first.latest.get("refs/heads/b3")!.new, oid(999));
  assert(!first.fresh?.has(key), "a snapshot's copy counted as read from its key");
  // The snapshot goes; the listing still shows b3's key unchanged.
  await mem.delete(snapshotKey(1));
  const again = await readRefState(mem, cache, meta);
  assert(!again.fresh?.has(key), "a cached snapshot copy counted as read from its key");
  // A writer on that cache builds on b3 as the store holds it.
  const trunk = new Trunk(mem, meta, cache, "pusher@test");
  const ws = await trunk.stateForWrite(["refs/heads/b3"]);
  assertEquals(ws.state.latest.get("refs/heads/b3")!.new, oid(4));
  const later = await readRefState(mem, cache, meta);
  assertEquals(later.latest.get("refs/heads/b3")!.new, oid(4), "the forged copy outlived the push");
});

Deno.test("a snapshot's cached copy is not the key's bytes for the log (check, sync, audit)", async () => {
  const { mem, meta, key } = await forgedSnapshot();
  const cache = new MemoryCache();
  await readRefState(mem, cache, meta);
  const log = await readRefLog(mem, cache, meta);
  const b3 = log.filter((e) => e.ref === "refs/heads/b3");
  assertEquals(b3.map((e) => e.new), [oid(4)], `${key} as stored`);
});

Deno.test("a base listed from a snapshot's copy and gone when the push reads it: the state is read again", async () => {
  const { mem, meta } = await forgedSnapshot();
  const trunk = new Trunk(mem, meta, new MemoryCache(), "pusher@test");
  // git's `list for-push`: the state comes from the snapshot (its copies, no key read).
  const listed = await trunk.stateForWrite(["refs/heads/b5"]);
  assertEquals(listed.state.latest.get("refs/heads/b5")!.seq, 1);
  // The trunk is wiped before the push checks its base (its listing is git's, above).
  for (const { key } of await mem.list("")) await mem.delete(key);
  const ws = await trunk.stateForWrite(["refs/heads/b5"], listed);
  // Not built on: the trunk is created again, b5 a new ref of it.
  assertEquals(ws.state.latest.get("refs/heads/b5"), undefined);
  assert(await getBytes(mem, "trunk.json"), "the wiped trunk is created again");
  assert(trunk.id !== meta.id);
});
