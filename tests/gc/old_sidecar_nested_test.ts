/**
 * Failed before f688c25 (hostile review 2 on 00f0876, 4 of 4 runs; passes when the sidecar keeps its times).
 * Severity: a fresh clone fails while `trunks check` says healthy (an acknowledged
 * push's objects are stored, but no fetch downloads them until a later compaction takes
 * them in); mixed clients only: a sidecar written by trunks before `listed` times.
 *
 * `vouchedLists` judges a list without times by its own sidecar's stored time; a nested
 * list (carried in a newer sidecar, its own sidecar deleted with its segment) has none,
 * and `at === undefined` then vouches for every segment it names, however late that
 * segment was stored again. New clients carry an older client's list as it was, without
 * times, so the chain stays blind.
 *
 * Interleaving (local store, lease 60 s, grace 2 h, times backdated instead of waiting):
 * push `tmp` (segment X), delete `tmp`; backdate 3 h; clean 1 (an older client: its
 * sidecar has no times) compacts into D without X's objects; push `main` (segment Y);
 * backdate; clean 2 (new) compacts D and Y into N, whose sidecar carries D's list as
 * nested (no times), and deletes X (replaced long ago); backdate; clean 3 deletes D and
 * its sidecar. `git push origin tmp` stores X again (same id, fresh) and is acknowledged.
 * The fetch plan: N vouches for D (not stored), nested D vouches for X (no times, no
 * sidecar): X counts as covered by N and is never downloaded; a fresh clone of tmp fails.
 */
import { assert, assertEquals } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import { checkTrunk } from "../../src/trunk/check.ts";
import { cleanTrunk } from "../../src/trunk/gc.ts";
import { listSegmentKeys } from "../../src/trunk/replaces.ts";
import { commitFile, e2eBackends, git, run } from "../e2e/harness.ts";
import { backdate, opts, pushedThenDeleted, setup, stripSidecarTimes } from "./lib.ts";

const GRACE_MS = 2 * 3600e3;

for (const backend of e2eBackends().filter((b) => b.name === "local")) {
  Deno.test({
    name:
      `race ${backend.name}: an older client's sidecar, carried nested, vouches for a segment stored again; a fresh clone fails`,
    ...opts,
    fn: async () => {
      const { e, url, a } = await setup(backend, "race-oldnested", 60);
      const root = new URL(url).pathname;
      await git(e, a, "checkout", "-q", "-b", "tmp");
      await commitFile(e, a, "tmp.txt", "only on tmp\n");
      const tip = (await git(e, a, "rev-parse", "HEAD")).trim();
      const inner = await openStore(url, backend.settings);
      const ids = async () => (await listSegmentKeys(inner)).complete.map((s) => s.id);
      const work = await Deno.makeTempDir({ prefix: "trunks-race-" });
      const clean = async (n: number) => {
        const c = await checkTrunk(inner, { workDir: `${work}/${n}` });
        assert(c.inventory, `check ${n}`);
        return await cleanTrunk(inner, c.inventory, { graceMs: GRACE_MS, workDir: `${work}/${n}` });
      };
      try {
        const x = await pushedThenDeleted(e, a, inner, root, "tmp");
        const r1 = await clean(1);
        assert(r1.compacted !== null, "clean 1 compacted");
        // (D may be main's own segment: the compaction equals it.) Clean 1 was an older client: its sidecar records no stored times.
        const d = await stripSidecarTimes(inner);
        await git(e, a, "checkout", "-q", "main");
        await commitFile(e, a, "main.txt", "on main\n");
        await git(e, a, "push", "-q", "origin", "main");
        await backdate(root, 3 * 3600e3);
        const r2 = await clean(2);
        assert(r2.compacted !== null, "clean 2 compacted");
        assert(r2.deleted.segments.includes(x), "clean 2 deleted X");
        await backdate(root, 3 * 3600e3);
        const r3 = await clean(3);
        assert(r3.deleted.segments.includes(d), "clean 3 deleted D");
        // The branch is pushed again: the same objects, the same segment id.
        await git(e, a, "push", "-q", "origin", "tmp");
        assert((await ids()).includes(x), "X stored again");
        const healthy = (await checkTrunk(inner, { workDir: `${work}/4` })).report.ok;
        const dir = `${await Deno.makeTempDir()}/clone`;
        const clone = await run(e, "git", ["clone", "-q", "-b", "tmp", `trunks::${url}`, dir]);
        assert(
          clone.code === 0,
          `a fresh clone of the acknowledged push of tmp (${tip}) fails (check says ok: ${healthy}): ${
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
