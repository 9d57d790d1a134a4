/**
 * With a lease of 0 only the GC guard protects a push (a clean may run with no grace), and
 * it must see a clean that ran while the push's segment was uploading. The guard's listing
 * made beside the upload (saving a round trip) predates such a clean: within a lease that
 * is safe (nothing replaced during an upload shorter than the lease can be deleted before
 * the entries), with a lease of 0 it is not, and the push was acknowledged on a base the
 * clean had collected (guard_test.ts's scene, the clean moved into the upload).
 */
import { assert } from "../assert.ts";
import { Trunk as Library } from "../../src/sdk/trunk.ts";
import { openStore } from "../../src/storage/registry.ts";
import { checkTrunk } from "../../src/trunk/check.ts";
import { cleanTrunk } from "../../src/trunk/gc.ts";
import { commitFile, e2eBackends, git } from "../e2e/harness.ts";
import { assertRefusedOnCollectedBase, opts, setup } from "./lib.ts";
import { afterFirstPut } from "./repush_scene.ts";

const local = e2eBackends().find((b) => b.name === "local")!;

Deno.test({
  name: "guard, lease 0: a clean during the segment's upload that took the push's base is seen",
  ...opts,
  fn: async () => {
    const s = await setup(local, "guardupload", 0);
    await commitFile(s.e, s.a, "x.txt", "x\n");
    await git(s.e, s.a, "push", "-q", "origin", "main");
    const inner = await openStore(s.url, local.settings);
    const work = await Deno.makeTempDir({ prefix: "trunks-guardupload-" });
    let deleted = 0;
    // Once the push's segment is stored, before its entry: main is replaced by an unrelated
    // history and a clean without grace drops the one the push builds on.
    const raced = afterFirstPut(
      inner,
      (key) => /^segments\/[0-9a-f]{64}\.idx$/.test(key),
      async () => {
        await git(s.e, s.a, "checkout", "-q", "--orphan", "fresh");
        await commitFile(s.e, s.a, "y.txt", "y\n", "unrelated");
        await git(s.e, s.a, "push", "-q", "-f", "origin", "fresh:refs/heads/main");
        const { inventory } = await checkTrunk(inner, { workDir: work });
        deleted = (await cleanTrunk(inner, inventory!, { graceMs: 0, workDir: work })).deleted
          .segments.length;
      },
    );
    try {
      await using t = await Library.open({ store: raced, writer: "lib" });
      t.write("z.txt", "z\n");
      await t.commit({ message: "on the old main", branch: "feature", from: "main" });
      const pushed = await t.push().then(() => null, (e: Error) => e);
      assert(deleted > 0, "the clean deleted no segment");
      await assertRefusedOnCollectedBase(pushed, s, inner, `${work}/after`);
    } finally {
      await inner.close();
      await Deno.remove(work, { recursive: true });
    }
  },
});
