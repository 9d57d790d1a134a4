/**
 * A push keeps its lease on a monotonic clock: a wall clock stepped back during a push
 * (an NTP correction, a resumed VM) must not make it skip the state's re-read past half
 * the lease. `keepLease` measured the lease by `Date.now()`: stepped back by hours, a push
 * slow before its segment upload reached its entries more than two leases after its read,
 * without reading the state again, and created its entry on a base whose successor
 * maintenance had pruned meanwhile: success reported, main still at the other writer's
 * commit (the interleaving of prune_stale_base_test.ts, plus the clock step).
 */
import { assert, assertEquals } from "../assert.ts";
import { Trunk as Library } from "../../src/sdk/trunk.ts";
import { openStore } from "../../src/storage/registry.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { readMeta } from "../../src/trunk/meta.ts";
import { pruneRefLog } from "../../src/trunk/prune.ts";
import { e2eBackends, trunkUrl } from "../e2e/harness.ts";
import { opts } from "./lib.ts";
import { afterFirstPut, LEASE_S, pushFirst, randomBytes } from "./repush_scene.ts";
import { withProcessEnv } from "../../harness/process_env.ts";

const HOUR = 3600_000;
const local = e2eBackends().find((b) => b.name === "local")!;

Deno.test({
  name: "lease: a wall clock stepped back hours during a push does not skip its re-read",
  ...opts,
  fn: () =>
    withProcessEnv(
      { TRUNKS_LARGE_BLOB_THRESHOLD: "64k", TRUNKS_AUTO_MAINTENANCE: "0" },
      async () => {
        const url = await trunkUrl(local, "lease-clock-step");
        const inner = await openStore(url, local.settings);
        const wallClock = Date.now;
        try {
          await pushFirst(inner);
          let pruned = 0;
          const slow = afterFirstPut(inner, (key) => key.startsWith("chunks/"), async () => {
            await using b = await Library.open({ store: inner, writer: "b" });
            for (const n of [1, 2]) {
              b.write(`b${n}.txt`, `b ${n}\n`);
              await b.commit({ message: `b ${n}`, branch: "main" });
              await b.push();
            }
            await new Promise((r) => setTimeout(r, 2 * LEASE_S * 1000 + 300));
            const meta = (await readMeta(inner))!;
            pruned = (await pruneRefLog(inner, new MemoryCache(), meta, LEASE_S * 1000)).pruned;
            // This machine's wall clock steps back three hours.
            Date.now = () => wallClock() - 3 * HOUR;
          });
          await using w = await Library.open({ store: slow, writer: "w" });
          w.write("big.bin", randomBytes(300_000));
          const c = await w.commit({ message: "w with a large file", branch: "main" });
          const pushed = await w.push().then((r) => r, (e: Error) => e);
          Date.now = wallClock;
          assert(pruned > 0, "maintenance pruned nothing meanwhile");
          if (pushed instanceof Error) return; // refused (fetch first): correct
          await using r = await Library.open({ store: inner, writer: "reader" });
          const now = (await r.refs()).find((x) => x.name === "refs/heads/main")?.oid;
          assertEquals(now, c.oid, `push of ${c.oid} reported success but main is ${now}`);
        } finally {
          Date.now = wallClock;
          await inner.close();
        }
      },
    ),
});
