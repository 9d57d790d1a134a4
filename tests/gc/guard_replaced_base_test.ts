/**
 * The GC guard must find a push's base in a segment that stays: one a clean's compaction
 * replaced without it (garbage then) is still listed for two leases, and a clean that
 * listed before the push's entry deletes it, the push's base with it.
 */
import { assert } from "../assert.ts";
import { Trunk as Library } from "../../src/sdk/trunk.ts";
import { openStore } from "../../src/storage/registry.ts";
import { checkTrunk } from "../../src/trunk/check.ts";
import { cleanTrunk } from "../../src/trunk/gc.ts";
import { commitFile, e2eBackends, git } from "../e2e/harness.ts";
import { assertRefusedOnCollectedBase, opts, setup } from "./lib.ts";
import { afterFirstPut, randomBytes } from "./repush_scene.ts";

const local = e2eBackends().find((b) => b.name === "local")!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name: "guard, lease 1s: a base only in a segment a clean replaced without it is collected",
  ...opts,
  fn: async () => {
    const s = await setup(local, "guardreplaced", 1);
    const inner = await openStore(s.url, local.settings);
    const work = await Deno.makeTempDir({ prefix: "trunks-guardreplaced-" });
    let later: Awaited<ReturnType<typeof checkTrunk>>["inventory"];
    let replaced = 0;
    // A slow push (its large file uploading): main is rewritten, a clean two leases later
    // drops main's old history (the push's base) from its compaction, and a second clean
    // two leases after that lists the trunk before the push's entry exists.
    const raced = afterFirstPut(inner, (key) => key.startsWith("chunks/"), async () => {
      await git(s.e, s.a, "checkout", "-q", "--orphan", "fresh");
      await commitFile(s.e, s.a, "y.txt", "y\n", "unrelated");
      await git(s.e, s.a, "push", "-q", "-f", "origin", "fresh:refs/heads/main");
      await sleep(2300);
      const first = await checkTrunk(inner, { workDir: `${work}/1` });
      replaced = (await cleanTrunk(inner, first.inventory!, { graceMs: 2000, workDir: work }))
        .compacted?.replaces ?? 0;
      await sleep(2300);
      later = (await checkTrunk(inner, { workDir: `${work}/2` })).inventory;
    });
    try {
      await using t = await Library.open({ store: raced, writer: "lib" });
      t.write("big.bin", randomBytes(5 << 20));
      await t.commit({ message: "on the old main", branch: "feature", from: "main" });
      const pushed = await t.push().then(() => null, (e: Error) => e);
      assert(replaced > 0, "the first clean replaced nothing");
      // The second clean goes on from its listing: what the first replaced goes now.
      const deleted = (await cleanTrunk(inner, later!, { graceMs: 2000, workDir: `${work}/3` }))
        .deleted.segments.length;
      assert(deleted > 0, "the second clean deleted nothing");
      await assertRefusedOnCollectedBase(pushed, s, inner, `${work}/after`);
    } finally {
      await inner.close();
      await Deno.remove(work, { recursive: true });
    }
  },
});
