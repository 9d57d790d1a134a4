/**
 * Failed before f688c25 (hostile review 2 on 00f0876: 3 of 3 runs, deterministic: the push is held by a
 * fault delay). Severity: acknowledged push lost (a fresh clone of
 * the branch fails; the segment is left a lone pack, a stray the next clean deletes).
 *
 * `storedAsListed` (the fix for repush_replaced_test.ts) re-lists only the
 * replaced segment's *pack* before deleting its index and pack. A push re-storing the same
 * segment (a deleted branch pushed again: same pack, same id) uploads pack and index in
 * parallel (`uploadSegment`); the small index lands first, the pack lands when its upload
 * ends. While the pack is still in flight the re-list sees the old pack, so the clean
 * deletes the push's fresh index and the old pack; then the push's pack lands. The push
 * is within half its lease, so it runs no GC guard (`withinHalfLease`: "a segment deleted
 * meanwhile was replaced more than two leases before the push's listing": not so when the
 * push's own segment has the id of such a segment), creates its entry, and git is told
 * the push succeeded. The window is the whole pack upload, not the one request the
 * review accepted.
 *
 * Interleaving (local store, lease 60 s, grace 2 h, times backdated instead of waiting):
 * push `tmp` (segment S, a pack of several stream chunks), delete `tmp`; backdate 3 h;
 * clean 1 compacts into C without S's objects, C.replaces names S; backdate 3 h; clean 2
 * checks (S replaced long ago: to delete); `git push origin tmp` again, held mid-pack by
 * TRUNKS_FAULT_DELAY=push:mid-segment (a slow network), its index already stored; clean 2
 * re-lists S's pack (old), deletes S.idx (the push's) and S.pack (old); the push's pack
 * lands, its entry is created, git push exits 0. A fresh clone of tmp fails.
 */
import { assert, assertEquals } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import { checkTrunk } from "../../src/trunk/check.ts";
import { cleanTrunk } from "../../src/trunk/gc.ts";
import { LEASE_ENV } from "../../src/trunk/lease.ts";
import { listSegmentKeys } from "../../src/trunk/replaces.ts";
import { e2eBackends, git, makeEnv, newRepo, run, trunkUrl } from "../e2e/harness.ts";
import { backdate, opts } from "./lib.ts";

const GRACE_MS = 2 * 3600e3;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const backend of e2eBackends().filter((b) => b.name === "local")) {
  Deno.test({
    name:
      `race ${backend.name}: a clean deletes a re-pushed segment whose index landed before its pack; the push is acknowledged`,
    ...opts,
    fn: async () => {
      const e = await makeEnv({ ...backend.env, [LEASE_ENV]: "60", TRUNKS_AUTO_MAINTENANCE: "0" });
      const url = await trunkUrl(backend, "race-split");
      const root = new URL(url).pathname;
      const a = await newRepo(e, "a");
      await git(e, a, "remote", "add", "origin", `trunks::${url}`);
      await git(e, a, "push", "-q", "origin", "main");
      await git(e, a, "checkout", "-q", "-b", "tmp");
      // Incompressible, below the large-blob threshold: the pack streams in several chunks.
      const more = new Uint8Array(300_000);
      for (let i = 0; i < more.length; i += 60_000) {
        more.set(crypto.getRandomValues(new Uint8Array(60_000)), i);
      }
      await Deno.writeFile(`${a}/big.bin`, more);
      await git(e, a, "add", "big.bin");
      await git(e, a, "commit", "-qm", "only on tmp");
      const tip = (await git(e, a, "rev-parse", "HEAD")).trim();
      const inner = await openStore(url, backend.settings);
      const ids = async () => (await listSegmentKeys(inner)).complete.map((s) => s.id);
      const work = await Deno.makeTempDir({ prefix: "trunks-race-" });
      try {
        const before = new Set(await ids());
        await git(e, a, "push", "-q", "origin", "tmp");
        const s = (await ids()).filter((id) => !before.has(id));
        assertEquals(s.length, 1);
        await git(e, a, "push", "-q", "origin", ":tmp");
        await backdate(root, 3 * 3600e3);
        const c1 = await checkTrunk(inner, { workDir: `${work}/1` });
        const r1 = await cleanTrunk(inner, c1.inventory!, {
          graceMs: GRACE_MS,
          workDir: `${work}/1`,
        });
        assert(r1.compacted !== null, "clean 1 compacted");
        await backdate(root, 3 * 3600e3);
        const c2 = await checkTrunk(inner, { workDir: `${work}/2` });
        const listedIdx = (await inner.list(`segments/${s[0]}.idx`))[0].modified.getTime();
        // The branch is pushed again, held mid-pack (a slow network).
        const signal = `${work}/held`;
        const push = run(e, "git", ["push", "-q", "origin", "tmp"], {
          cwd: a,
          env: { TRUNKS_FAULT_DELAY: "push:mid-segment:6000", TRUNKS_FAULT_SIGNAL: signal },
        });
        for (let i = 0; i < 400; i++) {
          const idx = (await inner.list(`segments/${s[0]}.idx`))[0]?.modified.getTime();
          if (idx !== undefined && idx > listedIdx) break;
          await sleep(25);
        }
        assert((await Deno.stat(signal)).isFile, "the push's pack upload is held");
        const r2 = await cleanTrunk(inner, c2.inventory!, {
          graceMs: GRACE_MS,
          workDir: `${work}/2`,
        });
        const pushed = await push;
        assertEquals(pushed.code, 0, `the push is acknowledged: ${pushed.stderr}`);
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
