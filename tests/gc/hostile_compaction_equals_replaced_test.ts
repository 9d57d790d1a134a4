/**
 * Hostile review (failed on 53bb284): segment ids are content hashes, so a
 * compaction can produce exactly a segment that an earlier compaction already replaced
 * (gc.ts handles "the result equals a segment already stored" by not uploading it and
 * writing its sidecar, but not the case where that segment is itself replaced). The two
 * sidecars then replace each other: N0.replaces names A and A.replaces names N0. The next
 * clean sees no current segment at all, and deletes both once their replacements are a
 * grace old: every object of the trunk's refs is gone.
 *
 * Sequence (lease 1 s, grace 2 s): push main (segment A) and tmp (S); clean 1 compacts A
 * and S into N0 (N0.replaces: A, S); delete tmp, wait 2.5 s; clean 2 keeps main's objects
 * only: the pack it builds is byte for byte A, already stored, so it writes A.replaces
 * (A, S, N0) and uploads nothing; wait 2.5 s; clean 3 deletes A (replaced by N0 long ago)
 * and N0 (replaced by A long ago). A fresh clone of main fails.
 */
import { assert, assertEquals } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import { checkTrunk } from "../../src/trunk/check.ts";
import { cleanTrunk } from "../../src/trunk/gc.ts";
import { LEASE_ENV } from "../../src/trunk/lease.ts";
import { listSegmentKeys } from "../../src/trunk/replaces.ts";
import { commitFile, e2eBackends, git, makeEnv, newRepo, run, trunkUrl } from "../e2e/harness.ts";
import { opts } from "./lib.ts";

const LEASE_S = 1;
const GRACE_MS = 2 * LEASE_S * 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const backend of e2eBackends().filter((b) => ["local", "minio"].includes(b.name))) {
  Deno.test({
    name:
      `hostile ${backend.name}: a compaction equal to a segment already replaced makes both replace each other; the next clean deletes main's objects`,
    ...opts,
    fn: async () => {
      const e = await makeEnv({
        ...backend.env,
        [LEASE_ENV]: String(LEASE_S),
        TRUNKS_AUTO_MAINTENANCE: "0",
      });
      const url = await trunkUrl(backend, "hostile-cycle");
      const a = await newRepo(e, "a");
      await git(e, a, "remote", "add", "origin", `trunks::${url}`);
      const inner = await openStore(url, backend.settings);
      const ids = async () => (await listSegmentKeys(inner)).complete.map((s) => s.id);
      const work = await Deno.makeTempDir({ prefix: "trunks-hostile-" });
      const clean = async (n: number) => {
        const c = await checkTrunk(inner, { workDir: `${work}/${n}` });
        assert(c.report.ok, JSON.stringify(c.report.problems));
        return await cleanTrunk(inner, c.inventory!, {
          graceMs: GRACE_MS,
          workDir: `${work}/${n}`,
        });
      };
      try {
        await git(e, a, "push", "-q", "origin", "main");
        const segA = (await ids())[0];
        const mainTip = (await git(e, a, "rev-parse", "HEAD")).trim();
        await git(e, a, "checkout", "-q", "-b", "tmp");
        await commitFile(e, a, "tmp.txt", "only on tmp\n");
        await git(e, a, "push", "-q", "origin", "tmp");
        const r1 = await clean(1);
        assert(r1.compacted && r1.compacted.id !== segA, "clean 1 compacted A and S into N0");
        await git(e, a, "push", "-q", "origin", ":tmp");
        await sleep(GRACE_MS + 500);
        const r2 = await clean(2);
        assertEquals(r2.compacted?.id, segA, "clean 2's pack is byte for byte segment A");
        await sleep(GRACE_MS + 500);
        const r3 = await clean(3);
        const dir = `${await Deno.makeTempDir()}/clone`;
        const clone = await run(e, "git", ["clone", "-q", "-b", "main", `trunks::${url}`, dir]);
        assert(
          clone.code === 0,
          `main (${mainTip}) lost: clean 3 deleted ${JSON.stringify(r3.deleted.segments)}, left ${
            JSON.stringify(await ids())
          }: ${clone.stderr.slice(0, 400)}`,
        );
        assertEquals((await git(e, dir, "rev-parse", "HEAD")).trim(), mainTip);
      } finally {
        await inner.close();
      }
    },
  });
}
