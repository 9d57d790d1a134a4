/**
 * The content-defined chunker: deterministic whatever the input's piece sizes, chunk
 * sizes within bounds and around the average, boundaries that survive insertions, and
 * pinned cut points (a changed gear table would silently stop deduplication).
 */
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { Chunker, chunkStream, DEFAULT_CHUNKING } from "../../src/trunk/chunker.ts";
import { sha256Hex } from "../../src/trunk/chunks.ts";
import { pseudoRandom } from "./data.ts";

function chunkAll(data: Uint8Array, piece: number): Uint8Array[] {
  const c = new Chunker();
  const out: Uint8Array[] = [];
  for (let at = 0; at < data.byteLength; at += piece) {
    out.push(...c.push(data.subarray(at, at + piece)));
  }
  const last = c.finish();
  if (last) out.push(last);
  return out;
}

const sizes = (cs: Uint8Array[]) => cs.map((c) => c.byteLength);

Deno.test("chunker: same cut points whatever the input's piece sizes; bytes preserved", () => {
  const data = pseudoRandom(24 << 20, 7);
  const a = chunkAll(data, 64 * 1024);
  const b = chunkAll(data, 1_000_003);
  const c = chunkAll(data, data.byteLength);
  const d = chunkAll(data, 4099);
  assertEquals(sizes(a), sizes(b));
  assertEquals(sizes(a), sizes(c));
  assertEquals(sizes(a), sizes(d));
  assertEquals(sizes(a).reduce((x, y) => x + y, 0), data.byteLength);
  let at = 0;
  for (const chunk of a) {
    assert(chunk.every((v, i) => v === data[at + i]));
    at += chunk.byteLength;
  }
});

Deno.test("chunker: sizes within min/max and averaging about 1 MiB on random data", () => {
  const data = pseudoRandom(96 << 20, 3);
  const s = sizes(chunkAll(data, 1 << 20));
  const { min, max } = DEFAULT_CHUNKING;
  for (const n of s.slice(0, -1)) assert(n >= min && n <= max, `chunk of ${n} bytes`);
  const avg = data.byteLength / s.length;
  assert(avg > 700 * 1024 && avg < 1.6 * 1024 * 1024, `average ${avg}`);
});

Deno.test("chunker: data with no cut point is cut at max; tiny data is one chunk", () => {
  const zeros = new Uint8Array(10 << 20);
  const s = sizes(chunkAll(zeros, 1 << 20));
  for (const n of s.slice(0, -1)) assert(n <= DEFAULT_CHUNKING.max);
  assertEquals(s.reduce((x, y) => x + y, 0), zeros.byteLength);
  assertEquals(sizes(chunkAll(new Uint8Array(1000).fill(5), 100)), [1000]);
  assertEquals(new Chunker().finish(), null);
});

Deno.test("chunker: inserting bytes in the middle leaves most chunks unchanged", async () => {
  const data = pseudoRandom(48 << 20, 11);
  const mid = data.byteLength >> 1;
  const insert = pseudoRandom(777, 99);
  const edited = new Uint8Array(data.byteLength + insert.byteLength);
  edited.set(data.subarray(0, mid));
  edited.set(insert, mid);
  edited.set(data.subarray(mid), mid + insert.byteLength);
  const before = new Set(await Promise.all(chunkAll(data, 1 << 20).map(sha256Hex)));
  const after = await Promise.all(chunkAll(edited, 1 << 20).map(sha256Hex));
  const fresh = after.filter((h) => !before.has(h));
  assert(fresh.length >= 1 && fresh.length <= 2, `${fresh.length} new of ${after.length}`);
  // Deleting bytes likewise.
  const cut = new Uint8Array(data.byteLength - 5000);
  cut.set(data.subarray(0, mid));
  cut.set(data.subarray(mid + 5000), mid);
  const afterCut = await Promise.all(chunkAll(cut, 1 << 20).map(sha256Hex));
  assert(afterCut.filter((h) => !before.has(h)).length <= 2);
});

Deno.test("chunker: cut points are pinned (the gear table is part of the format)", () => {
  const s = sizes(chunkAll(pseudoRandom(8 << 20, 42), 1 << 20));
  assertEquals(s, PINNED);
});

// From the implementation as released; a change here loses deduplication with every
// chunk already stored.
const PINNED = [1725350, 870532, 359912, 1158132, 1458477, 1539901, 364954, 911350];

Deno.test("chunker: as a TransformStream", async () => {
  const data = pseudoRandom(6 << 20, 5);
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(chunkStream());
  const got: number[] = [];
  for await (const c of stream) got.push(c.byteLength);
  assertEquals(got, sizes(chunkAll(data, 1 << 20)));
});

Deno.test("chunker: parameters are validated", async () => {
  await assertRejects(
    () => Promise.resolve().then(() => new Chunker({ min: 10, avg: 1000, max: 5000 })),
    RangeError,
    "power of two",
  );
});
