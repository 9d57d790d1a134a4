/**
 * Failed before 9d781cc (sidecars vouch for segments as listed):
 * segment ids are their pack's hash, so a push that sends the same objects again (a branch
 * deleted, then pushed again from the same repository) writes the same
 * `segments/<id>.pack/.idx` keys as the segment a clean already replaced. A later clean
 * decides to delete that replaced segment from its listing (the segment's age and its
 * replacement's age, as listed), and deletes it without listing again: the push that stored
 * it afresh meanwhile, and whose ref entry names it, is acknowledged and loses its objects
 * (the compaction that replaced the segment left them out: they were garbage then). The
 * guard cannot help: the push's own segment is listed when it checks, it is deleted
 * afterwards.
 *
 * Interleaving (lease 1 s, grace 2 s): push `tmp` (segment S), delete `tmp`; 2.5 s later
 * clean 1 compacts into N without S's objects (garbage) and writes N.replaces naming S;
 * 2.5 s later clean 2 lists (S old, replaced long ago: to delete); `git push origin tmp`
 * stores S again (same id) and creates tmp's entry; clean 2 deletes S's index and pack.
 * A fresh clone of tmp then fails.
 */
import { assert, assertEquals } from "../assert.ts";
import { checkTrunk } from "../../src/trunk/check.ts";
import { cleanTrunk } from "../../src/trunk/gc.ts";
import { git } from "../e2e/harness.ts";
import { opts } from "./lib.ts";
import { GRACE_MS, repushScene, sceneBackends, sleep } from "./repush_scene.ts";

for (const backend of sceneBackends()) {
  Deno.test({
    name:
      `repush ${backend.name}: a replaced segment pushed again (same id) survives a clean that listed it before`,
    ...opts,
    fn: async () => {
      await using s = await repushScene(backend, "repush-replaced");
      const { e, a, inner, work, tmpTip: tip } = s;
      const seg = await s.newIds(() => git(e, a, "push", "-q", "origin", "tmp"));
      assertEquals(seg.length, 1);
      await git(e, a, "push", "-q", "origin", ":tmp");
      await sleep(GRACE_MS + 500);
      // Clean 1: tmp's objects are garbage older than the grace; S is replaced.
      const c1 = await checkTrunk(inner, { workDir: `${work}/1` });
      const r1 = await cleanTrunk(inner, c1.inventory!, {
        graceMs: GRACE_MS,
        workDir: `${work}/1`,
      });
      assert(r1.compacted !== null, "clean 1 compacted");
      await sleep(GRACE_MS + 500);
      // Clean 2 lists: S was replaced more than the grace ago.
      const c2 = await checkTrunk(inner, { workDir: `${work}/2` });
      assert(c2.inventory!.listing.complete.some((x) => x.id === seg[0]), "S listed by clean 2");
      // The branch is pushed again: the same objects, the same segment id.
      await git(e, a, "push", "-q", "origin", "tmp");
      const r2 = await cleanTrunk(inner, c2.inventory!, {
        graceMs: GRACE_MS,
        workDir: `${work}/2`,
      });
      const clone = await s.clone("tmp");
      assert(
        clone.code === 0,
        `acknowledged push of tmp (${tip}) lost: clean 2 deleted ${
          JSON.stringify(r2.deleted.segments)
        } (the re-pushed segment is ${seg[0]}); clone: ${clone.stderr.slice(0, 400)}`,
      );
      assertEquals((await git(e, clone.dir, "rev-parse", "HEAD")).trim(), tip);
    },
  });
}
