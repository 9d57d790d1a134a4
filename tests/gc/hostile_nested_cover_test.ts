/**
 * Hostile review (failed on 53bb284): a fresh clone fails although every object
 * is stored and `trunks check` finds nothing wrong. A fetch counts a segment stored again
 * after a compaction as not covered by it (`coveredWhenWritten`), but only while that
 * compaction's own sidecar is listed: for a compaction known only through a later one's
 * `nested` list (its sidecar deleted with it), the list is trusted as is. So a segment
 * pushed again (same id) after compaction N, where N was later compacted into M and
 * deleted, is taken as covered by M: the clone downloads M only, which lacks it.
 *
 * Sequence (lease 1 s, grace 2 s): push main (A) and tmp (S), delete tmp; 2.5 s later
 * clean 1 compacts into N without S's objects (N.replaces: A, S); push main (B); clean 2
 * compacts into M (M.replaces: N, A, S, B; nested N: A, S); 2.5 s later push tmp again (S
 * stored again); clean 3 deletes N, A, B (replaced long ago) and keeps S (young). A fresh
 * clone of tmp downloads M alone and fails.
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
      `hostile ${backend.name}: a segment pushed again is taken as covered through a nested list; a fresh clone fails`,
    ...opts,
    fn: async () => {
      const e = await makeEnv({
        ...backend.env,
        [LEASE_ENV]: String(LEASE_S),
        TRUNKS_AUTO_MAINTENANCE: "0",
      });
      const url = await trunkUrl(backend, "hostile-nested");
      const a = await newRepo(e, "a");
      await git(e, a, "remote", "add", "origin", `trunks::${url}`);
      await git(e, a, "push", "-q", "origin", "main");
      await git(e, a, "checkout", "-q", "-b", "tmp");
      await commitFile(e, a, "tmp.txt", "only on tmp\n");
      const tip = (await git(e, a, "rev-parse", "HEAD")).trim();
      await git(e, a, "checkout", "-q", "main");
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
        const before = new Set(await ids());
        await git(e, a, "push", "-q", "origin", "tmp");
        const s = (await ids()).filter((id) => !before.has(id))[0];
        await git(e, a, "push", "-q", "origin", ":tmp");
        await sleep(GRACE_MS + 500);
        assert((await clean(1)).compacted, "clean 1 compacted");
        await commitFile(e, a, "b.txt", "b\n");
        await git(e, a, "push", "-q", "origin", "main");
        assert((await clean(2)).compacted, "clean 2 compacted");
        await sleep(GRACE_MS + 500);
        await git(e, a, "push", "-q", "origin", "tmp");
        const r3 = await clean(3);
        assert((await ids()).includes(s), "S is stored");
        const { report } = await checkTrunk(inner, { workDir: `${work}/after` });
        const dir = `${await Deno.makeTempDir()}/clone`;
        const clone = await run(e, "git", ["clone", "-q", "-b", "tmp", `trunks::${url}`, dir]);
        assert(
          clone.code === 0,
          `clone of tmp failed with S (${s}) stored; check ok=${report.ok}; clean 3 deleted ${r3.deleted.segments.length} segment(s): ${
            clone.stderr.slice(0, 400)
          }`,
        );
        assertEquals((await git(e, dir, "rev-parse", "HEAD")).trim(), tip);
      } finally {
        await inner.close();
      }
    },
  });
}
