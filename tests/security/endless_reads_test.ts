/**
 * A hostile or broken store answering a read of a small object with an endless body:
 * every such read stops past its bound (src/trunk/small_objects.ts) and fails in one line
 * naming the key, "corrupt", having pulled no more than the bound and a piece. Objects
 * at the edge of what a trunk legitimately writes still read.
 */
import { assert, assertEquals, assertMatch, assertRejects } from "../assert.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { PassThroughStore } from "../pass_through_store.ts";
import type { CreatedStamp, Range, Store } from "../../src/storage/store.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { TrunkError } from "../../src/trunk/errors.ts";
import {
  blobKey,
  refLayout,
  segmentIdxKey,
  segmentPackKey,
  segmentReplacesKey,
  TRUNK_JSON,
} from "../../src/trunk/layout.ts";
import { readMeta } from "../../src/trunk/meta.ts";
import { ENTRY_READ_MAX_BYTES, readRefState } from "../../src/trunk/refs.ts";
import { encodeReplaces, listSegmentKeys, readSidecars } from "../../src/trunk/replaces.ts";
import { readLatestMap } from "../../src/trunk/storage_map.ts";
import { readManifest } from "../../src/trunk/chunks.ts";
import { encodeBlobManifest } from "../../src/trunk/blob_manifest.ts";
import { ARCHIVE_MAX_BYTES, readArchive } from "../../src/trunk/reflog.ts";
import { beginCleaning } from "../../src/trunk/reuse_guard.ts";
import { type Member, replicateCreate } from "../../src/trunk/mirrors.ts";
import {
  BLOB_MANIFEST_MAX_BYTES,
  getSmall,
  SIDECAR_MAX_BYTES,
  TOUCH_MAX_BYTES,
  TRUNK_JSON_MAX_BYTES,
} from "../../src/trunk/small_objects.ts";
import { Trunk } from "../../src/trunk/trunk.ts";
import { probeStore } from "../../src/storage/probe.ts";
import { checkTrunk } from "../../src/trunk/check.ts";

const PIECE = 64 * 1024;

/**
 * `inner`, except that a get of a key `hostile` picks answers an endless body of spaces
 * (whatever range was asked: a hostile store ignores it), counting the bytes pulled; it
 * ends at 512 MiB so that a reader without a bound fails the test instead of the machine.
 */
class EndlessStore extends PassThroughStore {
  pulled = 0;
  constructor(inner: Store, readonly hostile: (key: string) => boolean) {
    super(inner);
  }
  override get(key: string, range?: Range): Promise<ReadableStream<Uint8Array> | null> {
    if (!this.hostile(key)) return this.inner.get(key, range);
    const piece = new Uint8Array(PIECE).fill(0x20);
    return Promise.resolve(
      new ReadableStream<Uint8Array>({
        pull: (c) => {
          // Past every bound: a reader without one takes it all, and the test still ends.
          if (this.pulled >= 512 * 1024 * 1024) return c.close();
          this.pulled += piece.byteLength;
          c.enqueue(piece);
        },
      }, { highWaterMark: 0 }),
    );
  }
  createStamped(key: string, data: Uint8Array): Promise<CreatedStamp | null> {
    return this.inner.createStamped!(key, data);
  }
}

function memory(): MemoryStore {
  return MemoryStore.named(`endless-${crypto.randomUUID()}`);
}

/** A trunk in a fresh store, and the same store answering `hostile` keys endlessly. */
async function trunkWith(hostile: (key: string) => boolean) {
  const inner = memory();
  const trunk = await Trunk.openOrCreate(inner, new MemoryCache(), "w", "sha1");
  return { inner, trunk, store: new EndlessStore(inner, hostile) };
}

/** Refused in one "corrupt" line naming `key` and what to do, after at most `max` bytes. */
async function refusedUnread(
  store: EndlessStore,
  max: number,
  key: string,
  read: () => Promise<unknown>,
): Promise<void> {
  const e = (await assertRejects(read, TrunkError)) as TrunkError;
  assertEquals(e.code, "corrupt");
  assert(!e.message.includes("\n"), "one line");
  assert(e.message.includes(key), `names ${key}: ${e.message}`);
  assertMatch(e.message, /run trunks check/);
  assert(store.pulled > 0, "the hostile body was read");
  assert(store.pulled <= max + 2 * PIECE, `pulled ${store.pulled} bytes, bound ${max}`);
}

Deno.test("endless trunk.json: opening the trunk stops past its bound, naming it", async () => {
  const { store } = await trunkWith((k) => k === TRUNK_JSON);
  await refusedUnread(store, TRUNK_JSON_MAX_BYTES, TRUNK_JSON, () => readMeta(store));
  store.pulled = 0;
  await refusedUnread(
    store,
    TRUNK_JSON_MAX_BYTES,
    TRUNK_JSON,
    () => Trunk.open(store, new MemoryCache(), "r"),
  );
});

Deno.test("endless trunk.json: trunks check names it as a problem", async () => {
  const { store } = await trunkWith((k) => k === TRUNK_JSON);
  const workDir = await Deno.makeTempDir();
  try {
    const { report } = await checkTrunk(store, { workDir });
    assertEquals(report.problems.map((p) => [p.kind, p.key]), [["trunk-json", TRUNK_JSON]]);
    assert(store.pulled <= TRUNK_JSON_MAX_BYTES + 2 * PIECE, `pulled ${store.pulled}`);
  } finally {
    await Deno.remove(workDir, { recursive: true });
  }
});

Deno.test("endless storage map: reading the current map stops past its bound", async () => {
  const key = "storages/000000000001";
  const { inner, store } = await trunkWith((k) => k === key);
  await inner.put(key, new TextEncoder().encode("{}"));
  await refusedUnread(store, 256 * 1024, key, () => readLatestMap(store));
});

Deno.test("endless ref entry: reading the refs stops past its bound", async () => {
  const { inner, trunk, store } = await trunkWith((k) => k.startsWith("refs/"));
  const key = refLayout(trunk.meta.format).entryKey("refs/heads/main", 1);
  await inner.put(key, new TextEncoder().encode("{}"));
  await refusedUnread(
    store,
    ENTRY_READ_MAX_BYTES,
    key,
    () => readRefState(store, new MemoryCache(), trunk.meta),
  );
});

Deno.test("endless sidecar: reading sidecars stops past the bound; onBad is told", async () => {
  const sid = "a".repeat(64);
  const key = segmentReplacesKey(sid);
  const { inner, store } = await trunkWith((k) => k === key);
  await inner.put(key, encodeReplaces(["b".repeat(64)]));
  await inner.put(segmentPackKey(sid), new Uint8Array([1]));
  await inner.put(segmentIdxKey(sid), new Uint8Array([1]));
  const listing = await listSegmentKeys(store);
  await refusedUnread(store, SIDECAR_MAX_BYTES, key, () => readSidecars(store, listing));
  store.pulled = 0;
  const bad: string[] = [];
  const got = await readSidecars(store, listing, (k) => bad.push(k));
  assertEquals(bad, [key]);
  assertEquals(got.size, 0);
  assert(store.pulled <= SIDECAR_MAX_BYTES + 2 * PIECE);
});

Deno.test("endless large-blob manifest: reading it stops past its bound", async () => {
  const oid = "c".repeat(40);
  const { store } = await trunkWith((k) => k === blobKey(oid));
  await refusedUnread(store, BLOB_MANIFEST_MAX_BYTES, blobKey(oid), () => readManifest(store, oid));
});

Deno.test("endless archive listed as small: trunks log stops past an archive's bound", async () => {
  const key = "reflog/0000000000000001";
  const { trunk, store } = await trunkWith((k) => k === key);
  const listed = { key, size: 10, modified: new Date() };
  await refusedUnread(
    store,
    ARCHIVE_MAX_BYTES,
    key,
    () => readArchive(store, listed, refLayout(trunk.meta.format), trunk.meta.id),
  );
});

Deno.test("endless touch: a clean spares every chunk, having read no more than the bound", async () => {
  const { inner, store } = await trunkWith((k) => k.startsWith("gc/touch/"));
  await inner.put("gc/touch/x", new TextEncoder().encode('{"chunks":[],"manifests":[]}'));
  const claim = await beginCleaning(store, () => false);
  assertEquals(claim.inTime(), false, "an unreadable touch spares everything");
  assert(store.pulled > 0 && store.pulled <= TOUCH_MAX_BYTES + 2 * PIECE, `${store.pulled}`);
  await claim.finish(false);
});

Deno.test("endless object on a mirror: replicating a key reads no more than the primary's bytes", async () => {
  const key = "storages/000000000001";
  const inner = memory();
  await inner.put(key, new TextEncoder().encode("other"));
  const store = new EndlessStore(inner, (k) => k === key);
  const m: Member = { name: "m", role: "mirror", url: inner.location, store };
  const data = new TextEncoder().encode('{"v":1}');
  await assertRejects(() => replicateCreate(m, key, data), Error, "has diverged");
  assert(store.pulled <= 2 * PIECE, `${store.pulled}`);
});

Deno.test("getSmall: an object of exactly the bound reads, one byte more does not", async () => {
  const store = memory();
  await store.put("a", new Uint8Array(1000).fill(0x20));
  assertEquals((await getSmall(store, "a", 1000, "thing"))?.byteLength, 1000);
  await assertRejects(
    () => getSmall(store, "a", 999, "thing"),
    TrunkError,
    "larger than any thing",
  );
  assertEquals(await getSmall(store, "none", 10, "thing"), null);
});

Deno.test("the largest ref entry a writer may make reads: 10,000 segments, a 1 KiB name", async () => {
  const { inner, trunk } = await trunkWith(() => false);
  const layout = refLayout(trunk.meta.format);
  // A name of 1024 bytes, 3 of them per character where it can.
  const ref = `refs/heads/${"\u20ac".repeat(336)}xxxxx`;
  assertEquals(new TextEncoder().encode(ref).byteLength, 1024);
  const segments = Array.from(
    { length: 10_000 },
    (_, i) => i.toString(16).padStart(64, "0"),
  );
  const entry = {
    trunk: trunk.meta.id,
    ref,
    seq: 1,
    old: "0".repeat(40),
    new: "1".repeat(40),
    time: new Date().toISOString(),
    writer: "\u20ac".repeat(300),
    segments,
  };
  const text = JSON.stringify(entry);
  assert(text.length > 600_000 && text.length < ENTRY_READ_MAX_BYTES);
  await inner.put(layout.entryKey(ref, 1), new TextEncoder().encode(text));
  const state = await readRefState(inner, new MemoryCache(), trunk.meta);
  assertEquals(state.latest.get(ref)?.segments.length, 10_000);
});

Deno.test("a sidecar of a 400,000-segment compaction reads (nested lists are dropped past 20,000 ids)", async () => {
  const store = memory();
  const hex = (i: number, c: string) => i.toString(16).padStart(63, "0") + c;
  const ids = Array.from({ length: 400_000 }, (_, i) => hex(i, "a"));
  const listed = new Map(ids.map((id) => [id, 1_700_000_000_000]));
  const sid = "f".repeat(64);
  const bytes = encodeReplaces(ids, new Map(), listed);
  assert(bytes.byteLength > 50e6 && bytes.byteLength < SIDECAR_MAX_BYTES, `${bytes.byteLength}`);
  await store.put(segmentReplacesKey(sid), bytes);
  await store.put(segmentPackKey(sid), new Uint8Array([1]));
  await store.put(segmentIdxKey(sid), new Uint8Array([1]));
  const got = await readSidecars(store, await listSegmentKeys(store));
  assertEquals(got.get(sid)?.length, 400_000);
});

Deno.test("a manifest of an 800 GiB blob cut at the smallest chunks fits its bound", async () => {
  // Chunks at the chunker's minimum (256 KiB), sizes written in full: the most bytes a
  // chunk takes in a manifest, times the chunks of 800 GiB.
  const chunk = { sha256: "d".repeat(64), size: 256 * 1024 };
  const one = encodeBlobManifest({ oid: "e".repeat(40), size: chunk.size, chunks: [chunk] });
  const two = encodeBlobManifest({
    oid: "e".repeat(40),
    size: 2 * chunk.size,
    chunks: [chunk, chunk],
  });
  const perChunk = two.byteLength - one.byteLength;
  const chunks = (800 * 1024 ** 3) / chunk.size;
  assert(one.byteLength + perChunk * chunks < BLOB_MANIFEST_MAX_BYTES, `${perChunk * chunks}`);
  // And a 100 GiB blob of average chunks (1 MiB) reads through readManifest.
  const store = memory();
  const oid = "e".repeat(40);
  const avg = Array.from({ length: 102_400 }, (_, i) => ({
    sha256: i.toString(16).padStart(64, "0"),
    size: 1024 * 1024,
  }));
  await store.put(
    blobKey(oid),
    encodeBlobManifest({ oid, size: 100 * 1024 ** 3, chunks: avg }),
  );
  assertEquals((await readManifest(store, oid))?.chunks.length, 102_400);
});

Deno.test("endless probe read-back: probing a store reads no more than the probe wrote", async () => {
  const store = new EndlessStore(memory(), (k) => k.endsWith(".data"));
  const r = await probeStore(store);
  assertEquals(r.ok, false);
  assertMatch(r.problems.join("\n"), /read after write returned different bytes/);
  assert(store.pulled > 0 && store.pulled <= 2 * PIECE, `${store.pulled}`);
});
