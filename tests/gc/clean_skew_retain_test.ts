/**
 * A clean keeps every object of a segment younger than the grace (a push in flight: its
 * segment stored, its entry not yet), judged by the segment's listed time, the store's
 * clock, against the moment the clean listed by its own. A cleaner's clock hours ahead of
 * the store's (and the pusher's) made such a segment look old: its objects were left out
 * of the compaction that replaced it, the push then moved its ref, and a fresh clone,
 * which downloads no replaced segment, failed.
 */
import { assertEquals } from "../assert.ts";
import { Trunk as Library } from "../../src/sdk/trunk.ts";
import { openStore } from "../../src/storage/registry.ts";
import { checkTrunk } from "../../src/trunk/check.ts";
import { cleanTrunk } from "../../src/trunk/gc.ts";
import { e2eBackends, git, makeEnv, newRepo, ok, trunkUrl } from "../e2e/harness.ts";
import { LEASE_ENV } from "../../src/trunk/lease.ts";
import { opts } from "./lib.ts";
import { afterFirstPut } from "./repush_scene.ts";

const HOUR = 3600_000;
const local = e2eBackends().find((b) => b.name === "local")!;

Deno.test({
  name: "clean: a cleaner's clock hours ahead of the store keeps a push in flight's objects",
  ...opts,
  fn: async () => {
    const e = await makeEnv({ ...local.env, [LEASE_ENV]: "60" });
    const url = await trunkUrl(local, "cleanskew");
    const a = await newRepo(e, "a");
    await git(e, a, "push", "-q", `trunks::${url}`, "main");
    const inner = await openStore(url, local.settings);
    const work = await Deno.makeTempDir({ prefix: "trunks-cleanskew-" });
    const store = afterFirstPut(
      inner,
      (key) => /^segments\/[0-9a-f]{64}\.idx$/.test(key),
      async () => {
        // The cleaner's machine: its clock three hours ahead of the store's and the pusher's.
        const wallClock = Date.now;
        Date.now = () => wallClock() + 3 * HOUR;
        try {
          const { inventory } = await checkTrunk(inner, { workDir: work });
          await cleanTrunk(inner, inventory!, { graceMs: 120_000, workDir: work });
        } finally {
          Date.now = wallClock;
        }
      },
    );
    try {
      await using t = await Library.open({ store, writer: "lib" });
      t.write("lib.txt", "from the library\n");
      const c = await t.commit({ message: "library commit", branch: "lib" });
      await t.push();
      const dir = `${await Deno.makeTempDir()}/c`;
      await ok(e, "git", ["clone", "-q", "-b", "lib", `trunks::${url}`, dir]);
      assertEquals((await git(e, dir, "rev-parse", "HEAD")).trim(), c.oid);
      assertEquals(await Deno.readTextFile(`${dir}/lib.txt`), "from the library\n");
    } finally {
      await inner.close();
      await Deno.remove(work, { recursive: true });
    }
  },
});
