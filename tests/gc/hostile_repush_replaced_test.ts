/**
 * Hostile review (failed on 53bb284): segment ids are their pack's hash, so a
 * push that sends the same objects again (a branch deleted, then pushed again from the
 * same repository) writes the same `segments/<id>.pack/.idx` keys as the segment a clean
 * already replaced. A later clean decides to delete that replaced segment from its
 * listing (the segment's age and its replacement's age, as listed), and deletes it
 * without listing again: the push that stored it afresh meanwhile, and whose ref entry
 * names it, is acknowledged and loses its objects (the compaction that replaced the
 * segment left them out: they were garbage then). The guard cannot help: the push's own
 * segment is listed when it checks, it is deleted afterwards.
 *
 * Interleaving (lease 1 s, grace 2 s): push `tmp` (segment S), delete `tmp`; 2.5 s later
 * clean 1 compacts into N without S's objects (garbage) and writes N.replaces naming S;
 * 2.5 s later clean 2 lists (S old, replaced long ago: to delete); `git push origin tmp`
 * stores S again (same id) and creates tmp's entry; clean 2 deletes S's index and pack.
 * A fresh clone of tmp then fails.
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
      `hostile ${backend.name}: a replaced segment pushed again (same id) is deleted by a clean that listed it before`,
    ...opts,
    fn: async () => {
      const e = await makeEnv({
        ...backend.env,
        [LEASE_ENV]: String(LEASE_S),
        TRUNKS_AUTO_MAINTENANCE: "0",
      });
      const url = await trunkUrl(backend, "hostile-repush");
      const a = await newRepo(e, "a");
      await git(e, a, "remote", "add", "origin", `trunks::${url}`);
      await git(e, a, "push", "-q", "origin", "main");
      await git(e, a, "checkout", "-q", "-b", "tmp");
      await commitFile(e, a, "tmp.txt", "only on tmp\n");
      const tip = (await git(e, a, "rev-parse", "HEAD")).trim();
      const inner = await openStore(url, backend.settings);
      const ids = async () => (await listSegmentKeys(inner)).complete.map((s) => s.id);
      const work = await Deno.makeTempDir({ prefix: "trunks-hostile-" });
      try {
        const before = new Set(await ids());
        await git(e, a, "push", "-q", "origin", "tmp");
        const s = (await ids()).filter((id) => !before.has(id));
        assertEquals(s.length, 1);
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
        assert(c2.inventory!.listing.complete.some((x) => x.id === s[0]), "S listed by clean 2");
        // The branch is pushed again: the same objects, the same segment id.
        await git(e, a, "push", "-q", "origin", "tmp");
        const r2 = await cleanTrunk(inner, c2.inventory!, {
          graceMs: GRACE_MS,
          workDir: `${work}/2`,
        });
        const dir = `${await Deno.makeTempDir()}/clone`;
        const clone = await run(e, "git", ["clone", "-q", "-b", "tmp", `trunks::${url}`, dir]);
        assert(
          clone.code === 0,
          `acknowledged push of tmp (${tip}) lost: clean 2 deleted ${
            JSON.stringify(r2.deleted.segments)
          } (the re-pushed segment is ${s[0]}); clone: ${clone.stderr.slice(0, 400)}`,
        );
        assertEquals((await git(e, dir, "rev-parse", "HEAD")).trim(), tip);
      } finally {
        await inner.close();
      }
    },
  });
}
