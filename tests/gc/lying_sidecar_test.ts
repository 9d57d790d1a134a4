/**
 * A sidecar whose list is a lie: `segments/<A>.replaces` names segment B, which A does
 * not hold. A maintenance step must not delete B on its word: the branch B carries is a
 * push git acknowledged.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { encodeReplaces, listSegmentKeys } from "../../src/trunk/replaces.ts";
import { segmentReplacesKey } from "../../src/trunk/layout.ts";
import { type Backend, commitFile, e2eBackends, git, run } from "../e2e/harness.ts";
import { check, cloneMatches, opts, segmentIds, setup, trunkRefs, withStore } from "./lib.ts";

/**
 * A trunk of two segments: main's first push (A) and a branch side's (B), pushed a second
 * apart, so a sidecar written now is later than B even where listed times are whole
 * seconds (Azure, SFTP).
 */
async function sidePushed(backend: Backend, name: string) {
  const s = await setup(backend, name, 0);
  const [a] = await withStore(s, async (st) => (await listSegmentKeys(st)).complete);
  await git(s.e, s.a, "checkout", "-q", "-b", "side");
  await commitFile(s.e, s.a, "side.txt", "side\n");
  await git(s.e, s.a, "push", "-q", "origin", "side");
  await new Promise((r) => setTimeout(r, 1100));
  return { s, a };
}

for (const backend of e2eBackends()) {
  Deno.test({
    name: `${backend.name}: maintenance does not delete a segment a lying sidecar names`,
    ...opts,
    fn: async () => {
      const { s, a } = await sidePushed(backend, "liar");
      const b = await withStore(s, async (st) => {
        const all = (await listSegmentKeys(st)).complete;
        const b = all.find((x) => x.id !== a.id)!;
        await st.put(
          segmentReplacesKey(a.id),
          encodeReplaces([b.id], new Map(), new Map(), { whole: true }),
        );
        return b;
      });
      await new Promise((r) => setTimeout(r, 1100));
      const r = await run(s.e, "trunks", ["maintenance", s.url]);
      const left = await withStore(
        s,
        async (st) => (await listSegmentKeys(st)).complete.map((x) => x.id),
      );
      assert(
        left.includes(b.id),
        `maintenance deleted ${b.id} on a lying sidecar's word:\n${r.stderr}`,
      );
      // Said in one line naming the sidecar, not passed over.
      assert(r.code !== 0, r.stderr);
      assertStringIncludes(r.stderr, `segments/${a.id}.replaces says`);
      // trunks check names it too (a clone fails on the ref whose objects it skipped).
      const c = await check(s);
      assertEquals(
        c.report.problems.map((p) => [p.kind, p.key]),
        [["bad-sidecar", `segments/${a.id}.replaces`]],
      );
      // Nor does a clean delete it on that word.
      await check(s, ["--clean", "--grace", "0"]);
      assert((await segmentIds(s)).includes(b.id), "trunks check --clean deleted it");
      // Once the lie is removed, every acknowledged push is whole again.
      await withStore(s, (st) => st.delete(segmentReplacesKey(a.id)));
      await cloneMatches(s, await trunkRefs(s));
    },
  });
}

for (const backend of e2eBackends()) {
  Deno.test({
    name: `${backend.name}: a clean does not delete what a lying clean's sidecar names`,
    ...opts,
    fn: async () => {
      const { s, a } = await sidePushed(backend, "liar2");
      // A clean's list (not whole: it may leave garbage out), naming B, which A lacks.
      const b = await withStore(s, async (st) => {
        const b = (await listSegmentKeys(st)).complete.find((x) => x.id !== a.id)!;
        await st.put(segmentReplacesKey(a.id), encodeReplaces([b.id]));
        return b;
      });
      await new Promise((r) => setTimeout(r, 1100));
      // Named by trunks check (a clone fails on refs/heads/side, and says to run it).
      const c = await check(s);
      assertEquals(
        c.report.problems.map((p) => [p.kind, p.key]),
        [["bad-sidecar", `segments/${a.id}.replaces`]],
      );
      await check(s, ["--clean", "--grace", "0"]);
      await run(s.e, "trunks", ["maintenance", s.url]);
      assert((await segmentIds(s)).includes(b.id), "B, which refs/heads/side needs, was deleted");
      await withStore(s, (st) => st.delete(segmentReplacesKey(a.id)));
      await cloneMatches(s, await trunkRefs(s));
    },
  });
}
