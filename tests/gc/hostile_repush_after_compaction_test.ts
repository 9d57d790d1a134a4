/**
 * Hostile review (failed on 53bb284): no concurrency needed. A compaction's
 * sidecar names every segment it listed, including garbage whose objects it left out.
 * When the same segment is stored again afterwards (same objects, same id: a deleted
 * branch pushed again from the same repository), the sidecar still counts it as replaced
 * (gc.ts `compact`: `replacedBefore` ignores when the segment was stored; only fetch's
 * `coveredWhenWritten` does). A later clean then treats it as covered, sees a single
 * current segment with no garbage (so it does not compact), and deletes the re-stored
 * segment once it is a grace old: the branch pushed again, acknowledged long ago, points
 * at objects no segment holds.
 *
 * Sequence (lease 1 s, grace 2 s): push `tmp` (segment S), delete `tmp`; 2.5 s later
 * clean 1 compacts into N without S's objects and writes N.replaces naming S; push `tmp`
 * again (S stored again, tmp's entry names it); 2.5 s later clean 2: deletes S. A fresh
 * clone of tmp fails.
 */
import { assert, assertEquals } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import { checkTrunk } from "../../src/trunk/check.ts";
import { cleanTrunk } from "../../src/trunk/gc.ts";
import { mergeSmallSegments } from "../../src/trunk/merge_segments.ts";
import { LEASE_ENV } from "../../src/trunk/lease.ts";
import { listSegmentKeys } from "../../src/trunk/replaces.ts";
import { commitFile, e2eBackends, git, makeEnv, newRepo, run, trunkUrl } from "../e2e/harness.ts";
import { opts } from "./lib.ts";

const LEASE_S = 1;
const GRACE_MS = 2 * LEASE_S * 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const seconds = [
  // Clean 2 is `trunks check --clean` again.
  "clean",
  // Clean 2 is automatic maintenance's merge step (mergeSmallSegments deletes what the
  // sidecars call replaced, by the same rule).
  "maintenance",
] as const;

for (
  const [backend, second] of e2eBackends().filter((b) => ["local", "minio"].includes(b.name))
    .flatMap((b) => seconds.map((x) => [b, x] as const))
) {
  Deno.test({
    name:
      `hostile ${backend.name}: a segment pushed again after a compaction replaced it is deleted by the next ${second}`,
    ...opts,
    fn: async () => {
      const e = await makeEnv({
        ...backend.env,
        [LEASE_ENV]: String(LEASE_S),
        TRUNKS_AUTO_MAINTENANCE: "0",
      });
      const url = await trunkUrl(backend, "hostile-recompact");
      const a = await newRepo(e, "a");
      await git(e, a, "remote", "add", "origin", `trunks::${url}`);
      await git(e, a, "push", "-q", "origin", "main");
      await git(e, a, "checkout", "-q", "-b", "tmp");
      await commitFile(e, a, "tmp.txt", "only on tmp\n");
      const tip = (await git(e, a, "rev-parse", "HEAD")).trim();
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
        const s = (await ids()).filter((id) => !before.has(id));
        assertEquals(s.length, 1);
        await git(e, a, "push", "-q", "origin", ":tmp");
        await sleep(GRACE_MS + 500);
        const r1 = await clean(1);
        assert(r1.compacted !== null, "clean 1 compacted");
        // The branch is pushed again: the same objects, the same segment id, acknowledged.
        await git(e, a, "push", "-q", "origin", "tmp");
        assert((await ids()).includes(s[0]), "S stored again");
        await sleep(GRACE_MS + 500);
        const r2 = second === "clean" ? await clean(2) : {
          compacted: null,
          deleted: {
            segments: (await mergeSmallSegments(inner, "sha1", {
              graceMs: GRACE_MS,
              workDir: `${work}/m`,
            })).deleted,
          },
        };
        const dir = `${await Deno.makeTempDir()}/clone`;
        const clone = await run(e, "git", ["clone", "-q", "-b", "tmp", `trunks::${url}`, dir]);
        assert(
          clone.code === 0,
          `acknowledged push of tmp (${tip}) lost: clean 2 deleted ${
            JSON.stringify(r2.deleted.segments)
          } (compacted: ${JSON.stringify(r2.compacted)}; the re-pushed segment is ${
            s[0]
          }); clone: ${clone.stderr.slice(0, 400)}`,
        );
        assertEquals((await git(e, dir, "rev-parse", "HEAD")).trim(), tip);
      } finally {
        await inner.close();
      }
    },
  });
}
