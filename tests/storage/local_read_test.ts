/**
 * Local reads: a small object is read in one call, a large one streamed in pieces of 1 MiB;
 * both give back exactly what was stored, on either side of the boundary, and ranged reads
 * are unchanged.
 */
import { getBytes } from "../../src/storage/store.ts";
import { openStore } from "../../src/storage/registry.ts";
import { assert, assertEquals } from "../assert.ts";

Deno.test("local: objects read back whole around the one-call size, empty and ranged too", async () => {
  const root = await Deno.makeTempDir({ prefix: "trunks-read-" });
  const store = await openStore(`local://${root}/trunks/t.trunk`);
  try {
    const MiB = 1 << 20;
    for (const size of [0, 1, 300, MiB - 1, MiB, MiB + 1, 3 * MiB + 7]) {
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

Deno.test("local: a large object is streamed in pieces of 1 MiB, not 64 KiB", async () => {
  // A clone of 20,000 refs reads a 9 MB snapshot: 143 pieces of 64 KiB cost it 15-35 ms.
  const root = await Deno.makeTempDir({ prefix: "trunks-read-" });
  const store = await openStore(`local://${root}/trunks/t.trunk`);
  try {
    const MiB = 1 << 20;
    const data = new Uint8Array(3 * MiB + 7).map((_, i) => (i * 7) & 0xff);
    await store.put("obj/big", data);
    const pieces: number[] = [];
    for await (const piece of (await store.get("obj/big"))!) pieces.push(piece.byteLength);
    assertEquals(pieces, [MiB, MiB, MiB, 7]);
  } finally {
    await store.close();
    await Deno.remove(root, { recursive: true });
  }
});
