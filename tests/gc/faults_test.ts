/**
 * kill -9 between the steps of `--clean` (TRUNKS_FAULT): the trunk stays valid, clones
 * and fetches work, and the next clean finishes the job.
 */
import { assert, assertEquals } from "../assert.ts";
import { e2eBackends, git, ok, run } from "../e2e/harness.ts";
import { check, cloneMatches, opts, segmentIds, setup, smallPushes, trunkRefs } from "./lib.ts";

const POINTS = ["gc:after-sidecar", "gc:after-segment", "gc:between-deletes"];

for (const backend of e2eBackends().filter((b) => ["local", "minio"].includes(b.name))) {
  Deno.test({
    name: `clean ${backend.name}: kill -9 at each step leaves a valid trunk; a rerun finishes`,
    ...opts,
    fn: async () => {
      for (const point of POINTS) {
        const s = await setup(backend);
        const b = `${await Deno.makeTempDir()}/b`;
        await ok(s.e, "git", ["clone", "-q", s.remote, b]);
        await smallPushes(s, 4);
        const want = await trunkRefs(s);
        const died = await run(s.e, "trunks", ["check", s.url, "--clean", "--grace", "0"], {
          env: { TRUNKS_FAULT: point },
        });
        assert(died.code !== 0, `${point}: clean should have died`);
        const after = await check(s);
        assertEquals(after.code, 0, `${point}: ${JSON.stringify(after.report.problems)}`);
        await cloneMatches(s, want);
        await git(s.e, b, "fetch", "-q", "origin");
        assertEquals(
          await git(s.e, b, "rev-parse", "origin/main"),
          await git(s.e, s.a, "rev-parse", "main"),
        );
        await git(s.e, b, "fsck", "--strict", "--no-dangling");
        // Pushing on top of a half-cleaned trunk works, and a rerun finishes the job.
        await smallPushes(s, 1);
        const rerun = await check(s, ["--clean", "--grace", "0"]);
        assertEquals(rerun.code, 0, `${point}: ${rerun.stderr}`);
        assertEquals((await segmentIds(s)).length, 1, point);
        await cloneMatches(s, await trunkRefs(s));
        assertEquals((await check(s)).code, 0, point);
      }
    },
  });
}
