/**
 * `trunks check --clean` with real git and real pushes: many small segments become one,
 * every ref's history still clones, what no ref reaches is dropped, an existing clone
 * does not download the compacted segment again, and nothing younger than the grace
 * period is deleted.
 */
import { assert, assertEquals } from "../assert.ts";
import { e2eBackends, git, makeEnv, newRepo, ok, run, trunkUrl } from "../e2e/harness.ts";
import { LEASE_ENV } from "../../src/trunk/lease.ts";
import { chunkKey, segmentReplacesKey } from "../../src/trunk/layout.ts";
import { decodeReplaces } from "../../src/trunk/replaces.ts";
import { getBytes } from "../../src/storage/store.ts";
import {
  backdate,
  check,
  cloneMatches,
  opts,
  segmentIds,
  type Setup,
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
    // The five replaced two hours ago go; the first compaction, replaced only now, waits
    // (a reader that listed before this clean may still download it), as does the young
    // push's own segment.
    assertEquals(c2.deleted.segments.length, 5);
    assert(!c2.deleted.segments.includes(c1.compacted!.id));
    assertEquals(c2.deleted.chunks, 1);
    assertEquals(c2.deleted.strays, 1);
    assertEquals(c2.waiting.segments, 2);
    assertEquals(
      (await segmentIds(s)).sort(),
      [c2.compacted.id, fresh[0], c1.compacted!.id].sort(),
    );
    await cloneMatches(s, await trunkRefs(s));
    assertEquals((await check(s)).code, 0);
  },
});

// A reader that listed the segments just before a compaction may download any of them
// for up to two leases after it: replaced segments are deleted two leases after their
// replacement, however old they were when it happened (DESIGN.md "Lease and grace").
for (const merge of ["clean", "maintenance"] as const) {
  Deno.test({
    name:
      `clean local: a segment replaced by ${merge} stays two leases after the replacement, not after its upload`,
    ...opts,
    fn: async () => {
      const [local] = e2eBackends();
      const lease = 2;
      const e = await makeEnv({ [LEASE_ENV]: String(lease), TRUNKS_AUTO_MAINTENANCE: "0" });
      const url = await trunkUrl(local, "replaced");
      const a = await newRepo(e, "a");
      await git(e, a, "remote", "add", "origin", `trunks::${url}`);
      await git(e, a, "push", "-q", "origin", "main");
      const s = { e, url, remote: `trunks::${url}`, a, backend: local };
      await smallPushes(s, merge === "maintenance" ? 8 : 3);
      const grace = ["--grace", `${2 * lease}s`];
      const sleepPast = () => new Promise((r) => setTimeout(r, (2 * lease + 1) * 1000));
      // Every segment is now older than the grace; a reader lists them all.
      await sleepPast();
      const listed = await segmentIds(s);
      const merged = merge === "clean"
        ? (await check(s, ["--clean", ...grace])).report.clean!.compacted!.id
        : await maintain(s);
      // Maintenance deletes what earlier runs replaced: run it again straight away.
      if (merge === "maintenance") await maintain(s);
      const replaced = await withStore(s, async (st) => {
        const key = segmentReplacesKey(merged);
        return decodeReplaces((await getBytes(st, key))!, key).replaces;
      });
      assert(replaced.length >= 2, `${merged} replaces ${replaced}`);
      const after = await segmentIds(s);
      for (const id of listed) assert(after.includes(id), `${id} deleted at its replacement`);
      assert(after.includes(merged));
      await cloneMatches(s, await trunkRefs(s));
      // Two leases after the replacement they go.
      await sleepPast();
      const later = await check(s, ["--clean", ...grace]);
      assertEquals(later.code, 0, later.stderr);
      const left = await segmentIds(s);
      for (const id of replaced) assert(!left.includes(id), id);
      await cloneMatches(s, await trunkRefs(s));
    },
  });
}

/** One run of automatic maintenance; returns the id of the segment it merged, if any. */
async function maintain(s: Setup): Promise<string> {
  const r = await run(s.e, "trunks", ["maintenance", s.url, "--json"]);
  assertEquals(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).merge?.merged?.id;
}
