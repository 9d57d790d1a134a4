/**
 * Deleting a replaced segment needs a current compacted segment above it: sidecars that
 * name each other (a compaction stopped between its sidecar and its upload, or damage)
 * replace nothing, so neither automatic maintenance nor a clean deletes them. A chain that
 * ends in a current segment still replaces everything below it.
 */
import { assertEquals } from "../assert.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { segmentIdxKey, segmentPackKey, segmentReplacesKey } from "../../src/trunk/layout.ts";
import { mergeSmallSegments } from "../../src/trunk/merge_segments.ts";
import {
  encodeReplaces,
  listedTimes,
  listSegmentKeys,
  readSidecars,
  replacedSegments,
  vouchedLists,
} from "../../src/trunk/replaces.ts";

const one = new Uint8Array([1]);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function segments(store: MemoryStore, ids: string[]) {
  for (const id of ids) {
    await store.put(segmentPackKey(id), one);
    await store.put(segmentIdxKey(id), one);
  }
  await sleep(5); // sidecars strictly younger than what they name
  return listedTimes(await listSegmentKeys(store));
}

Deno.test("merge: two sidecars naming each other replace nothing; nothing is deleted", async () => {
  const store = new MemoryStore("memory://cycle");
  const [a, n] = ["aa".repeat(32), "bb".repeat(32)];
  const times = await segments(store, [a, n]);
  await store.put(segmentReplacesKey(a), encodeReplaces([n], new Map(), times));
  await store.put(segmentReplacesKey(n), encodeReplaces([a], new Map(), times));
  await sleep(5);
  const workDir = await Deno.makeTempDir();
  try {
    const r = await mergeSmallSegments(store, "sha1", { workDir, graceMs: 0 });
    assertEquals(r.deleted, []);
    assertEquals((await listSegmentKeys(store)).complete.map((s) => s.id).sort(), [a, n]);
  } finally {
    await Deno.remove(workDir, { recursive: true });
  }
});

Deno.test("replaced: a chain ending in a current segment replaces all below it; a cycle nothing", async () => {
  const store = new MemoryStore("memory://chain");
  const [c2, c1, a, b, x, y] = ["c2", "c1", "a0", "b0", "e1", "f1"].map((s) => s.repeat(32));
  const times = await segments(store, [c2, c1, a, b, x, y]);
  await store.put(segmentReplacesKey(c1), encodeReplaces([a, b], new Map(), times));
  await store.put(segmentReplacesKey(c2), encodeReplaces([c1], new Map(), times));
  await store.put(segmentReplacesKey(x), encodeReplaces([y], new Map(), times));
  await store.put(segmentReplacesKey(y), encodeReplaces([x], new Map(), times));
  const listing = await listSegmentKeys(store);
  const vouched = vouchedLists(listing, await readSidecars(store, listing));
  assertEquals([...replacedSegments(listing, vouched)].sort(), [a, b, c1].sort());
});
