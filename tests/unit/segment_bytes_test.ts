/**
 * A join's small segments are read into memory (trunk/fetch.ts), chosen by their listed
 * size. What the store then sends is held only up to the limit: a listing that says small
 * for a pack that is not (a store's error, or a hostile one) stops the read there, and the
 * fetch downloads that segment to a file instead.
 */
import { MemoryStore } from "../../src/storage/memory.ts";
import type { Store } from "../../src/storage/store.ts";
import { segmentPackKey } from "../../src/trunk/layout.ts";
import { downloadSegmentBytes } from "../../src/trunk/segments.ts";
import { TrunkError } from "../../src/trunk/errors.ts";
import { assert, assertRejects } from "../assert.ts";

async function sha256Hex(data: Uint8Array<ArrayBuffer>): Promise<string> {
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return [...h].map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("downloadSegmentBytes: held up to its limit, verified, and the read stopped past it", async () => {
  const data = new Uint8Array(64 << 10).map((_, i) => (i * 7) & 0xff);
  const id = await sha256Hex(data);
  const mem = new MemoryStore("memory://bytes");
  await mem.put(segmentPackKey(id), data);
  // The body in 1 KiB pieces, counting those the reader pulled.
  let pulled = 0;
  const store: Store = Object.assign(Object.create(mem), {
    get: async (key: string) => {
      const all = (await mem.get(key)) && data;
      if (!all) return null;
      let at = 0;
      return new ReadableStream<Uint8Array>({
        pull(c) {
          if (at >= all.byteLength) return c.close();
          pulled++;
          c.enqueue(all.slice(at, at += 1024));
        },
      }, { highWaterMark: 0 });
    },
  });
  const whole = await downloadSegmentBytes(store, id, data.byteLength);
  assert(whole?.byteLength === data.byteLength && whole.every((b, i) => b === data[i]));
  pulled = 0;
  const over = await downloadSegmentBytes(store, id, 4096);
  assert(over === null, `held ${over?.byteLength} bytes past a limit of 4096`);
  assert(pulled <= 6, `read on past the limit: ${pulled} pieces of 64`);
  // Within the limit, bytes that are not the segment's are refused, naming its key.
  const other = data.slice();
  other[100] ^= 1;
  await mem.put(segmentPackKey(id), other);
  const err = await assertRejects(() => downloadSegmentBytes(mem, id, 1 << 20), TrunkError);
  assert(
    err.message.includes(segmentPackKey(id)) && (err as TrunkError).code === "corrupt",
    err.message,
  );
});
