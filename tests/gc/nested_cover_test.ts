/**
 * Failed before 9d781cc (sidecars vouch for segments as listed):
 * a fresh clone fails although every object is stored and `trunks check` finds nothing
 * wrong. A fetch counts a segment stored again after a compaction as not covered by it
 * (`coveredWhenWritten`), but only while that compaction's own sidecar is listed: for a
 * compaction known only through a later one's `nested` list (its sidecar deleted with it),
 * the list is trusted as is. So a segment pushed again (same id) after compaction N, where
 * N was later compacted into M and deleted, is taken as covered by M: the clone downloads M
 * only, which lacks it.
 *
 * Sequence (lease 1 s, grace 2 s): push main (A) and tmp (S), delete tmp; 2.5 s later
 * clean 1 compacts into N without S's objects (N.replaces: A, S); push main (B); clean 2
 * compacts into M (M.replaces: N, A, S, B; nested N: A, S); 2.5 s later push tmp again (S
 * stored again); clean 3 deletes N, A, B (replaced long ago) and keeps S (young). A fresh
 * clone of tmp downloads M alone and fails.
 */
import { assert, assertEquals } from "../assert.ts";
import { checkTrunk } from "../../src/trunk/check.ts";
import { commitFile, git } from "../e2e/harness.ts";
import { opts } from "./lib.ts";
import { GRACE_MS, repushScene, sceneBackends, sleep } from "./repush_scene.ts";

for (const backend of sceneBackends()) {
  Deno.test({
    name:
      `repush ${backend.name}: a segment pushed again is not taken as covered through a nested list; a fresh clone works`,
    ...opts,
    fn: async () => {
      await using s = await repushScene(backend, "repush-nested");
      const { e, a, tmpTip: tip } = s;
      await git(e, a, "checkout", "-q", "main");
      const seg = (await s.newIds(() => git(e, a, "push", "-q", "origin", "tmp")))[0];
      await git(e, a, "push", "-q", "origin", ":tmp");
      await sleep(GRACE_MS + 500);
      assert((await s.clean(1)).compacted, "clean 1 compacted");
      await commitFile(e, a, "b.txt", "b\n");
      await git(e, a, "push", "-q", "origin", "main");
      assert((await s.clean(2)).compacted, "clean 2 compacted");
      await sleep(GRACE_MS + 500);
      await git(e, a, "push", "-q", "origin", "tmp");
      const r3 = await s.clean(3);
      assert((await s.ids()).includes(seg), "S is stored");
      const { report } = await checkTrunk(s.inner, { workDir: `${s.work}/after` });
      const clone = await s.clone("tmp");
      assert(
        clone.code === 0,
        `clone of tmp failed with S (${seg}) stored; check ok=${report.ok}; clean 3 deleted ${r3.deleted.segments.length} segment(s): ${
          clone.stderr.slice(0, 400)
        }`,
      );
      assertEquals((await git(e, clone.dir, "rev-parse", "HEAD")).trim(), tip);
    },
  });
}
