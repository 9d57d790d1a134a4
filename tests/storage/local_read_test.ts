/**
 * Local reads: a small object is read in one call, one up to 16 MiB into one buffer of its
 * size, a larger one streamed in pieces of 1 MiB; all give back exactly what was stored, on
 * either side of each boundary; a range from the start past the end is a whole read.
 */
import { getBytes } from "../../src/storage/store.ts";
import { openStore } from "../../src/storage/registry.ts";
import { assert, assertEquals } from "../assert.ts";

Deno.test("local: objects read back whole around the one-call size, empty and ranged too", async () => {
  const root = await Deno.makeTempDir({ prefix: "trunks-read-" });
  const store = await openStore(`local://${root}/trunks/t.trunk`);
  try {
    const MiB = 1 << 20;
    for (const size of [0, 1, 300, MiB - 1, MiB, MiB + 1, 3 * MiB + 7, 16 * MiB, 16 * MiB + 1]) {
      const data = new Uint8Array(size).map((_, i) => (i * 31 + size) & 0xff);
      await store.put(`obj/${size}`, data);
      const got = await getBytes(store, `obj/${size}`);
      assert(got, `obj/${size} read`);
      assertEquals(got.byteLength, size);
      assert(got.every((b, i) => b === data[i]), `obj/${size} bytes`);
      if (size > 10) {
        const part = await getBytes(store, `obj/${size}`, { offset: 3, length: 5 });
        assertEquals([...part!], [...data.subarray(3, 8)]);
      }
    }
    assertEquals(await store.get("obj/none"), null);
  } finally {
    await store.close();
    await Deno.remove(root, { recursive: true });
  }
});

async function pieces(stream: ReadableStream<Uint8Array> | null): Promise<number[]> {
  const out: number[] = [];
  for await (const piece of stream!) out.push(piece.byteLength);
  return out;
}

Deno.test("local: an object up to 16 MiB asked for whole comes in one piece of its size", async () => {
  // A clone of 20,000 refs reads a 9 MB snapshot: nine pieces, then their copy into one
  // array, cost it ~8 ms more than one read.
  const root = await Deno.makeTempDir({ prefix: "trunks-read-" });
  const store = await openStore(`local://${root}/trunks/t.trunk`);
  try {
    const MiB = 1 << 20;
    for (const size of [3 * MiB + 7, 16 * MiB]) {
      await store.put(`obj/${size}`, new Uint8Array(size).fill(7));
      assertEquals(await pieces(await store.get(`obj/${size}`)), [size]);
    }
  } finally {
    await store.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("local: a larger object, or a range, is streamed in pieces of 1 MiB, not 64 KiB", async () => {
  // A copy of a segment never holds it whole; 143 pieces of 64 KiB cost a 9 MB read 15-35 ms.
  const root = await Deno.makeTempDir({ prefix: "trunks-read-" });
  const store = await openStore(`local://${root}/trunks/t.trunk`);
  try {
    const MiB = 1 << 20;
    await store.put("obj/big", new Uint8Array(16 * MiB + 1).fill(9));
    assertEquals(await pieces(await store.get("obj/big")), [...Array(16).fill(MiB), 1]);
    const range = { offset: 5, length: 2 * MiB + 3 };
    assertEquals(await pieces(await store.get("obj/big", range)), [MiB, MiB, 3]);
  } finally {
    await store.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("local: a range from the start past the end is read as the whole object, in one piece", async () => {
  // A read stopped past a limit asks for one byte more (`getAtMost`): an object within it
  // is still read in one call (4,000 small segments: ~0.5 s of CPU, ~1.5 s in a stream),
  // one larger comes in pieces no larger than the range.
  const root = await Deno.makeTempDir({ prefix: "trunks-read-" });
  const store = await openStore(`local://${root}/trunks/t.trunk`);
  try {
    const MiB = 1 << 20;
    const size = 3 * MiB + 7;
    const data = new Uint8Array(size).map((_, i) => i & 0xff);
    await store.put("obj/x", data);
    for (const length of [size, size + 1, 16 * MiB]) {
      assertEquals(await pieces(await store.get("obj/x", { offset: 0, length })), [size]);
    }
    const limit = 256 << 10;
    assertEquals(await pieces(await store.get("obj/x", { offset: 0, length: limit + 1 })), [
      limit + 1,
    ]);
    assertEquals(await pieces(await store.get("obj/x", { offset: 0, length: size - 1 })), [
      MiB,
      MiB,
      MiB,
      6,
    ]);
    const whole = await getBytes(store, "obj/x", { offset: 0, length: size + 1 });
    assert(whole?.every((b, i) => b === data[i]) && whole.byteLength === size, "its bytes");
  } finally {
    await store.close();
    await Deno.remove(root, { recursive: true });
  }
});
