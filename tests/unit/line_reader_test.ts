/**
 * The helper's reader of git's lines: `buffered` hands out the lines already read, without
 * reading (a clone's `fetch` is 20,000 lines, taken without an await each), and leaves
 * a line not yet ended, and the end of input, to `next`.
 */
import { assertEquals } from "../assert.ts";
import { LineReader } from "../../src/helper/io.ts";

/** A source giving `pieces` one read at a time, counting the reads. */
function source(pieces: string[]) {
  const enc = new TextEncoder();
  const src = {
    reads: 0,
    read(p: Uint8Array): Promise<number | null> {
      src.reads++;
      const next = pieces.shift();
      if (next === undefined) return Promise.resolve(null);
      const bytes = enc.encode(next);
      p.set(bytes);
      return Promise.resolve(bytes.byteLength);
    },
  };
  return src;
}

Deno.test("LineReader: buffered gives the lines read so far, never reading more", async () => {
  const src = source(["fetch a x\nfetch b y\nfet", "ch c z\n\n", "tail"]);
  const lines = new LineReader(src);
  assertEquals(lines.buffered(), undefined);
  assertEquals(src.reads, 0);
  assertEquals(await lines.next(), "fetch a x");
  assertEquals(src.reads, 1);
  assertEquals(lines.buffered(), "fetch b y");
  // "fet" is not a line yet: left to `next`, which reads on.
  assertEquals(lines.buffered(), undefined);
  assertEquals(src.reads, 1);
  assertEquals(await lines.next(), "fetch c z");
  assertEquals(lines.buffered(), "");
  assertEquals(lines.buffered(), undefined);
  // A last line without its newline, then the end: `next` only.
  assertEquals(await lines.next(), "tail");
  assertEquals(lines.buffered(), undefined);
  assertEquals(await lines.next(), null);
  assertEquals(src.reads, 3 + 1);
});
