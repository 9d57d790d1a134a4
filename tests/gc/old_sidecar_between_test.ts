/**
 * Fails on f3555e4: a fresh clone of an acknowledged push fails although every object is
 * stored; mixed clients only (a clean by trunks before `listed` times).
 *
 * A list without times (an older client's) vouches for the segments stored before its
 * sidecar. Once that sidecar is deleted with its segment, the list lives on nested in a
 * newer one (its carrier), and was judged by the carrier's time: later than the clean, so
 * a segment stored again between the clean and the carrier counted as covered by it.
 *
 * Interleaving (local store, lease 60 s, grace 2 h, times backdated instead of waiting):
 * push `tmp` (segment X: a file of 200 KiB), delete `tmp`; backdate 3 h; clean 1 (an older
 * client: its sidecar has no times) compacts into D without X's objects; `git push origin
 * tmp` stores X again (the same id, fresh) and is acknowledged; pushes to main; a merge
 * takes D and main's small segments into M (whole; D's list carried nested, without
 * times), not X (too large for the geometric step); backdate 3 h; the next merge step
 * deletes D and its sidecar. The fetch plan then took X as covered through M -> D (X
 * stored before M's sidecar) and never downloaded it: a fresh clone of tmp failed.
 */
import { assert, assertEquals } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import { checkTrunk } from "../../src/trunk/check.ts";
import { cleanTrunk } from "../../src/trunk/gc.ts";
import { mergeSmallSegments } from "../../src/trunk/merge_segments.ts";
import { listSegmentKeys } from "../../src/trunk/replaces.ts";
import { pseudoRandom } from "../largefiles/data.ts";
import { commitFile, e2eBackends, git, run } from "../e2e/harness.ts";
import { backdate, opts, pushedThenDeleted, setup, stripSidecarTimes } from "./lib.ts";

const GRACE_MS = 2 * 3600e3;

for (const backend of e2eBackends().filter((b) => b.name === "local")) {
  Deno.test({
    name:
      `race ${backend.name}: an older client's list, carried nested once its sidecar is deleted, vouches only for what was stored before that sidecar`,
    ...opts,
    fn: async () => {
      const { e, url, a } = await setup(backend, "race-oldbetween", 60);
      const root = new URL(url).pathname;
      await git(e, a, "checkout", "-q", "-b", "tmp");
      await Deno.writeFile(`${a}/big.bin`, pseudoRandom(200 << 10, 7));
      await git(e, a, "add", "big.bin");
      await git(e, a, "commit", "-qm", "big on tmp");
      const tip = (await git(e, a, "rev-parse", "HEAD")).trim();
      const inner = await openStore(url, backend.settings);
      const ids = async () => (await listSegmentKeys(inner)).complete.map((s) => s.id);
      const work = await Deno.makeTempDir({ prefix: "trunks-race-" });
      const merge = (n: number, minSegments: number) =>
        mergeSmallSegments(inner, "sha1", {
          workDir: `${work}/m${n}`,
          graceMs: GRACE_MS,
          minSegments,
          maxBytes: 100_000,
        });
      try {
        const x = await pushedThenDeleted(e, a, inner, root, "tmp");
        const c = await checkTrunk(inner, { workDir: `${work}/c` });
        assert(c.inventory, "check");
        const r1 = await cleanTrunk(inner, c.inventory, {
          graceMs: GRACE_MS,
          workDir: `${work}/c`,
        });
        assert(r1.compacted !== null, "clean 1 compacted");
        // Clean 1 was an older client: its sidecar records no stored times.
        const d = await stripSidecarTimes(inner);
        await backdate(root, 60_000);
        // The branch is pushed again: the same objects, the same segment id, stored anew.
        await git(e, a, "push", "-q", "origin", "tmp");
        assert((await ids()).includes(x), "X stored again");
        await git(e, a, "checkout", "-q", "main");
        for (let i = 0; i < 3; i++) {
          await commitFile(e, a, `m${i}.txt`, `main ${i}\n`);
          await git(e, a, "push", "-q", "origin", "main");
        }
        const m1 = await merge(1, 2);
        assert(m1.merged, "the merge ran");
        const listing = await listSegmentKeys(inner);
        assert(listing.complete.some((s) => s.id === x), "X is not merged");
        await backdate(root, 3 * 3600e3);
        const m2 = await merge(2, 1000);
        assert(m2.deleted.includes(d), `the next step deleted D: ${JSON.stringify(m2)}`);
        assert(!m2.deleted.includes(x), "X stays");
        const dir = `${await Deno.makeTempDir()}/clone`;
        const clone = await run(e, "git", ["clone", "-q", "-b", "tmp", `trunks::${url}`, dir]);
        assert(
          clone.code === 0,
          `a fresh clone of the acknowledged push of tmp (${tip}) fails: ${
            clone.stderr.slice(0, 400)
          }`,
        );
        assertEquals((await git(e, dir, "rev-parse", "HEAD")).trim(), tip);
        const fsck = await run(e, "git", ["fsck", "--strict"], { cwd: dir });
        assertEquals(fsck.code, 0, fsck.stderr);
      } finally {
        await inner.close();
        await Deno.remove(work, { recursive: true }).catch(() => {});
      }
    },
  });
}
