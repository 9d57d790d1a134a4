/**
 * A fetch's first failed download stops the others in flight: since segments download as
 * many at once as the store takes (16 on local disk, 8 on S3 for a join), the rest were
 * each read to their end before the failure was reported (or the fetch listed again, after
 * a segment compacted away meanwhile), and thrown away.
 */
import { assert, assertEquals } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import { getBytes } from "../../src/storage/store.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { Trunk } from "../../src/trunk/trunk.ts";
import { fetchSegments } from "../../src/trunk/fetch.ts";
import {
  countingSink,
  handingOn,
  onBothPaths,
  pushSegments,
  randomBytes,
} from "../fetch_fixture.ts";
import { listSegments } from "../../src/trunk/segments.ts";
import { segmentPackKey } from "../../src/trunk/layout.ts";

const PUSHES = 12;
/** How long a good pack takes to arrive: in 20 pieces, one every 100 ms. */
const PIECES = 20;

onBothPaths(
  `a fetch's first failed download stops the others in flight`,
  async (joins, url, root) => {
    // Half of them past what a join downloads into memory (256 KiB): to a file.
    await pushSegments(
      url,
      PUSHES,
      (i) => [`f${i}.bin`, randomBytes(i % 2 ? 60_000 : 300_000)],
    );
    const inner = await openStore(url);
    const segments = await listSegments(inner);
    const bad = segmentPackKey(segments[3].id);
    let piecesAfter = 0;
    let failedAt = 0;
    // No copyToFile: every pack streams through `get`, slowly; one is corrupt.
    const store = handingOn(inner, {
      get: async (key, range) => {
        if (!key.endsWith(".pack")) return await inner.get(key, range);
        const bytes = (await getBytes(inner, key, range))!;
        if (key === bad) {
          return new ReadableStream({
            async pull(c) {
              await new Promise((r) => setTimeout(r, 50));
              c.enqueue(new Uint8Array(bytes.byteLength));
              c.close();
              failedAt = performance.now();
            },
          });
        }
        let at = 0;
        const step = Math.ceil(bytes.byteLength / PIECES);
        return new ReadableStream({
          async pull(c) {
            await new Promise((r) => setTimeout(r, 100));
            if (failedAt) piecesAfter++;
            c.enqueue(bytes.slice(at, at += step));
            if (at >= bytes.byteLength) c.close();
          },
        });
      },
    });
    const trunk = await Trunk.open(store, new MemoryCache(), "reader");
    const dir = await Deno.makeTempDir({ dir: root });
    const err = await fetchSegments(trunk, countingSink(dir, joins)).then(
      () => null,
      (e) => e as Error,
    );
    const took = performance.now() - failedAt;
    assert(err?.message.includes(bad), `the corrupt segment named: ${err?.message}`);
    // Read on: the other 11 packs' remaining 19 pieces each, over 1.9 s.
    assert(piecesAfter <= 2 * (PUSHES - 1), `${piecesAfter} pieces read after the failure`);
    assert(took < 1000, `reported ${took.toFixed(0)} ms after the failure`);
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), [], "downloads left behind");
  },
);
