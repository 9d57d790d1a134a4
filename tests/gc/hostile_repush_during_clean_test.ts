/**
 * Hostile review (failed on 53bb284): a clean judges a segment's objects by the
 * segment's age *as listed*, and names every listed segment in its sidecar. A deleted
 * branch pushed again while the clean runs stores the same segment id again (fresh), but
 * the clean still sees the old one: its objects are garbage (old, unreachable in the
 * clean's view of the refs), the compaction leaves them out, and the sidecar, written
 * after the segment was stored again, says the compaction replaces it. Fetches believe
 * the sidecar (the segment was stored before it: `coveredWhenWritten` keeps it covered),
 * so a fresh clone of the branch downloads the compacted segment only and fails at once;
 * the next clean or maintenance step two leases later deletes the segment for good
 * (see hostile_repush_after_compaction_test.ts).
 *
 * Interleaving (lease 1 s, grace 2 s): push `tmp` (segment S), delete `tmp`, wait 2.5 s;
 * the clean lists (S old, tmp deleted); `git push origin tmp` stores S again and creates
 * tmp's entry (its guard sees no clean: none has written a sidecar yet); the clean
 * compacts into N without S's objects, N.replaces names S. A fresh clone of tmp fails.
 */
import { assert, assertEquals } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import { checkTrunk } from "../../src/trunk/check.ts";
import { cleanTrunk } from "../../src/trunk/gc.ts";
import { LEASE_ENV } from "../../src/trunk/lease.ts";
import { commitFile, e2eBackends, git, makeEnv, newRepo, run, trunkUrl } from "../e2e/harness.ts";
import { opts } from "./lib.ts";

const LEASE_S = 1;
const GRACE_MS = 2 * LEASE_S * 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const backend of e2eBackends().filter((b) => ["local", "minio"].includes(b.name))) {
  Deno.test({
    name:
      `hostile ${backend.name}: a deleted branch pushed again during a clean is compacted away; a fresh clone fails`,
    ...opts,
    fn: async () => {
      const e = await makeEnv({
        ...backend.env,
        [LEASE_ENV]: String(LEASE_S),
        TRUNKS_AUTO_MAINTENANCE: "0",
      });
      const url = await trunkUrl(backend, "hostile-during");
      const a = await newRepo(e, "a");
      await git(e, a, "remote", "add", "origin", `trunks::${url}`);
      await git(e, a, "push", "-q", "origin", "main");
      await git(e, a, "checkout", "-q", "-b", "tmp");
      await commitFile(e, a, "tmp.txt", "only on tmp\n");
      const tip = (await git(e, a, "rev-parse", "HEAD")).trim();
      const inner = await openStore(url, backend.settings);
      const work = await Deno.makeTempDir({ prefix: "trunks-hostile-" });
      try {
        await git(e, a, "push", "-q", "origin", "tmp");
        await git(e, a, "push", "-q", "origin", ":tmp");
        await sleep(GRACE_MS + 500);
        const c = await checkTrunk(inner, { workDir: work });
        assert(c.report.ok, JSON.stringify(c.report.problems));
        // While the clean works: the branch is pushed again, acknowledged.
        await git(e, a, "push", "-q", "origin", "tmp");
        const r = await cleanTrunk(inner, c.inventory!, { graceMs: GRACE_MS, workDir: work });
        const dir = `${await Deno.makeTempDir()}/clone`;
        const clone = await run(e, "git", ["clone", "-q", "-b", "tmp", `trunks::${url}`, dir]);
        assert(
          clone.code === 0,
          `fresh clone of acknowledged tmp (${tip}) failed after a clean (compacted ${
            JSON.stringify(r.compacted)
          }, deleted ${r.deleted.segments.length}): ${clone.stderr.slice(0, 400)}`,
        );
        assertEquals((await git(e, dir, "rev-parse", "HEAD")).trim(), tip);
      } finally {
        await inner.close();
      }
    },
  });
}
