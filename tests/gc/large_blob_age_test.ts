/**
 * Failed before d2a5813 (large-blob uploads claim their own blobs):
 * a push's OUTLIVED_LEASE refusal is measured from the start of its *segment* upload, but
 * its large blobs (chunks and manifests) are uploaded before that, and a clean judges them
 * by their own age. A push whose large-blob uploads take longer than the grace (two leases)
 * has its first blob's manifest and chunks collected by a clean (no ref, no segment, no
 * touch names them yet: touches name only reused blobs), then uploads its segment and
 * creates its entry within a lease of that upload: acknowledged, and pointing at a deleted
 * manifest.
 *
 * Interleaving (lease 1 s, grace 2 s): the push stores blob 1's chunks and manifest; it
 * then takes 2.3 s before storing the next (a slow upload of blob 2, simulated by a hook
 * on the manifest's put); a clean lists, finds blob 1's manifest and chunks older than
 * the grace and unreferenced, deletes them; the push stores blob 2, its segment, its
 * entry: `push()` returns success. A fresh clone then failed (missing object). Now an
 * upload past half a lease claims its own blobs and stores again what a clean took.
 */
import { assert, assertEquals } from "../assert.ts";
import { Trunk as Library } from "../../src/sdk/trunk.ts";
import { openStore } from "../../src/storage/registry.ts";
import { checkTrunk } from "../../src/trunk/check.ts";
import { cleanTrunk } from "../../src/trunk/gc.ts";
import { makeEnv, run, trunkUrl } from "../e2e/harness.ts";
import { opts } from "./lib.ts";
import { afterFirstPut, GRACE_MS, LEASE_S, randomBytes, sceneBackends } from "./repush_scene.ts";
import { withProcessEnv } from "../../harness/process_env.ts";

for (const backend of sceneBackends()) {
  Deno.test({
    name:
      `large blob ${backend.name}: large blobs uploaded more than a grace before the segment survive a clean under an acknowledged push`,
    ...opts,
    fn: () =>
      withProcessEnv({ TRUNKS_LARGE_BLOB_THRESHOLD: "64k" }, async () => {
        const e = await makeEnv({ ...backend.env });
        const url = await trunkUrl(backend, "large-blob-age");
        const inner = await openStore(url, backend.settings);
        const work = await Deno.makeTempDir({ prefix: "trunks-large-blob-" });
        let deletedManifests = 0;
        const store = afterFirstPut(
          inner,
          (key) => /^blobs\/[0-9a-f]{40,64}$/.test(key),
          async () => {
            // The push is slow uploading its next large blob: longer than the grace.
            await new Promise((r) => setTimeout(r, GRACE_MS + 300));
            const { inventory } = await checkTrunk(inner, { workDir: `${work}/c` });
            const r = await cleanTrunk(inner, inventory!, {
              graceMs: GRACE_MS,
              workDir: `${work}/c`,
            });
            deletedManifests += r.deleted.manifests;
          },
        );
        try {
          await using t = await Library.open({
            store,
            writer: "lib",
            create: true,
            leaseSeconds: LEASE_S,
          });
          t.write("big1.bin", randomBytes(200_000));
          t.write("big2.bin", randomBytes(200_000));
          const c = await t.commit({ message: "two large files", branch: "main" });
          const pushed = await t.push();
          // The push says it is done.
          assertEquals(pushed.map((p) => p.oid), [c.oid]);
          // What an acknowledged push needs must still be there.
          const { report } = await checkTrunk(inner, { workDir: `${work}/after` });
          const dir = `${await Deno.makeTempDir()}/clone`;
          const clone = await run(e, "git", ["clone", "-q", `trunks::${url}`, dir]);
          // The clean may delete them (it ran before the push could claim them), then the
          // push must have stored them again.
          assert(
            report.problems.length === 0 && clone.code === 0,
            `the clean deleted ${deletedManifests} manifest(s) of a push then acknowledged; check: ${
              JSON.stringify(report.problems?.slice(0, 2))
            }; clone exit ${clone.code}: ${clone.stderr.slice(0, 400)}`,
          );
          assert(clone.code === 0, clone.stderr);
        } finally {
          await inner.close();
        }
      }),
  });
}
