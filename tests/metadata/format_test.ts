/**
 * Trunk formats (layout.ts): a new trunk is format 2 and writes flat entry keys; a trunk
 * is read and written in its own format's shape only, so a key of the other shape is no
 * entry of it (not read, not in the way of a create); a cached trunk.json of a trunk
 * re-created at the URL in another format does not hide the new trunk; a mirror of
 * another format is refused, never written in the wrong shape.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { getBytes, type Store } from "../../src/storage/store.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { checkTrunk } from "../../src/trunk/check.ts";
import { FORMAT, refLayout, REFS_PREFIX, TRUNK_JSON } from "../../src/trunk/layout.ts";
import { ensureMeta, readMeta, type TrunkMeta } from "../../src/trunk/meta.ts";
import { readRefState, type RefEntry } from "../../src/trunk/refs.ts";
import { seal } from "../../src/trunk/seal.ts";
import { syncMirror } from "../../src/trunk/sync.ts";
import { Trunk } from "../../src/trunk/trunk.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const oid = (n: number) => n.toString(16).padStart(40, "0");

/** trunk.json of `format`, as the client of that format creates it. */
async function trunkOfFormat(store: Store, format: number): Promise<TrunkMeta> {
  if (format === FORMAT) return await ensureMeta(store, "sha1");
  const meta = seal({
    format,
    id: crypto.randomUUID(),
    objectFormat: "sha1" as const,
    created: new Date().toISOString(),
    generator: "trunks test",
    exclusiveCreate: "verified" as const,
  });
  assert(await store.create(TRUNK_JSON, enc.encode(JSON.stringify(meta))));
  return meta;
}

async function moveMain(trunk: Trunk, base: RefEntry | null, n: number): Promise<RefEntry> {
  const r = await trunk.updateRef({ ref: "refs/heads/main", new: oid(n), base, segments: [] });
  assert(r.ok, `move to ${n}`);
  return r.entry;
}

Deno.test("format: a new trunk is format 2 and writes flat entry keys", async () => {
  const mem = new MemoryStore("memory://new");
  const meta = await ensureMeta(mem, "sha1");
  assertEquals(meta.format, 2);
  const trunk = new Trunk(mem, meta, new MemoryCache(), "w@test");
  await moveMain(trunk, await moveMain(trunk, null, 1), 2);
  const keys = (await mem.list(REFS_PREFIX)).map((e) => e.key);
  assertEquals(keys, [1, 2].map((s) => `refs/refs=2fheads=2fmain~00000000000${s}`));
});

for (const format of [1, 2]) {
  const own = refLayout(format);
  const other = refLayout(format === 1 ? 2 : 1);
  Deno.test(`format ${format}: a key of format ${other.format}'s shape is no entry of the trunk`, async () => {
    const mem = new MemoryStore(`memory://stray${format}`);
    const meta = await trunkOfFormat(mem, format);
    assertEquals(meta.format, format);
    const trunk = new Trunk(mem, meta, new MemoryCache(), "w@test");
    const second = await moveMain(trunk, await moveMain(trunk, null, 1), 2);
    assertEquals((await mem.list(REFS_PREFIX)).map((e) => own.parts(e.key)?.seq), [1, 2]);
    // A well-formed, sealed entry for seq 3 under the other shape's key.
    const { sum: _sum, ...fields } = second;
    const stray = other.entryKey("refs/heads/main", 3);
    const strayEntry = seal({ ...fields, seq: 3, old: oid(2), new: oid(99) });
    assert(await mem.create(stray, enc.encode(JSON.stringify(strayEntry))));

    const state = await readRefState(mem, new MemoryCache(), meta);
    assertEquals(state.latest.get("refs/heads/main")!.new, oid(2), "the stray is not read");
    assertEquals(state.entryCount, 2);
    assertEquals(state.foreign, 1);
    // Nor is it in the way: seq 3 is created under the trunk's own key, once.
    const racer = new Trunk(mem, meta, new MemoryCache(), "racer@test");
    const third = await moveMain(trunk, second, 3);
    const lost = await racer.updateRef({
      ref: "refs/heads/main",
      new: oid(4),
      base: second,
      segments: [],
    });
    assertEquals(lost.ok, false, "one create of seq 3 wins");
    assertEquals(!lost.ok && lost.winner?.new, third.new);
    assert(await getBytes(mem, own.entryKey("refs/heads/main", 3)));
    assertEquals(
      (await readRefState(mem, new MemoryCache(), meta)).latest.get("refs/heads/main")!.new,
      oid(3),
    );

    // `trunks check` names it as a problem (so `--clean` deletes nothing): trunk.json's
    // format may be what is wrong, and the objects only those entries reach must stay.
    const workDir = await Deno.makeTempDir();
    try {
      const { report } = await checkTrunk(mem, { workDir });
      const problem = report.problems.find((n) => n.key === stray);
      assert(problem, JSON.stringify(report.problems));
      assertEquals(problem.kind, "foreign-entry");
      assertEquals(report.ok, false);
      assertStringIncludes(problem.message, `format ${other.format}'s shape`);
      assertEquals(report.stats.refEntries, 3);
    } finally {
      await Deno.remove(workDir, { recursive: true });
    }
  });
}

Deno.test("format: a cached trunk.json of a trunk since re-created here in another format", async () => {
  const mem = new MemoryStore("memory://recreated");
  const cache = new MemoryCache();
  const old = await trunkOfFormat(mem, 1);
  const before = await Trunk.open(mem, cache, "w@test");
  await moveMain(before, null, 1);
  assertEquals((await before.refState()).latest.size, 1);
  // Wiped and created again by a newer client: format 2, another id, flat keys.
  for (const { key } of await mem.list("")) await mem.delete(key);
  const meta = await ensureMeta(mem, "sha1");
  assert(meta.id !== old.id && meta.format === 2);
  await moveMain(new Trunk(mem, meta, new MemoryCache(), "w2@test"), null, 7);
  // The cached trunk.json says format 1, whose shape finds no entry: the store is asked.
  const after = await Trunk.open(mem, cache, "w@test");
  assertEquals(after.id, old.id, "opened from the cache");
  const state = await after.refState();
  assertEquals(after.id, meta.id);
  assertEquals(after.meta.format, 2);
  assertEquals(state.latest.get("refs/heads/main")?.new, oid(7));
});

Deno.test("format: a cached trunk.json is not vouched for by this trunk's own leftovers", async () => {
  // Only trunk.json went; a newer client created a format-2 trunk over the old entries.
  const mem = new MemoryStore("memory://leftovers");
  const cache = new MemoryCache();
  const old = await trunkOfFormat(mem, 1);
  const before = await Trunk.open(mem, cache, "w@test");
  const base = await moveMain(before, await moveMain(before, null, 1), 2);
  await mem.delete(TRUNK_JSON);
  const meta = await ensureMeta(mem, "sha1");
  assert(meta.id !== old.id && meta.format === 2);
  await moveMain(new Trunk(mem, meta, new MemoryCache(), "w2@test"), null, 7);
  // A fetch by the client whose cache holds the old trunk.json sees the new trunk.
  const reader = await Trunk.open(mem, cache, "w@test");
  assertEquals(reader.id, old.id, "opened from the cache");
  assertEquals((await reader.refState()).latest.get("refs/heads/main")?.new, oid(7));
  assertEquals(reader.id, meta.id);
  // A push by a client whose cache still holds the old trunk.json and the old entries
  // (which carry the old id, and so vouched for it): the state it builds on is the new
  // trunk's, asked of trunk.json, not the leftovers' (a push from seq 2 in the old shape
  // would land where nobody reads it).
  const stale = new MemoryCache();
  stale.putMeta(mem.location, JSON.stringify(old));
  const pusher = await Trunk.open(mem, stale, "w@test");
  assertEquals(pusher.meta.format, 1, "opened from the cache");
  const ws = await pusher.stateForWrite(["refs/heads/main"]);
  assertEquals(pusher.id, meta.id);
  assertEquals(pusher.meta.format, 2);
  assertEquals(ws.state.latest.get("refs/heads/main")?.new, oid(7));
  assert(base.seq === 2);
});

Deno.test("format: a trunk.json whose format was flipped makes check fail, so clean deletes nothing", async () => {
  const mem = new MemoryStore("memory://flipped");
  const meta = await trunkOfFormat(mem, 1);
  await moveMain(new Trunk(mem, meta, new MemoryCache(), "w@test"), null, 1);
  const { sum: _sum, ...fields } = meta;
  await mem.delete(TRUNK_JSON);
  assert(await mem.create(TRUNK_JSON, enc.encode(JSON.stringify(seal({ ...fields, format: 2 })))));
  const workDir = await Deno.makeTempDir();
  try {
    const { report, inventory } = await checkTrunk(mem, { workDir });
    assertEquals(report.ok, false, JSON.stringify(report));
    assertEquals(report.problems.map((p) => p.kind), ["foreign-entry"]);
    assert(inventory, "the inventory is made; the caller refuses to clean a trunk not ok");
  } finally {
    await Deno.remove(workDir, { recursive: true });
  }
});

Deno.test("format: a mirror whose trunk.json has another format is refused, not written", async () => {
  const p = new MemoryStore("memory://p");
  const m = new MemoryStore("memory://m");
  const meta = await ensureMeta(p, "sha1");
  await moveMain(new Trunk(p, meta, new MemoryCache(), "w@test"), null, 1);
  const stored = JSON.parse(dec.decode((await getBytes(p, TRUNK_JSON))!));
  const { sum: _sum, ...fields } = stored;
  assert(await m.create(TRUNK_JSON, enc.encode(JSON.stringify(seal({ ...fields, format: 1 })))));
  const member = (name: string, role: "primary" | "mirror", store: Store) => ({
    name,
    role,
    url: store.location,
    store,
  });
  const r = await syncMirror(
    member("p", "primary", p),
    member("m", "mirror", m),
    new MemoryCache(),
    meta,
    {
      write: true,
    },
  );
  assertEquals(r.state, "diverged");
  assertStringIncludes(r.detail!, "format 1");
  assertEquals((await m.list(REFS_PREFIX)).length, 0, "nothing replayed");
  assertEquals((await readMeta(m))!.format, 1);
});
