/**
 * A snapshot far larger than the refs it could describe (planted or damaged): clones and
 * fetches do not read it (600 MB failed every clone on "buffer exceeds maximum length"),
 * they read the entries one by one; `trunks check` names it in one line.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { SNAPSHOT_PREFIX } from "../../src/trunk/layout.ts";
import { e2eBackends, git, ok } from "../e2e/harness.ts";
import { check, cloneMatches, opts, setup, trunkRefs, withStore } from "../gc/lib.ts";

const local = e2eBackends().find((b) => b.name === "local")!;

Deno.test({
  name: "a 600 MB snapshot: clones read entries instead, trunks check names it",
  ...opts,
  fn: async () => {
    const s = await setup(local, "huge", 0);
    // More refs than a reader fetches one by one before it takes the snapshot.
    for (let i = 0; i < 20; i++) await git(s.e, s.a, "branch", `b${i}`);
    await git(s.e, s.a, "push", "-q", "origin", "--all");
    await ok(s.e, "trunks", ["maintenance", s.url]);
    const key = await withStore(s, async (st) => {
      const [snap] = await st.list(SNAPSHOT_PREFIX);
      assert(snap, "maintenance wrote a snapshot");
      // Grown in place (sparse): as read, 600 MB of zero bytes.
      await Deno.truncate(`${new URL(s.url).pathname}/${snap.key}`, 600e6);
      return snap.key;
    });
    try {
      await cloneMatches(s, await trunkRefs(s));
      const r = await check(s);
      assertEquals(r.report.problems.map((p) => [p.kind, p.key]), [["bad-snapshot", key]]);
      assertStringIncludes(r.report.problems[0].message, "is larger than");
    } finally {
      await Deno.remove(`${new URL(s.url).pathname}/${key}`).catch(() => {});
    }
  },
});
