/**
 * `--clean` while others work: two pushers on their own branches and a fetcher run
 * round after round against the trunk while clean runs with a short grace period, so
 * segments are deleted under their feet. No push or fetch may fail, and at the end a
 * fresh clone has every ref, fsck-clean.
 */
import { assert, assertEquals } from "../assert.ts";
import { e2eBackends, git, ok, run } from "../e2e/harness.ts";
import { check, cloneMatches, opts, segmentIds, setup, smallPushes, trunkRefs } from "./lib.ts";

const ROUNDS = 4;

for (const backend of e2eBackends().filter((b) => ["local", "minio"].includes(b.name))) {
  Deno.test({
    name: `clean ${backend.name}: concurrent pushers and a fetcher while --clean runs`,
    ...opts,
    fn: async () => {
      const s = await setup(backend);
      const b = `${await Deno.makeTempDir()}/b`;
      const c = `${await Deno.makeTempDir()}/c`;
      await ok(s.e, "git", ["clone", "-q", s.remote, b]);
      await ok(s.e, "git", ["clone", "-q", s.remote, c]);
      await git(s.e, c, "checkout", "-q", "-b", "other");
      let deleted = 0;
      let compactions = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const fetches = (async () => {
          for (let i = 0; i < 3; i++) {
            const r = await run(s.e, "git", ["fetch", "-q", "origin"], { cwd: b });
            assertEquals(r.code, 0, `round ${round} fetch ${i}: ${r.stderr}`);
          }
        })();
        const cleaner = (async () => {
          // Let the pushers start, so the clean sees segments whose refs are not written yet.
          await new Promise((r) => setTimeout(r, 300));
          const r = await check(s, ["--clean", "--grace", "2s"]);
          assertEquals(r.code, 0, `round ${round} clean: ${r.stderr}`);
          deleted += r.report.clean!.deleted.segments.length;
          if (r.report.clean!.compacted) compactions++;
        })();
        await Promise.all([
          smallPushes(s, 3, "main"),
          smallPushes(s, 3, "other", c),
          fetches,
          cleaner,
        ]);
        // Older than the grace period by the next round.
        await new Promise((r) => setTimeout(r, 2100));
      }
      assert(compactions >= ROUNDS - 1, `compactions ${compactions}`);
      assert(deleted > 0, "some segments were old enough to delete while others worked");
      await git(s.e, b, "fetch", "-q", "origin");
      assertEquals(
        await git(s.e, b, "rev-parse", "origin/main", "origin/other"),
        (await git(s.e, s.a, "rev-parse", "main")) + (await git(s.e, c, "rev-parse", "other")),
      );
      await git(s.e, b, "fsck", "--strict", "--no-dangling");
      const want = await trunkRefs(s);
      assertEquals(want.length, 2);
      await cloneMatches(s, want);
      const final = await check(s, ["--clean", "--grace", "0"]);
      assertEquals(final.code, 0, final.stderr);
      assertEquals((await segmentIds(s)).length, 1);
      await cloneMatches(s, want);
    },
  });
}
