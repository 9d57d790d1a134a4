/**
 * Fails on 04ebf42 (a merge's sidecar says `whole`): a fresh clone of an acknowledged push
 * fails although every object is stored. `whole` is true of the merge M and the packs it
 * names, but a fetch's plan follows it through a clean's compaction C that replaced M and
 * left out M's garbage: C -> M (C's list, judged by time) -> S (M's whole list, never
 * judged). When S was deleted before the clean and is then pushed again (the same pack, the
 * same id), the plan neither reads S's time nor downloads it: it takes S as covered by C,
 * which lacks S's objects.
 *
 * Sequence (lease 1 s, grace 2 s, local disk): push main (P) and tmp (S), delete tmp; merge
 * P and S into M (whole); 2.5 s later the next merge step deletes P and S; `trunks check
 * --clean` compacts M into C without S's objects (C.replaces: M; nested M: P, S, whole);
 * push tmp again (S stored again, M still stored: replaced less than a grace ago). A fresh
 * clone of tmp downloads C alone and fails.
 *
 * Run: deno test -A tests/gc/whole_through_clean_test.ts
 */
import { assert, assertEquals } from "../assert.ts";
import { mergeSmallSegments } from "../../src/trunk/merge_segments.ts";
import { git } from "../e2e/harness.ts";
import { opts } from "./lib.ts";
import { GRACE_MS, repushScene, sceneBackends, sleep } from "./repush_scene.ts";

for (const backend of sceneBackends().filter((b) => b.name === "local")) {
  Deno.test({
    name:
      `whole ${backend.name}: a segment pushed again is not covered through a clean of the merge that named it whole`,
    ...opts,
    fn: async () => {
      await using s = await repushScene(backend, "whole-through-clean");
      const { e, a, tmpTip: tip } = s;
      const [main] = await s.ids();
      const [seg] = await s.newIds(() => git(e, a, "push", "-q", "origin", "tmp"));
      await git(e, a, "push", "-q", "origin", ":tmp");
      const merge = (n: number) =>
        mergeSmallSegments(s.inner, "sha1", {
          graceMs: GRACE_MS,
          workDir: `${s.work}/m${n}`,
          minSegments: 2,
        });
      const m1 = await merge(1);
      assert(m1.merged, "merge 1 merged P and S");
      const merged = m1.merged.id;
      await sleep(GRACE_MS + 500);
      const m2 = await merge(2);
      assertEquals(new Set(m2.deleted), new Set([main, seg]), "merge 2 deleted P and S");
      const c = await s.clean(3);
      assert(c.compacted, "the clean compacted M (S's objects are garbage now)");
      await git(e, a, "push", "-q", "origin", "tmp");
      const ids = await s.ids();
      assert(ids.includes(seg), "S stored again");
      assert(ids.includes(merged), "M still stored (replaced by C less than a grace ago)");
      const clone = await s.clone("tmp");
      assert(
        clone.code === 0,
        `acknowledged push of tmp (${tip}) unreadable: S (${seg}) is stored, yet the clone ` +
          `took it as covered by C (${c.compacted.id}) through M (${merged}): ${
            clone.stderr.slice(0, 400)
          }`,
      );
      assertEquals((await git(e, clone.dir, "rev-parse", "HEAD")).trim(), tip);
    },
  });
}
