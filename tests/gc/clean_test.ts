/**
 * `trunks check --clean` with real git and real pushes: many small segments become one,
 * every ref's history still clones, what no ref reaches is dropped, an existing clone
 * does not download the compacted segment again, and nothing younger than the grace
 * period is deleted.
 */
import { assert, assertEquals } from "../assert.ts";
import { e2eBackends, git, ok, run } from "../e2e/harness.ts";
import { chunkKey } from "../../src/trunk/layout.ts";
import {
  check,
  cloneMatches,
  opts,
  segmentIds,
  setup,
  smallPushes,
  trunkRefs,
  withStore,
} from "./lib.ts";

for (const backend of e2eBackends().filter((b) => ["local", "minio"].includes(b.name))) {
  Deno.test({
    name: `clean ${backend.name}: small pushes compact to one segment, refs clone, garbage goes`,
    ...opts,
    fn: async () => {
      const s = await setup(backend);
      const b = `${await Deno.makeTempDir()}/b`;
      await ok(s.e, "git", ["clone", "-q", s.remote, b]);
      await smallPushes(s, 6);
      await git(s.e, s.a, "checkout", "-q", "-b", "feat");
      await smallPushes(s, 3, "feat");
      await git(s.e, s.a, "tag", "-a", "v1", "-m", "release");
      await git(s.e, s.a, "push", "-q", "origin", "v1");
      // A branch with commits of its own, then deleted: its objects become garbage.
      await git(s.e, s.a, "checkout", "-q", "-b", "gone");
      await smallPushes(s, 2, "gone");
      await git(s.e, s.a, "push", "-q", "origin", ":refs/heads/gone");
      await git(s.e, s.a, "checkout", "-q", "main");
      await git(s.e, b, "fetch", "-q", "origin");
      const want = await trunkRefs(s);
      const before = await check(s);
      assertEquals(before.code, 0, before.stderr);
      const n = before.report.stats.segments;
      assertEquals(n, 13);

      // Default grace: compacted, but every old segment is young and stays.
      const young = await check(s, ["--clean"]);
      assertEquals(young.code, 0, young.stderr);
      assert(young.report.clean?.compacted);
      assertEquals(young.report.clean.deleted.segments, []);
      assertEquals(young.report.clean.waiting.segments, n);
      assertEquals((await segmentIds(s)).length, n + 1);
      await cloneMatches(s, want);

      // No grace: the old segments go, one remains, the deleted branch's objects too.
      const clean = await check(s, ["--clean", "--grace", "0"]);
      assertEquals(clean.code, 0, clean.stderr);
      const compacted = clean.report.clean!.compacted!;
      assert(compacted, "a second compaction drops the deleted branch's objects");
      assertEquals(await segmentIds(s), [compacted.id]);
      const after = await check(s);
      assertEquals(after.code, 0, JSON.stringify(after.report.problems));
      assertEquals(after.report.stats.segments, 1);
      assert(
        after.report.stats.objects < before.report.stats.objects,
        `${after.report.stats.objects} < ${before.report.stats.objects}`,
      );
      assertEquals(after.report.stats.objects, after.report.stats.reachableObjects);
      await cloneMatches(s, want);

      // Nothing left to do: a clean run changes nothing.
      const again = await check(s, ["--clean", "--grace", "0"]);
      assertEquals(again.report.clean!.compacted, null);
      assertEquals(await segmentIds(s), [compacted.id]);

      // The old clone has every replaced segment: nothing to download, then only news.
      const quiet = await run(s.e, "git", ["fetch", "-v", "origin"], { cwd: b });
      assertEquals(quiet.code, 0, quiet.stderr);
      assert(!/trunks: fetched [1-9]/.test(quiet.stderr), quiet.stderr);
      await smallPushes(s, 1);
      const news = await run(s.e, "git", ["fetch", "-v", "origin"], { cwd: b });
      assertEquals(news.code, 0, news.stderr);
      assert(/trunks: fetched 1 segment\(s\)/.test(news.stderr), news.stderr);
      assertEquals(
        await git(s.e, b, "rev-parse", "origin/main"),
        await git(s.e, s.a, "rev-parse", "main"),
      );
      await git(s.e, b, "fsck", "--strict", "--no-dangling");
    },
  });
}

Deno.test({
  name: "clean local: nothing younger than the grace period is deleted; older garbage is",
  ...opts,
  fn: async () => {
    const [local] = e2eBackends();
    const s = await setup(local);
    await smallPushes(s, 4);
    const path = new URL(s.url).pathname;
    const orphan = "ab".repeat(32);
    await withStore(s, (st) => st.put(chunkKey(orphan), new Uint8Array([1, 2, 3])));
    await Deno.writeFile(`${path}/segments/${"cd".repeat(32)}.pack`, new Uint8Array([0]));
    const want = await trunkRefs(s);

    const first = await check(s, ["--clean", "--grace", "1h"]);
    assertEquals(first.code, 0, first.stderr);
    const c1 = first.report.clean!;
    assert(c1.compacted);
    assertEquals(c1.deleted, { segments: [], manifests: 0, chunks: 0, strays: 0, tempFiles: 0 });
    assertEquals(c1.waiting, { segments: 5, manifests: 0, chunks: 1, strays: 1 });
    assertEquals((await segmentIds(s)).length, 6);
    await cloneMatches(s, want);

    // Two hours later everything from then is old; a segment pushed now is young.
    await backdate(path, 2 * 3600e3);
    const then = await segmentIds(s);
    await smallPushes(s, 1);
    const fresh = (await segmentIds(s)).filter((id) => !then.includes(id));
    assertEquals(fresh.length, 1);
    const second = await check(s, ["--clean", "--grace", "1h"]);
    assertEquals(second.code, 0, second.stderr);
    const c2 = second.report.clean!;
    assert(c2.compacted);
    assertEquals(c2.deleted.segments.length, 6); // the five old ones and the first compaction
    assertEquals(c2.deleted.chunks, 1);
    assertEquals(c2.deleted.strays, 1);
    assertEquals(c2.waiting.segments, 1); // the young push's own segment
    assertEquals((await segmentIds(s)).sort(), [c2.compacted.id, fresh[0]].sort());
    await cloneMatches(s, await trunkRefs(s));
    assertEquals((await check(s)).code, 0);
  },
});

/** Make every file of the trunk look `ms` older. */
async function backdate(dir: string, ms: number): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) await backdate(p, ms);
    else {
      const st = await Deno.stat(p);
      const t = new Date((st.mtime ?? new Date()).getTime() - ms);
      await Deno.utime(p, t, t);
    }
  }
}
