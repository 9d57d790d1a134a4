/**
 * The yardstick: a trunk after 1,000 small pushes compacts to one segment, and
 * a clone of it then needs one segment download, like a trunk pushed once.
 */
import { assert, assertEquals } from "../assert.ts";
import { LEASE_ENV } from "../../src/trunk/lease.ts";
import { e2eBackends, makeEnv, ok, run, trunkUrl } from "../e2e/harness.ts";
import { generateRepo } from "../../bench/lib.ts";
import { simulatePushes } from "../../harness/many_pushes.ts";
import { check, cloneMatches, opts, segmentIds, type Setup } from "./lib.ts";

const PUSHES = 1000;

Deno.test({
  name: `clean local: a ${PUSHES}-push trunk compacts to one segment and clones whole`,
  ...opts,
  fn: async () => {
    const [local] = e2eBackends();
    const e = await makeEnv({ [LEASE_ENV]: "0" });
    const src = `${await Deno.makeTempDir()}/src.git`;
    await generateRepo(e, src, { commits: PUSHES, branches: 0 });
    const url = await trunkUrl(local, "many");
    assertEquals(await simulatePushes(e, src, url, {}), PUSHES);
    const s: Setup = { e, url, remote: `trunks::${url}`, a: src, backend: local };
    assertEquals((await segmentIds(s)).length, PUSHES);
    const want = [
      `${(await ok(e, "git", ["rev-parse", "main"], { cwd: src })).trim()} refs/heads/main`,
    ];
    await cloneMatches(s, want);

    const clean = await check(s, ["--clean", "--grace", "0"]);
    assertEquals(clean.code, 0, clean.stderr);
    assertEquals(clean.report.stats.segments, PUSHES);
    assertEquals(clean.report.clean!.deleted.segments.length, PUSHES);
    assertEquals(await segmentIds(s), [clean.report.clean!.compacted!.id]);
    const dir = await cloneMatches(s, want);
    const log = await run(e, "git", ["rev-list", "--count", "HEAD"], { cwd: dir });
    assertEquals(log.stdout.trim(), String(PUSHES));
    const v = await run(e, "git", ["fetch", "-v", "origin"], { cwd: dir });
    assert(!/fetched [1-9]/.test(v.stderr), v.stderr);
  },
});
