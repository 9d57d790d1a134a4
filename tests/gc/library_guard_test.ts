/**
 * The library's push has the GC guard because it calls the same engine as git's: a clean
 * with no grace runs right after the library uploaded its segment and before its ref
 * entry (lease 0, so only the guard protects). The push still lands whole: the guard
 * sees the clean, puts the segment back, and a fresh git clone reads the branch.
 */
import { assert, assertEquals } from "../assert.ts";
import { Trunk as Library } from "../../src/sdk/trunk.ts";
import { openStore } from "../../src/storage/registry.ts";
import { checkTrunk } from "../../src/trunk/check.ts";
import { cleanTrunk } from "../../src/trunk/gc.ts";
import { LEASE_ENV } from "../../src/trunk/lease.ts";
import { e2eBackends, git, makeEnv, newRepo, ok, trunkUrl } from "../e2e/harness.ts";
import { opts } from "./lib.ts";
import { afterFirstPut } from "./repush_scene.ts";

for (const backend of e2eBackends().filter((b) => ["local", "minio"].includes(b.name))) {
  Deno.test({
    name: `library guard ${backend.name}: a clean between segment and ref entry loses nothing`,
    ...opts,
    fn: async () => {
      const e = await makeEnv({ ...backend.env, [LEASE_ENV]: "0" });
      const url = await trunkUrl(backend, "libguard");
      const a = await newRepo(e, "a");
      await git(e, a, "push", "-q", `trunks::${url}`, "main");
      const inner = await openStore(url, backend.settings);
      const work = await Deno.makeTempDir({ prefix: "trunks-libguard-" });
      let cleaned = 0;
      const store = afterFirstPut(
        inner,
        (key) => /^segments\/[0-9a-f]{64}\.idx$/.test(key),
        async () => {
          const { inventory } = await checkTrunk(inner, { workDir: `${work}/${cleaned}` });
          const r = await cleanTrunk(inner, inventory!, {
            graceMs: 0,
            workDir: `${work}/${cleaned}`,
          });
          cleaned += r.deleted.segments.length;
        },
      );
      try {
        await using t = await Library.open({ store, writer: "lib" });
        t.write("lib.txt", "from the library\n");
        const c = await t.commit({ message: "library commit", branch: "lib" });
        await t.push();
        assert(cleaned > 0, "the clean deleted the library's segment before its ref moved");
        const dir = `${await Deno.makeTempDir()}/c`;
        await ok(e, "git", ["clone", "-q", "-b", "lib", `trunks::${url}`, dir]);
        await git(e, dir, "fsck", "--strict", "--no-dangling");
        assertEquals((await git(e, dir, "rev-parse", "HEAD")).trim(), c.oid);
        assertEquals(await Deno.readTextFile(`${dir}/lib.txt`), "from the library\n");
      } finally {
        await inner.close();
      }
    },
  });
}
