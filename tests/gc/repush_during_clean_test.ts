/**
 * Failed before 9d781cc (sidecars vouch for segments as listed):
 * a clean judges a segment's objects by the segment's age *as listed*, and names every
 * listed segment in its sidecar. A deleted branch pushed again while the clean runs stores
 * the same segment id again (fresh), but the clean still sees the old one: its objects are
 * garbage (old, unreachable in the clean's view of the refs), the compaction leaves them
 * out, and the sidecar, written after the segment was stored again, says the compaction
 * replaces it. Fetches believe the sidecar (the segment was stored before it:
 * `coveredWhenWritten` keeps it covered), so a fresh clone of the branch downloads the
 * compacted segment only and fails at once; the next clean or maintenance step two leases
 * later deletes the segment for good (see repush_after_compaction_test.ts).
 *
 * Interleaving (lease 1 s, grace 2 s): push `tmp` (segment S), delete `tmp`, wait 2.5 s;
 * the clean lists (S old, tmp deleted); `git push origin tmp` stores S again and creates
 * tmp's entry (its guard sees no clean: none has written a sidecar yet); the clean
 * compacts into N without S's objects, N.replaces names S. A fresh clone of tmp fails.
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
      `repush ${backend.name}: a deleted branch pushed again during a clean is not compacted away; a fresh clone works`,
    ...opts,
    fn: async () => {
      await using s = await repushScene(backend, "repush-during");
      const { e, a, inner, work, tmpTip: tip } = s;
      await git(e, a, "push", "-q", "origin", "tmp");
      await git(e, a, "push", "-q", "origin", ":tmp");
      await sleep(GRACE_MS + 500);
      const c = await checkTrunk(inner, { workDir: work });
      assert(c.report.ok, JSON.stringify(c.report.problems));
      // While the clean works: the branch is pushed again, acknowledged.
      await git(e, a, "push", "-q", "origin", "tmp");
      const r = await cleanTrunk(inner, c.inventory!, { graceMs: GRACE_MS, workDir: work });
      const clone = await s.clone("tmp");
      assert(
        clone.code === 0,
        `fresh clone of acknowledged tmp (${tip}) failed after a clean (compacted ${
          JSON.stringify(r.compacted)
        }, deleted ${r.deleted.segments.length}): ${clone.stderr.slice(0, 400)}`,
      );
      assertEquals((await git(e, clone.dir, "rev-parse", "HEAD")).trim(), tip);
    },
  });
}
