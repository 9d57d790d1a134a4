/**
 * A maintenance step's merge deletes the segments it replaced only two leases after the
 * merge, by the trunk's lease (DESIGN.md "Metadata that stays small", "Lease and grace"):
 * a clone or fetch that listed the small segments just before the merge still downloads
 * them. The merge's own tests pass their grace to mergeSmallSegments directly; this one
 * goes through `trunks maintenance`, where the grace comes from trunk.json.
 */
import { assert, assertEquals } from "../assert.ts";
import { e2eBackends, ok } from "../e2e/harness.ts";
import {
  backdate,
  cloneMatches,
  opts,
  segmentIds,
  setup,
  smallPushes,
  trunkRefs,
} from "../gc/lib.ts";
import { SEGMENTS_PREFIX } from "../../src/trunk/layout.ts";

const local = e2eBackends().find((b) => b.name === "local")!;

Deno.test({
  name: "maintenance keeps the segments its merge replaced for two leases, then deletes them",
  ...opts,
  fn: async () => {
    const s = await setup(local, "grace", 3600);
    await smallPushes(s, 10);
    const small = await segmentIds(s);
    assertEquals(small.length, 11);

    await ok(s.e, "trunks", ["maintenance", s.url]);
    const merged = (await segmentIds(s)).filter((id) => !small.includes(id));
    assertEquals(merged.length, 1, "the step merged the small segments into one");
    // A second step at once: every replaced segment is seconds old, not two hours.
    await ok(s.e, "trunks", ["maintenance", s.url]);
    const kept = await segmentIds(s);
    assertEquals(kept.filter((id) => small.includes(id)).length, 11, "replaced, kept");

    // A lease and a half later (by the files' times): still kept.
    const segments = `${new URL(s.url).pathname}/${SEGMENTS_PREFIX}`;
    await backdate(segments, 1.5 * 3600e3);
    await ok(s.e, "trunks", ["maintenance", s.url]);
    assertEquals(
      (await segmentIds(s)).filter((id) => small.includes(id)).length,
      11,
      "replaced a lease and a half ago, kept",
    );
    // Two leases and a minute: they go.
    await backdate(segments, 0.5 * 3600e3 + 60e3);
    await ok(s.e, "trunks", ["maintenance", s.url]);
    const after = await segmentIds(s);
    assert(after.includes(merged[0]), "the merged segment stays");
    assert(after.length < kept.length, `replaced segments deleted: ${after.length} left`);
    await cloneMatches(s, await trunkRefs(s));
  },
});
