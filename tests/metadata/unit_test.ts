/**
 * Snapshots, pruning and the audit archive on an in-memory store: a fresh reader of a
 * trunk with a snapshot makes one LIST and one GET whatever the number of refs; a damaged
 * or vanished snapshot only costs GETs; old clients skip snapshot keys; pruning keeps a
 * contiguous tail per ref, archives before it deletes, and a writer whose base was pruned
 * still gets git's answers.
 */
import { assert, assertEquals } from "../assert.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import type { ListEntry, Range } from "../../src/storage/store.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import {
  parseSnapshotKey,
  refLayout,
  REFLOG_PREFIX,
  SNAPSHOT_PREFIX,
  snapshotKey,
} from "../../src/trunk/layout.ts";
import { parseRefEntryKey, refEntryKey } from "../keys.ts";
import { ensureMeta, type TrunkMeta } from "../../src/trunk/meta.ts";
import { maintain, takeSnapshot } from "../../src/trunk/maintenance.ts";
import { pruneRefLog } from "../../src/trunk/prune.ts";
import { parseArchive, readAuditLog } from "../../src/trunk/reflog.ts";
import { readRefLog, readRefState } from "../../src/trunk/refs.ts";
import { Trunk } from "../../src/trunk/trunk.ts";
import { MirroredStore } from "../../src/trunk/mirrors.ts";
import { RefView } from "../../src/sdk/ref_view.ts";
import { assertKey, getBytes } from "../../src/storage/store.ts";
import { oldCheckRefs, oldLatestKeys } from "../fixtures/old_client.ts";
import { PassThroughStore } from "../pass_through_store.ts";

const oid = (n: number) => n.toString(16).padStart(40, "0");

/** Counts gets and lists, by key. */
class Counted extends PassThroughStore {
  gets: string[] = [];
  lists = 0;
  override get(key: string, range?: Range) {
    this.gets.push(key);
    return this.inner.get(key, range);
  }
  override list(prefix: string, startAfter?: string): Promise<ListEntry[]> {
    this.lists++;
    return this.inner.list(prefix, startAfter);
  }
}

/** `format`: the trunk's, as read (format 1: a trunk made before format 2). */
async function trunkWith(refs: number, movesEach = 1, leaseSeconds?: number, format?: number) {
  const mem = new MemoryStore("memory://t");
  const meta = await ensureMeta(mem, "sha1");
  const m = {
    ...meta,
    ...(leaseSeconds === undefined ? {} : { leaseSeconds }),
    ...(format === undefined ? {} : { format }),
  } as TrunkMeta;
  const trunk = new Trunk(mem, m, new MemoryCache(), "writer@test");
  let n = 1;
  for (let r = 0; r < refs; r++) {
    let base = null;
    for (let i = 0; i < movesEach; i++) {
      const res = await trunk.updateRef({
        ref: `refs/heads/b${r}`,
        new: oid(n++),
        base,
        segments: [],
      });
      assert(res.ok);
      base = res.entry;
    }
  }
  return { mem, meta: m, trunk };
}

Deno.test("snapshot keys: allowed by every backend, skipped by old clients' entry parser", () => {
  const key = snapshotKey(7);
  assertKey(key);
  assertEquals(parseSnapshotKey(key), 7);
  assertEquals(parseRefEntryKey(key), null);
  // The parser of clients older than snapshots: exactly 12 digits.
  assertEquals(/^refs\/([^/]+)\/(\d{12})$/.test(key), false);
  // `~` sorts after every encoded ref name, so the snapshot comes last in the listing.
  assert(key > refEntryKey("refs/heads/zzz", 999));
});

Deno.test("a fresh reader of a snapshotted trunk: one LIST, one GET, whatever the refs", async () => {
  const { mem, trunk, meta } = await trunkWith(300);
  const before = await readRefState(mem, new MemoryCache(), meta);
  assertEquals(before.snapshotSeq, null);
  assertEquals(before.unsnapshotted, 300);
  assertEquals((await takeSnapshot(trunk)).key, snapshotKey(1));

  const counted = new Counted(mem);
  const state = await readRefState(counted, new MemoryCache(), meta);
  assertEquals(counted.lists, 1);
  assertEquals(counted.gets, [snapshotKey(1)]);
  assertEquals(state.snapshotSeq, 1);
  assertEquals(state.latest.size, 300);
  assertEquals([...state.latest], [...before.latest]);

  // Entries newer than the snapshot are read from their keys, the rest from it.
  const moved = await trunk.updateRef({
    ref: "refs/heads/b5",
    new: oid(9999),
    base: before.latest.get("refs/heads/b5")!,
    segments: [],
  });
  assert(moved.ok);
  const c2 = new Counted(mem);
  const s2 = await readRefState(c2, new MemoryCache(), meta);
  assertEquals(c2.gets.sort(), [refEntryKey("refs/heads/b5", 2), snapshotKey(1)].sort());
  assertEquals(s2.latest.get("refs/heads/b5")!.new, oid(9999));

  // An up-to-date reader (entries cached) makes one LIST and nothing else.
  const cache = new MemoryCache();
  await readRefState(mem, cache, meta);
  const c3 = new Counted(mem);
  await readRefState(c3, cache, meta);
  assertEquals([c3.lists, c3.gets.length], [1, 0]);
});

Deno.test("a damaged, foreign or vanished snapshot only costs GETs", async () => {
  const { mem, trunk, meta } = await trunkWith(40);
  await takeSnapshot(trunk);
  const truth = await readRefState(mem, new MemoryCache(), meta);
  const raw = new TextDecoder().decode((await getBytes(mem, snapshotKey(1)))!);

  // An entry edited inside the snapshot (seal broken): not used.
  await mem.delete(snapshotKey(1));
  await mem.create(snapshotKey(1), new TextEncoder().encode(raw.replace(oid(3), oid(4))));
  const c = new Counted(mem);
  const s = await readRefState(c, new MemoryCache(), meta);
  assertEquals([...s.latest], [...truth.latest]);
  assertEquals(c.gets.length, 41);

  // Gone between the listing and the read: the entries are read one by one.
  await mem.delete(snapshotKey(1));
  const s2 = await readRefState(mem, new MemoryCache(), meta);
  assertEquals([...s2.latest], [...truth.latest]);
});

Deno.test("another trunk's snapshot is not read, even where its entries' keys and sizes match", async () => {
  const x = await trunkWith(40);
  const y = await trunkWith(40);
  await takeSnapshot(x.trunk);
  const truth = await readRefState(y.mem, new MemoryCache(), y.meta);
  // X's snapshot under Y's key (a copied or restored store): every entry it holds sits
  // under a key Y lists, with the size listed, so only the snapshot's trunk tells them apart.
  const copied = (await getBytes(x.mem, snapshotKey(1)))!;
  assert(await y.mem.create(snapshotKey(1), copied));
  const sizes = new Map((await y.mem.list("refs/")).map((e) => [e.key, e.size]));
  const held: Record<string, string> = JSON.parse(new TextDecoder().decode(copied)).entries;
  assertEquals(Object.keys(held).length, 40);
  for (const [k, v] of Object.entries(held)) {
    assertEquals(sizes.get(k), new TextEncoder().encode(v).length, k);
  }
  const c = new Counted(y.mem);
  const s = await readRefState(c, new MemoryCache(), y.meta);
  assertEquals([...s.latest], [...truth.latest]);
  assertEquals(c.gets.length, 41, "the snapshot, then every entry from its own key");
});

Deno.test("a new snapshot keeps the one before it: a reader that listed that one still finds it", async () => {
  const { mem, trunk } = await trunkWith(20);
  const snapshots = async () => (await mem.list(SNAPSHOT_PREFIX)).map((e) => e.key);
  for (const seq of [1, 2, 3]) {
    const state = await trunk.refState();
    const moved = await trunk.updateRef({
      ref: "refs/heads/b0",
      new: oid(100 + seq),
      base: state.latest.get("refs/heads/b0")!,
      segments: [],
    });
    assert(moved.ok);
    assertEquals((await takeSnapshot(trunk)).key, snapshotKey(seq));
  }
  assertEquals(await snapshots(), [snapshotKey(2), snapshotKey(3)]);
});

Deno.test("pruning keeps each ref's tail, archives first, and the audit log keeps everything", async () => {
  const { mem, trunk, meta } = await trunkWith(3, 5, 0);
  const logBefore = await readRefLog(mem, new MemoryCache(), meta);
  assertEquals(logBefore.length, 15);
  const r = await pruneRefLog(mem, trunk.cache, meta, 0, { now: Date.now() + 1000 });
  assertEquals(r.pruned, 12);
  assert(r.archive?.startsWith(REFLOG_PREFIX));
  const live = await readRefLog(mem, new MemoryCache(), meta);
  assertEquals(live.map((e) => e.seq), [5, 5, 5]);
  const state = await readRefState(mem, new MemoryCache(), meta);
  assertEquals(state.latest.get("refs/heads/b1")!.new, oid(10));

  const audit = await readAuditLog(mem, new MemoryCache(), meta);
  assertEquals(audit.length, 15);
  assertEquals(audit.filter((e) => e.archived).length, 12);
  const b0 = await readAuditLog(mem, new MemoryCache(), meta, "refs/heads/b0");
  assertEquals(b0.map((e) => [e.seq, e.old, e.new]), [
    [1, oid(0), oid(1)],
    [2, oid(1), oid(2)],
    [3, oid(2), oid(3)],
    [4, oid(3), oid(4)],
    [5, oid(4), oid(5)],
  ]);
  assertEquals(b0[0].writer, "writer@test");

  // Nothing left to prune: no empty archive.
  const again = await pruneRefLog(mem, trunk.cache, meta, 0, { now: Date.now() + 1000 });
  assertEquals(again, { pruned: 0, archive: null });
});

Deno.test("a client older than snapshots (0.2.0) on a snapshotted, pruned trunk", async () => {
  // Such clients read format-1 trunks only (a newer format they refuse with one line).
  const v1 = refLayout(1);
  const { mem, trunk, meta } = await trunkWith(3, 5, 0, 1);
  // Lease 0 prunes what was superseded before now: an entry written in this very
  // millisecond is not yet, and the expected gaps below would be missing.
  await new Promise((r) => setTimeout(r, 5));
  await maintain(trunk, { workDir: "/nonexistent", skip: { merge: true } });
  const listed = await mem.list("refs/");
  assert(listed.some((e) => parseSnapshotKey(e.key) !== null), "a snapshot is listed");
  assert((await mem.list(REFLOG_PREFIX)).length > 0, "pruned entries are archived");
  // Its readers skip the snapshot and see each ref at the value today's readers see.
  const state = await readRefState(mem, new MemoryCache(), meta);
  const old = oldLatestKeys(listed);
  assertEquals(old.size, state.latest.size);
  for (const e of state.latest.values()) {
    assertEquals(
      old.get(v1.parse(v1.entryKey(e.ref, e.seq))!.enc),
      v1.entryKey(e.ref, e.seq),
    );
  }
  // Its `trunks check` calls the snapshot a stray key (its --clean leaves it), and each
  // pruned ref a gap: a false alarm that refuses its --clean, deletes nothing.
  const checked = oldCheckRefs(listed);
  assertEquals(
    checked.strays,
    listed.filter((e) => parseSnapshotKey(e.key) !== null).map((e) => e.key),
  );
  assertEquals(checked.gaps, [0, 1, 2].map((r) => v1.entryKey(`refs/heads/b${r}`, 5)));
});

Deno.test("pruning waits for two leases after the superseding entry", async () => {
  const { mem, trunk, meta } = await trunkWith(1, 4, 3600);
  const now = Date.now();
  assertEquals((await pruneRefLog(mem, trunk.cache, meta, 3600e3, { now })).pruned, 0);
  // Superseded a minute short of two leases ago: a push may still build on it.
  const almost = now + 2 * 3600e3 - 60e3;
  assertEquals((await pruneRefLog(mem, trunk.cache, meta, 3600e3, { now: almost })).pruned, 0);
  const later = now + 2 * 3600e3 + 1000;
  assertEquals((await pruneRefLog(mem, trunk.cache, meta, 3600e3, { now: later })).pruned, 3);
});

Deno.test("a maintenance step prunes by the trunk's lease: entries superseded within two leases stay", async () => {
  const { mem, trunk, meta } = await trunkWith(20, 3, 3600);
  await new Promise((r) => setTimeout(r, 5));
  const r = await maintain(trunk, { workDir: "/nonexistent", skip: { merge: true } });
  assertEquals(r.snapshot, snapshotKey(1));
  assertEquals(r.prune, { pruned: 0, archive: null });
  assertEquals((await readRefState(mem, new MemoryCache(), meta)).entryCount, 60);
  assertEquals((await mem.list(REFLOG_PREFIX)).length, 0);
});

Deno.test("pruning leaves a damaged entry, and the ref's entries after it, in place", async () => {
  const { mem, meta } = await trunkWith(2, 3, 0);
  const bad = refEntryKey("refs/heads/b0", 1);
  await mem.delete(bad);
  assert(await mem.create(bad, new TextEncoder().encode(`{"ref":"refs/heads/b0","seq":1,`)));
  await new Promise((r) => setTimeout(r, 5));
  const r = await pruneRefLog(mem, new MemoryCache(), meta, 0, { now: Date.now() + 1000 });
  // b1's two superseded entries; none of b0's: archived, the damaged one could not be read
  // back (the audit log would fail on it), and deleted, nothing would name it.
  assertEquals(r.pruned, 2);
  assert(await getBytes(mem, bad), "the damaged entry stays for trunks check to name");
  assert(await getBytes(mem, refEntryKey("refs/heads/b0", 2)), "the ref's log stays contiguous");
  // The archive holds what reads back: a damaged text in it would fail `trunks log`.
  const [archive] = await mem.list(REFLOG_PREFIX);
  const text = new TextDecoder().decode((await getBytes(mem, archive.key))!);
  const held = parseArchive(text, archive.key, refLayout(meta.format), meta.id);
  assertEquals(held.map((e) => [e.ref, e.seq]), [["refs/heads/b1", 1], ["refs/heads/b1", 2]]);
});

Deno.test("a writer whose base entry was pruned gets git's answers, never a lost update", async () => {
  const { mem, trunk, meta } = await trunkWith(1, 3, 0);
  // A slow writer read the state when b0 was at seq 1.
  const stale = (await readRefLog(mem, new MemoryCache(), meta)).find((e) => e.seq === 1)!;
  await pruneRefLog(mem, trunk.cache, meta, 0, { now: Date.now() + 1000 });
  const live = await readRefLog(mem, new MemoryCache(), meta);
  assertEquals(live.map((e) => e.seq), [3]);

  // Its state re-read: it sees the tail and moves the ref from it.
  const writer = new Trunk(mem, meta, new MemoryCache(), "other@test");
  const state = await writer.refState();
  const base = state.latest.get("refs/heads/b0")!;
  assertEquals(base.seq, 3);
  const moved = await writer.updateRef({ ref: "refs/heads/b0", new: oid(77), base, segments: [] });
  assert(moved.ok);
  assertEquals(moved.entry.old, oid(3));

  // The stale writer re-reads too (as every push does, within its lease): its base is
  // the tail, and a move from its old value is refused by git's rules, not lost.
  const again = await new Trunk(mem, meta, new MemoryCache(), "slow@test").refState();
  assertEquals(again.latest.get("refs/heads/b0")!.seq, 4);
  assert(again.latest.get("refs/heads/b0")!.old !== stale.new);
});

Deno.test("maintain: snapshot, prune and nothing to merge on a small trunk", async () => {
  const { mem, trunk, meta } = await trunkWith(20, 3, 0);
  await new Promise((r) => setTimeout(r, 5));
  const workDir = await Deno.makeTempDir();
  try {
    const r = await maintain(trunk, { workDir });
    assertEquals(r.snapshot, snapshotKey(1));
    assertEquals(r.prune?.pruned, 40);
    assertEquals(r.merge?.merged, null);
    const s = await readRefState(mem, new MemoryCache(), meta);
    assertEquals(s.entryCount, 20);
    assertEquals(s.latest.size, 20);
  } finally {
    await Deno.remove(workDir, { recursive: true });
  }
});

Deno.test("a maintenance step on a mirrored trunk snapshots but prunes nothing", async () => {
  const member = (name: string, role: "primary" | "mirror") => ({
    name,
    role,
    url: `memory://${name}`,
    store: new MemoryStore(`memory://${name}`),
  });
  const primary = member("primary", "primary");
  const mirror = member("m", "mirror");
  const set = new MirroredStore([primary, mirror]);
  const meta = { ...(await ensureMeta(set, "sha1")), leaseSeconds: 0 } as TrunkMeta;
  const trunk = new Trunk(set, meta, new MemoryCache(), "writer@test");
  let base = null;
  for (let i = 1; i <= 3; i++) {
    const res = await trunk.updateRef({ ref: "refs/heads/main", new: oid(i), base, segments: [] });
    assert(res.ok);
    base = res.entry;
  }
  await new Promise((r) => setTimeout(r, 5));
  const r = await maintain(trunk, { workDir: "/nonexistent", skip: { merge: true } });
  assertEquals(r.snapshot, snapshotKey(1));
  // A mirror that missed a delete would look diverged: the log stays whole on both.
  assertEquals(r.prune, null);
  for (const m of [primary, mirror]) {
    assertEquals((await readRefLog(m.store, new MemoryCache(), meta)).length, 3, m.name);
    assertEquals((await m.store.list(REFLOG_PREFIX)).length, 0, m.name);
  }
});

Deno.test("the library's ref view reads all refs from the snapshot too", async () => {
  const { mem, trunk, meta } = await trunkWith(100);
  await takeSnapshot(trunk);
  const counted = new Counted(mem);
  const view = new RefView(counted, new MemoryCache(), meta);
  await view.refresh();
  const all = await view.all();
  assertEquals(all.size, 100);
  assertEquals(all.get("refs/heads/b7")!.new, oid(8));
  assertEquals([counted.lists, counted.gets], [1, [snapshotKey(1)]]);
});
