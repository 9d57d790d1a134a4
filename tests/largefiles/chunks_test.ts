/**
 * The chunk store in-process on a real (memory) Store: round trip, re-upload cost of a
 * middle edit counted in store operations, resumed uploads, and every kind of damage
 * detected with the damaged key named.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../assert.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { CountingStore } from "../../src/storage/counting.ts";
import { requestCounts, resetRequestCounts } from "../../src/storage/metrics.ts";
import { readAll, type Store } from "../../src/storage/store.ts";
import {
  BlobHasher,
  knownChunks,
  readLargeBlob,
  readManifest,
  storedBlobs,
  storeLargeBlob,
} from "../../src/trunk/chunks.ts";
import { encodeBlobManifest } from "../../src/trunk/blob_manifest.ts";
import { TrunkError } from "../../src/trunk/errors.ts";
import { blobKey, chunkKey } from "../../src/trunk/layout.ts";
import { CODEC_ZSTD, decodeChunk, encodeChunk } from "../../src/trunk/chunk_codec.ts";
import * as zlib from "node:zlib";
import { pseudoRandom, textLike } from "./data.ts";

function oidOf(data: Uint8Array, algo: "sha1" | "sha256" = "sha1"): string {
  const h = new BlobHasher(algo, data.byteLength);
  h.update(data);
  return h.digest();
}

/** A stream of `data` in pieces, as git's pipe delivers it. */
function streamOf(data: Uint8Array, piece = 65536): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(ctl) {
      if (at >= data.byteLength) return ctl.close();
      ctl.enqueue(data.slice(at, at + piece));
      at += piece;
    },
  });
}

async function store(data: Uint8Array, s: Store, known?: Set<string>) {
  const oid = oidOf(data);
  return await storeLargeBlob(
    s,
    { oid, size: data.byteLength, content: streamOf(data) },
    known ?? await knownChunks(s),
  );
}

function puts(): number {
  return requestCounts().requests["store.put"] ?? 0;
}

Deno.test("chunks: a blob round-trips byte-exactly, verified, in order", async () => {
  const s = MemoryStore.named(`rt-${crypto.randomUUID()}`);
  const data = pseudoRandom(20 << 20, 1);
  const stored = await store(data, s);
  assertEquals(stored.uploadedChunks, stored.manifest.chunks.length);
  assertEquals(stored.uploadedBytes, data.byteLength);
  assert(stored.manifest.chunks.length >= 10);
  const m = await readManifest(s, stored.manifest.oid);
  assertEquals(m, stored.manifest);
  assertEquals(await storedBlobs(s), new Set([stored.manifest.oid]));
  const back = await readAll(readLargeBlob(s, m!));
  assertEquals(back.byteLength, data.byteLength);
  assert(back.every((v, i) => v === data[i]));
  assertEquals(await readManifest(s, "0".repeat(40)), null);
});

Deno.test("chunks: editing the middle re-uploads only the chunks around the edit", async () => {
  const s = new CountingStore(MemoryStore.named(`edit-${crypto.randomUUID()}`));
  const data = pseudoRandom(40 << 20, 2);
  const first = await store(data, s);
  const edited = data.slice();
  edited.set(pseudoRandom(4096, 9), 20 << 20);
  resetRequestCounts();
  const second = await store(edited, s);
  // A few chunks and one manifest; one list of chunks/ to learn what is there.
  assert(second.uploadedChunks >= 1 && second.uploadedChunks <= 2, `${second.uploadedChunks}`);
  assertEquals(puts(), second.uploadedChunks + 1);
  assertEquals(requestCounts().requests["store.list"], 1);
  assert(second.uploadedBytes <= 8 << 20);
  assertEquals(first.manifest.chunks.length, second.manifest.chunks.length);
  // The same content again uploads nothing but its manifest.
  resetRequestCounts();
  const third = await store(edited, s);
  assertEquals(third.uploadedChunks, 0);
  assertEquals(puts(), 1);
});

Deno.test("chunks: an interrupted upload resumes without sending chunks again", async () => {
  const inner = MemoryStore.named(`resume-${crypto.randomUUID()}`);
  const data = pseudoRandom(16 << 20, 3);
  let left = 5;
  const failing: Store = {
    location: inner.location,
    capabilities: { ...inner.capabilities, parallelism: 1 },
    get: (k, r) => inner.get(k, r),
    put: async (key, d) => {
      if (left-- <= 0) throw new Error("connection reset");
      await inner.put(key, d);
    },
    create: (k, d) => inner.create(k, d),
    list: (p, a) => inner.list(p, a),
    delete: (k) => inner.delete(k),
    close: () => inner.close(),
  };
  await assertRejects(() => store(data, failing), Error, "connection reset");
  assertEquals((await knownChunks(inner)).size, 5);
  assertEquals((await storedBlobs(inner)).size, 0, "no manifest for a half-uploaded blob");
  const s = new CountingStore(inner);
  resetRequestCounts();
  const again = await store(data, s);
  assertEquals(again.uploadedChunks, again.manifest.chunks.length - 5);
  assertEquals(puts(), again.uploadedChunks + 1);
});

Deno.test("chunks: a short or long source is refused and no manifest is written", async () => {
  const s = MemoryStore.named(`short-${crypto.randomUUID()}`);
  const data = pseudoRandom(3 << 20, 4);
  await assertRejects(
    () =>
      storeLargeBlob(s, {
        oid: oidOf(data),
        size: data.byteLength + 10,
        content: streamOf(data),
      }, new Set()),
    TrunkError,
    "ended after",
  );
  assertEquals((await storedBlobs(s)).size, 0);
});

async function damaged(
  mutate: (s: Store, chunks: { sha256: string; size: number }[], oid: string) => Promise<void>,
): Promise<Error> {
  const s = MemoryStore.named(`bad-${crypto.randomUUID()}`);
  const stored = await store(pseudoRandom(12 << 20, 5), s);
  await mutate(s, stored.manifest.chunks, stored.manifest.oid);
  const m = await readManifest(s, stored.manifest.oid);
  return await assertRejects(() => readAll(readLargeBlob(s, m!)), TrunkError);
}

Deno.test("chunks: a corrupted chunk is detected, naming its key", async () => {
  let key = "";
  const err = await damaged(async (s, chunks) => {
    key = chunkKey(chunks[3].sha256);
    const bytes = await readAll((await s.get(key))!);
    bytes[100] ^= 1;
    await s.put(key, bytes);
  });
  assertStringIncludes(err.message, key);
  assertStringIncludes(err.message, "corrupt");
});

Deno.test("chunks: a truncated, overlong or missing chunk is named", async () => {
  let key = "";
  let err = await damaged(async (s, chunks) => {
    key = chunkKey(chunks[1].sha256);
    await s.put(key, new Uint8Array(10));
  });
  assertStringIncludes(err.message, key);
  err = await damaged(async (s, chunks) => {
    key = chunkKey(chunks[0].sha256);
    await s.put(key, new Uint8Array(chunks[0].size + 1));
  });
  assertStringIncludes(err.message, key);
  err = await damaged(async (s, chunks) => {
    key = chunkKey(chunks[2].sha256);
    await s.delete(key);
  });
  assertStringIncludes(err.message, key);
  assertStringIncludes(err.message, "missing");
});

Deno.test("chunks: a manifest whose chunks do not make its blob is named", async () => {
  let oid = "";
  const err = await damaged(async (s, chunks, o) => {
    oid = o;
    const swapped = [chunks[1], chunks[0], ...chunks.slice(2)];
    const size = chunks.reduce((n, c) => n + c.size, 0);
    await s.put(blobKey(o), encodeBlobManifest({ oid: o, size, chunks: swapped }));
  });
  assertStringIncludes(err.message, blobKey(oid));
  assertStringIncludes(err.message, "reassembles");
});

Deno.test("chunks: sha256 object ids are computed and verified too", async () => {
  const s = MemoryStore.named(`sha256-${crypto.randomUUID()}`);
  const data = pseudoRandom(5 << 20, 6);
  const oid = oidOf(data, "sha256");
  assertEquals(oid.length, 64);
  const stored = await storeLargeBlob(
    s,
    { oid, size: data.byteLength, content: streamOf(data) },
    new Set(),
  );
  const back = await readAll(readLargeBlob(s, stored.manifest));
  assertEquals(back.byteLength, data.byteLength);
});

/** Bytes each chunk of `m` takes in the store. */
async function storedSizes(s: Store, m: { chunks: { sha256: string }[] }): Promise<number[]> {
  const sizes = new Map((await s.list("chunks/")).map((e) => [e.key, e.size]));
  return m.chunks.map((c) => sizes.get(chunkKey(c.sha256)) ?? -1);
}

Deno.test("chunks: text-like chunks are stored compressed, random ones raw, both read back", async () => {
  const s = MemoryStore.named(`codec-${crypto.randomUUID()}`);
  const text = textLike(12 << 20, 7);
  const t = await store(text, s);
  const tSizes = await storedSizes(s, t.manifest);
  const tStored = tSizes.reduce((a, b) => a + b, 0);
  assert(tStored <= text.byteLength * 0.35, `text stored as ${tStored} of ${text.byteLength}`);
  assertEquals(t.storedBytes, tStored);
  assertEquals(t.uploadedBytes, text.byteLength);
  t.manifest.chunks.forEach((c, i) => assert(tSizes[i] < c.size, `chunk ${i} not compressed`));
  assertEquals(await readAll(readLargeBlob(s, t.manifest)), text);

  const rand = pseudoRandom(12 << 20, 8);
  const r = await store(rand, s);
  // Incompressible: every chunk is stored as its plain bytes, exactly.
  assertEquals(await storedSizes(s, r.manifest), r.manifest.chunks.map((c) => c.size));
  assertEquals(r.storedBytes, rand.byteLength);
  assertEquals(await readAll(readLargeBlob(s, r.manifest)), rand);
});

Deno.test("chunks: a chunk stored raw by an older writer still reads next to compressed ones", async () => {
  const s = MemoryStore.named(`old-${crypto.randomUUID()}`);
  const text = textLike(6 << 20, 9);
  const t = await store(text, s);
  // What a writer without compression stored: the plain bytes under the same name.
  let at = 0;
  for (const [i, c] of t.manifest.chunks.entries()) {
    if (i % 2 === 0) await s.put(chunkKey(c.sha256), text.slice(at, at + c.size));
    at += c.size;
  }
  const sizes = await storedSizes(s, t.manifest);
  assertEquals(sizes[0], t.manifest.chunks[0].size);
  assert(sizes[1] < t.manifest.chunks[1].size);
  assertEquals(await readAll(readLargeBlob(s, t.manifest)), text);
});

Deno.test("chunk codec: what the store returns is untrusted", () => {
  const plain = textLike(1 << 20, 10);
  const stored = encodeChunk(plain);
  assertEquals(stored[0], CODEC_ZSTD);
  assertEquals(decodeChunk(stored, plain.byteLength, "k"), plain);
  const bad = (bytes: Uint8Array, size: number, why: string) => {
    const e = (() => {
      try {
        decodeChunk(bytes, size, "chunks/abc");
      } catch (e) {
        return e as Error;
      }
      throw new Error(`accepted: ${why}`);
    })();
    assert(e instanceof TrunkError, why);
    assertStringIncludes(e.message, "chunks/abc");
    assertStringIncludes(e.message, "corrupt");
  };
  bad(stored.slice(0, stored.byteLength >> 1), plain.byteLength, "truncated zstd");
  const codec = stored.slice();
  codec[0] = 7;
  bad(codec, plain.byteLength, "unknown codec");
  bad(new Uint8Array(plain.byteLength + 1), plain.byteLength, "longer than plain");
  bad(stored, plain.byteLength - 1, "decompresses past the manifest's size");
  bad(stored, plain.byteLength + 100, "decompresses short of the manifest's size");
  // A bomb: a few hundred bytes that would inflate to 256 MiB stop at the listed size.
  const bomb = new Uint8Array([
    CODEC_ZSTD,
    // deno-lint-ignore no-explicit-any
    ...(zlib as any).zstdCompressSync(new Uint8Array(256 << 20)),
  ]);
  assert(bomb.byteLength < 64 << 10);
  bad(bomb, 4 << 20, "decompression bomb");
  // Random bytes gain nothing: stored as they are.
  const rand = pseudoRandom(1 << 20, 11);
  assertEquals(encodeChunk(rand), rand);
});
