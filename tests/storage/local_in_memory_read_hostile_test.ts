/**
 * Hostile review of 63af185 (a join's small segments read into memory, each read stopped
 * past its own listed size). The stop comes after a piece of the store's stream is in
 * memory, and local disk's `get` reads any file up to 16 MiB whole, at once, in that first
 * piece. A listing that says small for a pack that is not (a primary's damaged, short copy
 * read from a local mirror that holds the good one; a file replaced after the listing)
 * then holds up to 16 MiB per read (4 at once: 64 MiB) before the read is refused, where
 * the limit is 256 KiB a read, 16 MiB in all.
 */
import { assert, assertEquals } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import type { Range, Store } from "../../src/storage/store.ts";
import { segmentPackKey } from "../../src/trunk/layout.ts";
import { downloadSegmentBytes } from "../../src/trunk/segments.ts";

async function sha256Hex(data: Uint8Array<ArrayBuffer>): Promise<string> {
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return [...h].map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("local disk: an in-memory segment read limited to 256 KiB never takes 8 MiB from the store at once", async () => {
  const root = await Deno.makeTempDir();
  try {
    const local = await openStore(`local://${root}/trunks/app.trunk`);
    const data = new Uint8Array(8 << 20);
    for (let at = 0; at < data.byteLength; at += 65536) {
      crypto.getRandomValues(data.subarray(at, at + 65536));
    }
    const id = await sha256Hex(data);
    await local.put(segmentPackKey(id), data);
    // The pieces the read is handed, as local disk's get makes them.
    let largest = 0;
    const watched: Store = Object.assign(Object.create(local), {
      get: async (key: string, range?: Range) => {
        const body = await local.get(key, range);
        if (!body) return null;
        return body.pipeThrough(
          new TransformStream<Uint8Array, Uint8Array>({
            transform(piece, c) {
              largest = Math.max(largest, piece.byteLength);
              c.enqueue(piece);
            },
          }),
        );
      },
    });
    const limit = 256 << 10;
    assertEquals(await downloadSegmentBytes(watched, id, limit), null);
    // One piece past the limit is how the read notices; local disk's own pieces are 1 MiB.
    assert(
      largest <= limit + (1 << 20),
      `a read limited to ${limit} bytes took a piece of ${largest} bytes from local disk`,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
