/**
 * A clean that finds nothing any ref reaches (every branch deleted) deletes every segment
 * old enough without writing a sidecar. A push that read the trunk while a branch was live
 * and builds on it (a new branch from it) must be refused once that clean took its base:
 * the guard took "no sidecar newer than the push's read" for "nothing collected", and the
 * push was acknowledged on history no segment held.
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
  name: "guard, lease 0: a clean that deleted every segment (no ref left) is seen",
  ...opts,
  fn: async () => {
    const s = await setup(local, "guardalldeleted", 0);
    await commitFile(s.e, s.a, "x.txt", "x\n");
    await git(s.e, s.a, "push", "-q", "origin", "main");
    const inner = await openStore(s.url, local.settings);
    const work = await Deno.makeTempDir({ prefix: "trunks-guardalldeleted-" });
    let deleted = 0;
    // Once the push's segment is stored, before its entry: main is deleted and a clean
    // with no grace drops every segment.
    const raced = afterFirstPut(
      inner,
      (key) => /^segments\/[0-9a-f]{64}\.idx$/.test(key),
      async () => {
        await git(s.e, s.a, "push", "-q", "origin", ":main");
        await new Promise((r) => setTimeout(r, 50));
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

Deno.test({
  name: "guard, lease 1s: a slow push whose base a clean with no ref left took is refused",
  ...opts,
  fn: async () => {
    const s = await setup(local, "guardalldeleted1", 1);
    const inner = await openStore(s.url, local.settings);
    const work = await Deno.makeTempDir({ prefix: "trunks-guardalldeleted-" });
    let deleted = 0;
    // A slow push (its large file uploading) past two leases of its read, before its
    // segment: main is deleted, and a clean with the shortest grace allowed (two leases)
    // finds no ref and drops every segment, the push's base with them.
    const raced = afterFirstPut(
      inner,
      (key) => key.startsWith("chunks/"),
      async () => {
        await git(s.e, s.a, "push", "-q", "origin", ":main");
        await new Promise((r) => setTimeout(r, 2500));
        const { inventory } = await checkTrunk(inner, { workDir: work });
        deleted = (await cleanTrunk(inner, inventory!, { graceMs: 2000, workDir: work }))
          .deleted.segments.length;
      },
    );
    try {
      await using t = await Library.open({ store: raced, writer: "lib" });
      const big = new Uint8Array(5 << 20);
      for (let i = 0; i < big.length; i += 65536) {
        crypto.getRandomValues(big.subarray(i, i + 65536));
      }
      t.write("big.bin", big);
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
