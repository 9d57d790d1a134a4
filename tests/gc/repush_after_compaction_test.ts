/**
 * Failed before 9d781cc (sidecars vouch for segments as listed):
 * no concurrency needed. A compaction's sidecar names every segment it listed, including
 * garbage whose objects it left out. When the same segment is stored again afterwards (same
 * objects, same id: a deleted branch pushed again from the same repository), the sidecar
 * still counts it as replaced (gc.ts `compact`: `replacedBefore` ignores when the segment
 * was stored; only fetch's `coveredWhenWritten` does). A later clean then treats it as
 * covered, sees a single current segment with no garbage (so it does not compact), and
 * deletes the re-stored segment once it is a grace old: the branch pushed again,
 * acknowledged long ago, points at objects no segment holds.
 *
 * Sequence (lease 1 s, grace 2 s): push `tmp` (segment S), delete `tmp`; 2.5 s later
 * clean 1 compacts into N without S's objects and writes N.replaces naming S; push `tmp`
 * again (S stored again, tmp's entry names it); 2.5 s later clean 2: deletes S. A fresh
 * clone of tmp fails.
 */
import { assert, assertEquals } from "../assert.ts";
import { mergeSmallSegments } from "../../src/trunk/merge_segments.ts";
import { git } from "../e2e/harness.ts";
import { opts } from "./lib.ts";
import { GRACE_MS, repushScene, sceneBackends, sleep } from "./repush_scene.ts";

const seconds = [
  // Clean 2 is `trunks check --clean` again.
  "clean",
  // Clean 2 is automatic maintenance's merge step (mergeSmallSegments deletes what the
  // sidecars call replaced, by the same rule).
  "maintenance",
] as const;

for (
  const [backend, second] of sceneBackends().flatMap((b) => seconds.map((x) => [b, x] as const))
) {
  Deno.test({
    name:
      `repush ${backend.name}: a segment pushed again after a compaction replaced it survives the next ${second}`,
    ...opts,
    fn: async () => {
      await using s = await repushScene(backend, "repush-recompact");
      const { e, a, tmpTip: tip } = s;
      const seg = await s.newIds(() => git(e, a, "push", "-q", "origin", "tmp"));
      assertEquals(seg.length, 1);
      await git(e, a, "push", "-q", "origin", ":tmp");
      await sleep(GRACE_MS + 500);
      const r1 = await s.clean(1);
      assert(r1.compacted !== null, "clean 1 compacted");
      // The branch is pushed again: the same objects, the same segment id, acknowledged.
      await git(e, a, "push", "-q", "origin", "tmp");
      assert((await s.ids()).includes(seg[0]), "S stored again");
      await sleep(GRACE_MS + 500);
      const r2 = second === "clean" ? await s.clean(2) : {
        compacted: null,
        deleted: {
          segments: (await mergeSmallSegments(s.inner, "sha1", {
            graceMs: GRACE_MS,
            workDir: `${s.work}/m`,
          })).deleted,
        },
      };
      const clone = await s.clone("tmp");
      assert(
        clone.code === 0,
        `acknowledged push of tmp (${tip}) lost: clean 2 deleted ${
          JSON.stringify(r2.deleted.segments)
        } (compacted: ${JSON.stringify(r2.compacted)}; the re-pushed segment is ${
          seg[0]
        }); clone: ${clone.stderr.slice(0, 400)}`,
      );
      assertEquals((await git(e, clone.dir, "rev-parse", "HEAD")).trim(), tip);
    },
  });
}
