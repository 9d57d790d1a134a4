/**
 * Failed before f688c25 (hostile review 2 on 00f0876: 2 of 2 runs on local and on MinIO, deterministic).
 * Severity: acknowledged push lost (a fresh clone
 * fails: the large blob's manifest and chunks are gone), on a trunk whose trunk.json says
 * `leaseSeconds: 0` (accepted by `leaseForNewTrunk`, and then `--grace 0` is allowed).
 *
 * d2a5813 makes a large-blob upload claim its own chunks and manifests through the reuse
 * guard only `trunk.leaseMs > 0 && ... > leaseMs / 2`: with a lease of 0 it never claims
 * them, and the GC guard (`collectedBase`) checks segments only. Nothing references the
 * new manifest until the push's entry exists, so a clean with grace 0 that lists after the
 * upload deletes it.
 *
 * Interleaving (lease 0, grace 0, large-blob threshold 1 KiB): `git push origin big` uploads
 * the blob's chunks and manifest, then is held at `push:before-claim` (TRUNKS_FAULT_DELAY);
 * a clean checks and deletes the manifest and chunks (no ref reaches them); the push
 * resumes, claims nothing, uploads its segment, creates its entry and exits 0. A fresh
 * clone of `big` fails.
 */
import { assert, assertEquals } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import { checkTrunk } from "../../src/trunk/check.ts";
import { cleanTrunk } from "../../src/trunk/gc.ts";
import { THRESHOLD_ENV } from "../../src/trunk/large_blobs.ts";
import { LEASE_ENV } from "../../src/trunk/lease.ts";
import { e2eBackends, git, makeEnv, newRepo, run, trunkUrl } from "../e2e/harness.ts";
import { opts } from "./lib.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const backend of e2eBackends().filter((b) => ["local", "minio"].includes(b.name))) {
  Deno.test({
    name:
      `race ${backend.name}: lease 0, a clean between a large blob's upload and the push's entry deletes the blob`,
    ...opts,
    fn: async () => {
      const e = await makeEnv({
        ...backend.env,
        [LEASE_ENV]: "0",
        [THRESHOLD_ENV]: "1k",
        TRUNKS_AUTO_MAINTENANCE: "0",
      });
      const url = await trunkUrl(backend, "race-lease0-blob");
      const a = await newRepo(e, "a");
      await git(e, a, "remote", "add", "origin", `trunks::${url}`);
      await git(e, a, "push", "-q", "origin", "main");
      await git(e, a, "checkout", "-q", "-b", "big");
      await Deno.writeFile(`${a}/big.bin`, crypto.getRandomValues(new Uint8Array(20_000)));
      await git(e, a, "add", "big.bin");
      await git(e, a, "commit", "-qm", "a large blob");
      const tip = (await git(e, a, "rev-parse", "HEAD")).trim();
      const inner = await openStore(url, backend.settings);
      const work = await Deno.makeTempDir({ prefix: "trunks-race-" });
      try {
        const signal = `${work}/held`;
        const push = run(e, "git", ["push", "-q", "origin", "big"], {
          cwd: a,
          env: { TRUNKS_FAULT_DELAY: "push:before-claim:4000", TRUNKS_FAULT_SIGNAL: signal },
        });
        for (let i = 0; i < 400; i++) {
          if (await Deno.stat(signal).then(() => true, () => false)) break;
          await sleep(25);
        }
        await sleep(100);
        const c = await checkTrunk(inner, { workDir: `${work}/c` });
        assert(c.inventory, "check");
        const r = await cleanTrunk(inner, c.inventory, { graceMs: 0, workDir: `${work}/c` });
        const pushed = await push;
        assertEquals(pushed.code, 0, `the push is acknowledged: ${pushed.stderr}`);
        const dir = `${await Deno.makeTempDir()}/clone`;
        const clone = await run(e, "git", ["clone", "-q", "-b", "big", `trunks::${url}`, dir]);
        assert(
          clone.code === 0,
          `acknowledged push of big (${tip}) lost: the clean deleted ${
            JSON.stringify(r.deleted)
          }; clone: ${clone.stderr.slice(0, 400)}`,
        );
        assertEquals((await git(e, dir, "rev-parse", "HEAD")).trim(), tip);
      } finally {
        await inner.close();
      }
    },
  });
}
