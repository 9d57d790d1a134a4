/**
 * Ages a clean judges are listed times, the store's clock: a store whose clock is behind
 * this machine's makes all it stamped look older. With no compaction to read that clock
 * from, a clean must still not take a push's half-uploaded segment, stored a moment ago,
 * for an interrupted upload two leases old.
 */
import { assertEquals } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import type { ListEntry, Store } from "../../src/storage/store.ts";
import { checkTrunk } from "../../src/trunk/check.ts";
import { cleanTrunk } from "../../src/trunk/gc.ts";
import { e2eBackends } from "../e2e/harness.ts";
import { opts, setup } from "./lib.ts";

const local = e2eBackends().find((b) => b.name === "local")!;
const HOUR = 3600e3;

/** `store` as one whose clock runs an hour behind ours: what it lists, and what it stamps. */
function behind(store: Store): Store {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === "list") {
        return async (prefix: string, after?: string) =>
          (await target.list(prefix, after)).map((e: ListEntry) => ({
            ...e,
            modified: new Date(e.modified.getTime() - HOUR),
          }));
      }
      const v = Reflect.get(target, prop);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

Deno.test({
  name: "a store whose clock is behind: a clean keeps a push's half-uploaded segment",
  ...opts,
  fn: async () => {
    // Lease one second: a grace of two seconds, an hour of skew.
    const s = await setup(local, "clock", 1);
    const store = behind(await openStore(s.url, local.settings));
    const work = await Deno.makeTempDir();
    try {
      // A push in flight: its pack stored this instant, its index on the way.
      const half = `segments/${"ab".repeat(32)}.pack`;
      await store.put(half, new Uint8Array(64));
      const { inventory } = await checkTrunk(store, { workDir: work });
      const report = await cleanTrunk(store, inventory!, { graceMs: 2000, workDir: work });
      assertEquals(report.compacted, null, "one segment: nothing to compact");
      assertEquals(report.deleted.strays, 0, "the half-uploaded segment was deleted");
      assertEquals((await store.list(half)).length, 1);
    } finally {
      await store.close();
      await Deno.remove(work, { recursive: true });
    }
  },
});
