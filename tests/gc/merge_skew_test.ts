/**
 * Automatic maintenance's merge deletes a replaced segment only two leases after it was
 * replaced, by the store's clock: the listed times it compares are the store's stamps. A
 * store whose clock is behind this machine's (by more than the grace) made segments
 * replaced a moment ago look old enough, and a step deleted them at once, under readers
 * that listed them just before (the clean and the ref log's pruning already measure
 * against the store's clock).
 */
import { assertEquals } from "../assert.ts";
import { mergeSmallSegments } from "../../src/trunk/merge_segments.ts";
import { listSegmentKeys } from "../../src/trunk/replaces.ts";
import type { ListEntry, ListOptions } from "../../src/storage/store.ts";
import { PassThroughStore } from "../pass_through_store.ts";
import { pushedFiles } from "../pushed_trunk.ts";

const HOUR = 3600_000;

/** The store's clock three hours behind this machine's: every listed time is that much earlier. */
class BehindStore extends PassThroughStore {
  override async list(prefix: string, after?: string, opts?: ListOptions): Promise<ListEntry[]> {
    return (await this.inner.list(prefix, after, opts)).map((e) => ({
      ...e,
      modified: new Date(e.modified.getTime() - 3 * HOUR),
    }));
  }
}

Deno.test("merge: a store clock hours behind does not make segments replaced a moment ago deletable", async () => {
  const files: [string, string][] = Array.from({ length: 10 }, (_, i) => [`f${i}.txt`, `${i}\n`]);
  const store = await pushedFiles(files);
  const work = await Deno.makeTempDir({ prefix: "trunks-merge-skew-" });
  try {
    const pushed = (await listSegmentKeys(store)).complete.map((s) => s.id);
    assertEquals(pushed.length, 10);
    const grace = 2 * HOUR;
    const first = await mergeSmallSegments(store, "sha1", {
      workDir: `${work}/1`,
      graceMs: grace,
      minSegments: 2,
    });
    assertEquals(first.merged?.replaces, 10);
    // The next step, seconds later, sees the store's stamps three hours behind its clock.
    const second = await mergeSmallSegments(new BehindStore(store), "sha1", {
      workDir: `${work}/2`,
      graceMs: grace,
      minSegments: 2,
    });
    assertEquals(second.deleted, [], "segments replaced a moment ago were deleted");
    const left = new Set((await listSegmentKeys(store)).complete.map((s) => s.id));
    assertEquals(pushed.filter((id) => !left.has(id)), []);
  } finally {
    await Deno.remove(work, { recursive: true });
    await store.close();
  }
});
