/**
 * Failed before 9d781cc (sidecars vouch for segments as listed):
 * segment ids are content hashes, so a compaction can produce exactly a segment that an
 * earlier compaction already replaced (gc.ts handles "the result equals a segment already
 * stored" by not uploading it and writing its sidecar, but not the case where that segment
 * is itself replaced). The two sidecars then replace each other: N0.replaces names A and
 * A.replaces names N0. The next clean sees no current segment at all, and deletes both once
 * their replacements are a grace old: every object of the trunk's refs is gone.
 *
 * Sequence (lease 1 s, grace 2 s): push main (segment A) and tmp (S); clean 1 compacts A
 * and S into N0 (N0.replaces: A, S); delete tmp, wait 2.5 s; clean 2 keeps main's objects
 * only: the pack it builds is byte for byte A, already stored, so it writes A.replaces
 * (A, S, N0) and uploads nothing; wait 2.5 s; clean 3 deletes A (replaced by N0 long ago)
 * and N0 (replaced by A long ago). A fresh clone of main fails.
 */
import { assert, assertEquals } from "../assert.ts";
import { git } from "../e2e/harness.ts";
import { opts } from "./lib.ts";
import { GRACE_MS, repushScene, sceneBackends, sleep } from "./repush_scene.ts";

for (const backend of sceneBackends()) {
  Deno.test({
    name:
      `compaction ${backend.name}: a compaction equal to a segment already replaced keeps main's objects through the next clean`,
    ...opts,
    fn: async () => {
      await using s = await repushScene(backend, "compaction-cycle");
      const { e, a, mainTip } = s;
      const segA = (await s.ids())[0];
      await git(e, a, "push", "-q", "origin", "tmp");
      const r1 = await s.clean(1);
      assert(r1.compacted && r1.compacted.id !== segA, "clean 1 compacted A and S into N0");
      await git(e, a, "push", "-q", "origin", ":tmp");
      await sleep(GRACE_MS + 500);
      const r2 = await s.clean(2);
      assertEquals(r2.compacted?.id, segA, "clean 2's pack is byte for byte segment A");
      await sleep(GRACE_MS + 500);
      const r3 = await s.clean(3);
      const clone = await s.clone("main");
      assert(
        clone.code === 0,
        `main (${mainTip}) lost: clean 3 deleted ${JSON.stringify(r3.deleted.segments)}, left ${
          JSON.stringify(await s.ids())
        }: ${clone.stderr.slice(0, 400)}`,
      );
      assertEquals((await git(e, clone.dir, "rev-parse", "HEAD")).trim(), mainTip);
    },
  });
}
