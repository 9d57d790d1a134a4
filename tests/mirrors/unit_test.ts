/**
 * The mirror layer on in-memory stores: fan-out writes that name the failing storage,
 * primary-decided creates, divergence never overwritten, catch-up copying only what is
 * missing, storage maps without secrets, segment repair.
 */
import { assert, assertEquals, assertMatch, assertRejects } from "../assert.ts";
import { Trunk } from "../../mod.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { openStore } from "../../src/storage/registry.ts";
import { readRefState } from "../../src/trunk/refs.ts";
import { getBytes, type Store, StoreError } from "../../src/storage/store.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { TrunkError } from "../../src/trunk/errors.ts";
import { chunkKey, segmentPackKey } from "../../src/trunk/layout.ts";
import { refEntryKey } from "../keys.ts";
import { encodeChunk } from "../../src/trunk/chunk_codec.ts";
import { textLike } from "../../harness/text_like.ts";
import { ensureMeta, type TrunkMeta } from "../../src/trunk/meta.ts";
import { type Member, MirroredStore, StorageFailure } from "../../src/trunk/mirrors.ts";
import { downloadSegmentVerified } from "../../src/trunk/segment_copies.ts";
import {
  decodeMap,
  encodeMap,
  publicSettings,
  readLatestMap,
  writeMap,
} from "../../src/trunk/storage_map.ts";
import { syncMirror } from "../../src/trunk/sync.ts";
import { member, sha256 } from "./harness.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A store that is "down": every call fails like a refused connection. */
class DownStore extends MemoryStore {
  override get(): Promise<ReadableStream<Uint8Array> | null> {
    return Promise.reject(new StoreError("connection refused", "unreachable"));
  }
  override put(): Promise<void> {
    return Promise.reject(new StoreError("connection refused", "unreachable"));
  }
  override create(): Promise<boolean> {
    return Promise.reject(new StoreError("connection refused", "unreachable"));
  }
  override list(): Promise<never> {
    return Promise.reject(new StoreError("connection refused", "unreachable"));
  }
}

Deno.test("mirrored put goes everywhere; a failing mirror fails it, named", async () => {
  const p = member("primary", "primary");
  const a = member("a", "mirror");
  const set = new MirroredStore([p, a]);
  await set.put("chunks/x", enc.encode("hello"));
  assertEquals(dec.decode((await getBytes(a.store, "chunks/x"))!), "hello");
  const down = member("down", "mirror", new DownStore("memory://down"));
  const set2 = new MirroredStore([p, a, down]);
  const e = await assertRejects(() => set2.put("chunks/y", enc.encode("x")), StorageFailure);
  assertMatch(e.message, /mirror "down" .* is unreachable while writing chunks\/y/);
});

Deno.test("mirrored put of a stream: every storage gets every byte", async () => {
  const p = member("primary", "primary");
  const a = member("a", "mirror");
  const b = member("b", "mirror");
  const data = new Uint8Array(300_000).map((_, i) => (i * 7919) % 251);
  const stream = new Blob([data]).stream();
  await new MirroredStore([p, a, b]).put("segments/s.pack", stream);
  for (const m of [p, a, b]) {
    assertEquals(await sha256((await getBytes(m.store, "segments/s.pack"))!), await sha256(data));
  }
});

Deno.test("create: decided on the primary; a mirror with other bytes has diverged and keeps them", async () => {
  const p = member("primary", "primary");
  const a = member("a", "mirror");
  const set = new MirroredStore([p, a]);
  const key = refEntryKey("refs/heads/main", 1);
  assert(await set.create(key, enc.encode("one")));
  assertEquals(dec.decode((await getBytes(a.store, key))!), "one");
  // Lost on the primary: the mirror is not touched.
  assertEquals(await set.create(key, enc.encode("two")), false);
  assertEquals(dec.decode((await getBytes(a.store, key))!), "one");
  // The mirror already has other bytes at the next seq.
  const key2 = refEntryKey("refs/heads/main", 2);
  await a.store.create(key2, enc.encode("rogue"));
  const e = await assertRejects(() => set.create(key2, enc.encode("mine")), StorageFailure);
  assertEquals((e as StorageFailure).kind, "diverged");
  assertEquals(dec.decode((await getBytes(a.store, key2))!), "rogue");
});

Deno.test("reads fail over to the first mirror that answers, and say so once", async () => {
  const p = member("primary", "primary", new DownStore("memory://p"));
  const a = member("a", "mirror");
  await a.store.put("trunk.json", enc.encode("{}"));
  const notes: string[] = [];
  const set = new MirroredStore([p, a], { notice: (m) => notes.push(m) });
  assertEquals((await set.list("")).map((e) => e.key), ["trunk.json"]);
  await set.list("");
  assertEquals(notes.length, 1);
  assertMatch(notes[0], /primary "primary" .* is unreachable .*reading from mirror "a"/);
  // A writer's view never reads from a mirror.
  const w = new MirroredStore([p, a], { forWrite: true });
  await assertRejects(() => w.list(""), StorageFailure, "a push needs the primary");
});

async function trunkWithEntries(p: Member, n: number): Promise<TrunkMeta> {
  const meta = await ensureMeta(p.store, "sha1");
  const pack = enc.encode("PACK good");
  await p.store.put(segmentPackKey(await sha256(pack)), pack);
  await p.store.put(`segments/${await sha256(pack)}.idx`, enc.encode("idx"));
  for (let i = 1; i <= n; i++) {
    await p.store.create(refEntryKey("refs/heads/main", i), enc.encode(`{"seq":${i}}`));
  }
  return meta;
}

Deno.test("sync: a mirror behind is caught up with only what it lacks, byte for byte", async () => {
  const p = member("primary", "primary");
  const a = member("a", "mirror");
  const id = await trunkWithEntries(p, 3);
  const cache = new MemoryCache();
  const status = await syncMirror(p, a, cache, id, { write: false });
  assertEquals([status.state, status.behind], ["behind", 3]);
  // A pack whose bytes do not match its name is corrupt on the primary: never copied.
  const bad = "b".repeat(64);
  await p.store.put(segmentPackKey(bad), enc.encode("PACK damaged"));
  await p.store.put(`segments/${bad}.idx`, enc.encode("idx"));
  await assertRejects(() => syncMirror(p, a, cache, id, { write: true }), TrunkError, "corrupt");
  assertEquals(await getBytes(a.store, segmentPackKey(bad)), null);
  await p.store.delete(segmentPackKey(bad));
  await p.store.delete(`segments/${bad}.idx`);
  const r = await syncMirror(p, a, cache, id, { write: true });
  // The good pack went over in the failed attempt: only its index is left to copy.
  assertEquals([r.state, r.replayed, r.copied], ["caught-up", 3, 1]);
  const good = await sha256(enc.encode("PACK good"));
  assertEquals(await getBytes(a.store, segmentPackKey(good)), enc.encode("PACK good"));
  for (let i = 1; i <= 3; i++) {
    const k = refEntryKey("refs/heads/main", i);
    assertEquals(await getBytes(a.store, k), await getBytes(p.store, k));
  }
  assertEquals(await getBytes(a.store, "trunk.json"), await getBytes(p.store, "trunk.json"));
  assertEquals((await syncMirror(p, a, cache, id, { write: true })).state, "in-sync");
});

Deno.test("sync: an extra or different entry on a mirror is diverged, reported, untouched", async () => {
  const p = member("primary", "primary");
  const a = member("a", "mirror");
  const id = await trunkWithEntries(p, 1);
  const cache = new MemoryCache();
  await syncMirror(p, a, cache, id, { write: true });
  const k2 = refEntryKey("refs/heads/main", 2);
  await a.store.create(k2, enc.encode("rogue"));
  const r = await syncMirror(p, a, cache, id, { write: true });
  assertEquals(r.state, "diverged");
  assertMatch(r.detail!, /refs\/.*000000000002, which the primary does not/);
  await p.store.create(k2, enc.encode("other"));
  const r2 = await syncMirror(p, a, new MemoryCache(), id, { write: true });
  assertEquals(r2.state, "diverged");
  assertMatch(r2.detail!, /differs from the primary's/);
  assertEquals(dec.decode((await getBytes(a.store, k2))!), "rogue");
});

/** Replace a stored object with other bytes of the same size, as a restore from backup does. */
async function rewrite(store: Store, key: string, bytes: Uint8Array): Promise<void> {
  const held = (await getBytes(store, key))!;
  assertEquals(held.byteLength, bytes.byteLength, "same size");
  assert(!held.every((b, i) => b === bytes[i]), "other bytes");
  await new Promise((r) => setTimeout(r, 5)); // another modified time, as any later write
  await store.delete(key);
  await store.put(key, bytes);
}

Deno.test("sync: an entry rewritten with the same size is read again, on the mirror and on the primary", async () => {
  const p = member("primary", "primary");
  const a = member("a", "mirror");
  const id = await trunkWithEntries(p, 2);
  const cache = new MemoryCache();
  const k2 = refEntryKey("refs/heads/main", 2);
  // Both sides' entries are cached by the catch-up and the check after it.
  assertEquals((await syncMirror(p, a, cache, id, { write: true })).state, "caught-up");
  assertEquals((await syncMirror(p, a, cache, id, { write: true })).state, "in-sync");
  // The mirror is restored from a backup holding another entry 2 of the same size.
  await rewrite(a.store, k2, enc.encode(`{"seq":9}`));
  const r = await syncMirror(p, a, cache, id, { write: true });
  assertEquals(r.state, "diverged");
  assertMatch(r.detail!, /000000000002 differs from the primary's/);
  assertEquals(dec.decode((await getBytes(a.store, k2))!), `{"seq":9}`, "never overwritten");
  // The mirror is put right; then the primary is restored with another entry 2 of that size.
  await rewrite(a.store, k2, enc.encode(`{"seq":2}`));
  assertEquals((await syncMirror(p, a, cache, id, { write: true })).state, "in-sync");
  await rewrite(p.store, k2, enc.encode(`{"seq":8}`));
  const r2 = await syncMirror(p, a, cache, id, { write: true });
  assertEquals(r2.state, "diverged");
  assertMatch(r2.detail!, /000000000002 differs from the primary's/);
});

Deno.test("sync: a mirror restored from a backup gets trunk.json copied again, or is diverged if another trunk's", async () => {
  const p = member("primary", "primary");
  const a = member("a", "mirror");
  const id = await trunkWithEntries(p, 1);
  const cache = new MemoryCache();
  assertEquals((await syncMirror(p, a, cache, id, { write: true })).state, "caught-up");
  // Restored from a backup taken before the mirror was added: empty.
  for (const { key } of await a.store.list("")) await a.store.delete(key);
  const r = await syncMirror(p, a, cache, id, { write: true });
  assertEquals([r.state, r.replayed], ["caught-up", 1]);
  assertEquals(await getBytes(a.store, "trunk.json"), await getBytes(p.store, "trunk.json"));
  // Restored with another trunk's trunk.json (the same size: only the id differs).
  const q = member("q", "primary");
  await ensureMeta(q.store, "sha1");
  await rewrite(a.store, "trunk.json", (await getBytes(q.store, "trunk.json"))!);
  const r2 = await syncMirror(p, a, cache, id, { write: false });
  assertEquals(r2.state, "diverged");
  assertMatch(r2.detail!, /holds a different trunk/);
});

Deno.test("sync: a mirror holding another trunk is diverged; a down mirror is unreachable", async () => {
  const p = member("primary", "primary");
  const a = member("a", "mirror");
  const id = await trunkWithEntries(p, 1);
  await ensureMeta(a.store, "sha1");
  const r = await syncMirror(p, a, new MemoryCache(), id, { write: true });
  assertEquals(r.state, "diverged");
  assertMatch(r.detail!, /holds a different trunk/);
  const d = member("d", "mirror", new DownStore("memory://d"));
  assertEquals(
    (await syncMirror(p, d, new MemoryCache(), id, { write: true })).state,
    "unreachable",
  );
});

Deno.test("storage map: non-secret settings only; secrets in URLs refused; highest seq wins", async () => {
  assertEquals(
    publicSettings("s3", {
      endpoint: "http://x",
      region: "eu",
      "secret-key": "s",
      "access-key": "a",
      bogus: "b",
    }),
    { endpoint: "http://x", region: "eu" },
  );
  const base = { name: "p", role: "primary" as const, backend: "s3", settings: {} };
  for (const url of ["s3://user:pw@bucket/t.trunk", "s3://bucket/t.trunk?secret-key=x"]) {
    let threw = false;
    try {
      encodeMap({ seq: 1, time: "", writer: "", storages: [{ ...base, url }] });
    } catch (e) {
      threw = true;
      assertMatch(String(e), /secret/);
    }
    assert(threw, url);
  }
  const store = new MemoryStore("memory://map");
  const s = [{ ...base, url: "s3://bucket/t.trunk" }];
  await writeMap(store, s, "w", 0);
  await writeMap(
    store,
    [...s, {
      ...base,
      name: "m",
      role: "mirror",
      backend: "local",
      url: "local:///m/trunks/t.trunk",
    }],
    "w",
    0,
  );
  const latest = await readLatestMap(store);
  assertEquals(latest?.map.seq, 2);
  assertEquals(latest?.map.storages.length, 2);
  assertEquals(decodeMap(latest!.bytes, "k").storages[1].name, "m");
});

Deno.test("a corrupt segment is read from a mirror and repaired where it was bad", async () => {
  const pack = enc.encode("PACK pretend");
  const id = await sha256(pack);
  const p = member("primary", "primary");
  const a = member("a", "mirror");
  await p.store.put(segmentPackKey(id), enc.encode("PACK damaged"));
  await a.store.put(segmentPackKey(id), pack);
  const notes: string[] = [];
  const set = new MirroredStore([p, a], { notice: (m) => notes.push(m) });
  const dir = await Deno.makeTempDir();
  assertEquals(await downloadSegmentVerified(set, id, `${dir}/x.pack`), pack.byteLength);
  assertEquals(await sha256((await getBytes(p.store, segmentPackKey(id)))!), id);
  assertMatch(notes[0], /repaired the copy on primary "primary"/);
});

Deno.test("sync: an object corrupt on the primary is copied from another mirror, and the primary repaired", async () => {
  const p = member("primary", "primary");
  const a = member("a", "mirror");
  const b = member("b", "mirror");
  const id = await trunkWithEntries(p, 1);
  const cache = new MemoryCache();
  await syncMirror(p, a, cache, id, { write: true });
  const good = await sha256(enc.encode("PACK good"));
  await p.store.put(segmentPackKey(good), enc.encode("PACK bad!"));
  const lines: string[] = [];
  const r = await syncMirror(p, b, cache, id, {
    write: true,
    alternates: [a],
    progress: (l) => lines.push(l),
  });
  assertEquals(r.state, "caught-up");
  assertEquals(await getBytes(b.store, segmentPackKey(good)), enc.encode("PACK good"));
  assertEquals(await getBytes(p.store, segmentPackKey(good)), enc.encode("PACK good"));
  assert(
    lines.some((l) => /copied from mirror "a" instead, and repaired the primary's copy/.test(l)),
  );
});

Deno.test("library: a mirror the storage map names gets pushes only with trustMirrors", async () => {
  const space = `sdk-mirror-${crypto.randomUUID()}`;
  const primaryUrl = `memory://${space}-p/trunks/app.trunk`;
  const mirrorUrl = `memory://${space}-m/trunks/app.trunk`;
  {
    await using t = await Trunk.open({ url: primaryUrl, create: true, writer: "seed" });
    t.write("README.md", "hello\n");
    await t.commit({ message: "first", branch: "main" });
    await t.push();
  }
  const p = await openStore(primaryUrl);
  await writeMap(
    p,
    [
      { name: "primary", role: "primary", url: primaryUrl, backend: "memory", settings: {} },
      { name: "m", role: "mirror", url: mirrorUrl, backend: "memory", settings: {} },
    ],
    "test",
    0,
  );
  const m = await openStore(mirrorUrl);
  // Catch the new mirror up (what storage add --mirror does), then push through the library.
  const meta = JSON.parse(dec.decode((await getBytes(p, "trunk.json"))!));
  const caught = await syncMirror(
    member("primary", "primary", p),
    member("m", "mirror", m),
    new MemoryCache(),
    meta,
    { write: true },
  );
  assertEquals(caught.state, "caught-up");
  {
    // Not approved: the map is only a suggestion, the mirror gets nothing.
    await using t = await Trunk.open({ url: primaryUrl, writer: "lib" });
    t.write("b.txt", "two\n");
    await t.commit({ message: "second", branch: "main" });
    await t.push();
  }
  assertEquals(
    (await readRefState(m, new MemoryCache(), meta)).latest.get("refs/heads/main")?.seq,
    1,
  );
  await syncMirror(
    member("primary", "primary", p),
    member("m", "mirror", m),
    new MemoryCache(),
    meta,
    { write: true },
  );
  {
    await using t = await Trunk.open({ url: primaryUrl, writer: "lib", trustMirrors: ["m"] });
    t.write("c.txt", "three\n");
    await t.commit({ message: "third", branch: "main" });
    await t.push();
  }
  const onP = await readRefState(p, new MemoryCache(), meta);
  const onM = await readRefState(m, new MemoryCache(), meta);
  assertEquals(onM.latest.get("refs/heads/main")?.new, onP.latest.get("refs/heads/main")?.new);
  assertEquals(onM.latest.get("refs/heads/main")?.seq, 3);
});

Deno.test("sync: compressed and raw chunks are copied (checked by their plain SHA-256); a bad one never", async () => {
  const p = member("primary", "primary");
  const a = member("a", "mirror");
  const id = await trunkWithEntries(p, 1);
  const text = textLike(1 << 20, 3);
  const packed = encodeChunk(text);
  assert(packed.byteLength < text.byteLength / 2, "text-like data compresses");
  const raw = new Uint8Array(300_000).map((_, i) => (i * 7919) % 251);
  const tSha = await sha256(text);
  const rSha = await sha256(raw);
  await p.store.put(chunkKey(tSha), packed);
  await p.store.put(chunkKey(rSha), raw);
  const bad = "c".repeat(64);
  await p.store.put(chunkKey(bad), packed);
  await assertRejects(
    () => syncMirror(p, a, new MemoryCache(), id, { write: true }),
    TrunkError,
    "corrupt",
  );
  assertEquals(await getBytes(a.store, chunkKey(bad)), null);
  await p.store.delete(chunkKey(bad));
  const r = await syncMirror(p, a, new MemoryCache(), id, { write: true });
  assertEquals(r.state, "caught-up");
  assertEquals(await getBytes(a.store, chunkKey(tSha)), packed);
  assertEquals(await getBytes(a.store, chunkKey(rSha)), raw);
});

Deno.test("a mirrored store keeps no more creates in flight than its members written take", () => {
  const wide = (name: string, role: "primary" | "mirror", n: number) => {
    const store = new MemoryStore(`memory://${name}`);
    Object.assign(store.capabilities, { createParallelism: n });
    return member(name, role, store);
  };
  const p = wide("wide-primary", "primary", 128);
  // A mirror without the capability takes its parallelism (a memory store's: 8).
  const set = new MirroredStore([p, wide("wide-a", "mirror", 64), member("b", "mirror")]);
  assertEquals(set.capabilities.createParallelism, 8);
  assertEquals(set.capabilities.parallelism, 8);
  assertEquals(
    new MirroredStore([p, wide("wide-c", "mirror", 64)]).capabilities.createParallelism,
    64,
  );
  // Mirrors skipped are not written: the primary alone sets it.
  set.skipMirrors();
  assertEquals(set.capabilities.createParallelism, 128);
  assertEquals(new MirroredStore([p]).capabilities.createParallelism, 128);
});

Deno.test("sync (storage sync's thorough pass): a mirror with every entry but a lost segment gets it copied again", async () => {
  const p = member("primary", "primary");
  const a = member("a", "mirror");
  const id = await trunkWithEntries(p, 2);
  const cache = new MemoryCache();
  assertEquals((await syncMirror(p, a, cache, id, { write: true })).state, "caught-up");
  // The mirror lost a segment (a lifecycle rule, a hand-made cleanup); its ref log is whole.
  const pack = segmentPackKey(await sha256(enc.encode("PACK good")));
  await a.store.delete(pack);
  // A push's pass compares the ref logs only; an explicit sync also restores the data.
  const r = await syncMirror(p, a, cache, id, { write: true, thorough: true });
  assertEquals([r.state, r.copied], ["caught-up", 1]);
  assertEquals(await getBytes(a.store, pack), enc.encode("PACK good"));
  assertEquals(
    (await syncMirror(p, a, cache, id, { write: true, thorough: true })).state,
    "in-sync",
  );
});
