/**
 * A trunk whose every sidecar is a merge's (whole: replaces.ts `timedLists`) is cloned by
 * real git without the plain segments' sizes and times (local disk then leaves them out of
 * the listing): the clone has every object (`git fsck`), an input of the merge stored
 * again since is covered by the merge, a plain segment larger than the in-memory bound is
 * downloaded through a file, and the bytes said are counted, not the NaN of sizes never
 * listed. Then a clean's sidecar (not whole) over it: the clone still has everything.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import { getBytes } from "../../src/storage/store.ts";
import { checkTrunk } from "../../src/trunk/check.ts";
import { cleanTrunk } from "../../src/trunk/gc.ts";
import { segmentIdxKey, segmentPackKey, segmentReplacesKey } from "../../src/trunk/layout.ts";
import { mergeSmallSegments } from "../../src/trunk/merge_segments.ts";
import { decodeReplaces, listSegmentKeys } from "../../src/trunk/replaces.ts";
import { pseudoRandom } from "../largefiles/data.ts";
import { commitFile, e2eBackends, git, makeEnv, newRepo, run, trunkUrl } from "./harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

for (const backend of e2eBackends().filter((b) => b.name === "local")) {
  Deno.test({
    name:
      `clone ${backend.name}: a trunk of merges' (whole) sidecars, planned without plain segments' details, is whole; and after a clean`,
    ...opts,
    fn: async () => {
      const e = await makeEnv({ ...backend.env, TRUNKS_AUTO_MAINTENANCE: "0" });
      const url = await trunkUrl(backend, "whole-merges");
      const a = await newRepo(e, "a");
      await git(e, a, "remote", "add", "origin", `trunks::${url}`);
      await git(e, a, "push", "-q", "origin", "main");
      // ~400 KiB that does not compress: a plain segment over the 256 KiB in-memory bound.
      await Deno.writeFile(`${a}/big.bin`, pseudoRandom(400 << 10, 3));
      await git(e, a, "add", "big.bin");
      await git(e, a, "commit", "-qm", "big");
      await git(e, a, "push", "-q", "origin", "main");
      for (let i = 0; i < 5; i++) {
        await commitFile(e, a, `f${i}.txt`, `${i}\n`);
        await git(e, a, "push", "-q", "origin", "main");
      }
      const store = await openStore(url, backend.settings);
      const work = await Deno.makeTempDir({ prefix: "trunks-whole-" });
      try {
        const merged = await mergeSmallSegments(store, "sha1", {
          workDir: `${work}/m`,
          graceMs: 2 * 3600e3,
          minSegments: 2,
          maxBytes: 100_000,
        });
        assert(merged.merged && merged.merged.replaces >= 5, JSON.stringify(merged));
        // One input stored again since (a push of the same pack): the merge holds it all.
        const sidecar = decodeReplaces(
          (await getBytes(store, segmentReplacesKey(merged.merged.id)))!,
          "sidecar",
        );
        assertEquals(sidecar.replaces.whole, true, "a merge's sidecar is whole");
        const again = sidecar.replaces[0];
        for (const key of [segmentPackKey(again), segmentIdxKey(again)]) {
          await store.put(key, (await getBytes(store, key))!);
        }
        for (let i = 5; i < 7; i++) {
          await commitFile(e, a, `f${i}.txt`, `${i}\n`);
          await git(e, a, "push", "-q", "origin", "main");
        }
        const tip = (await git(e, a, "rev-parse", "HEAD")).trim();
        const clone = async () => {
          const dir = `${await Deno.makeTempDir()}/clone`;
          const r = await run(e, "git", ["clone", "-v", "-v", `trunks::${url}`, dir]);
          assertEquals(r.code, 0, r.stderr);
          assertEquals((await git(e, dir, "rev-parse", "HEAD")).trim(), tip);
          const fsck = await run(e, "git", ["fsck", "--strict"], { cwd: dir });
          assertEquals(fsck.code, 0, fsck.stderr);
          return r.stderr;
        };
        const said = await clone();
        assertMatch(said, /trunks: fetched \d+ segment\(s\), [\d.]+ (KiB|MiB)\n/);

        const c = await checkTrunk(store, { workDir: `${work}/c` });
        assert(c.inventory, "check");
        const cleaned = await cleanTrunk(store, c.inventory, {
          graceMs: 2 * 3600e3,
          workDir: `${work}/c`,
        });
        assert(cleaned.compacted, JSON.stringify(cleaned));
        const listing = await listSegmentKeys(store);
        const wholes = await Promise.all(
          [...listing.sidecars.keys()].map(async (id) =>
            decodeReplaces((await getBytes(store, segmentReplacesKey(id)))!, id).replaces.whole
          ),
        );
        assertEquals(wholes.sort(), [true, undefined], "the merge's whole, the clean's not");
        await clone();
      } finally {
        await store.close();
        await Deno.remove(work, { recursive: true }).catch(() => {});
      }
    },
  });
}
