/**
 * A push keeps its lease on a clock that counts a suspension: a machine suspended mid-push
 * (a laptop's lid, a paused or snapshot-restored VM) stops the monotonic clock on Linux
 * (CLOCK_MONOTONIC, which performance.now() reads, does not count suspend), while the
 * wall clock is set right on resume. Measured by the monotonic clock alone, a push paused
 * for hours before its entries skipped the state's re-read and created its entry on a base
 * whose successor maintenance had pruned meanwhile: success reported, main still at the
 * other writer's commit (lease_clock_step_test.ts's interleaving, the other clock).
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

const local = e2eBackends().find((b) => b.name === "local")!;

Deno.test({
  name: "lease: a push suspended (monotonic clock stopped) past two leases reads the state again",
  ...opts,
  fn: () =>
    withProcessEnv(
      { TRUNKS_LARGE_BLOB_THRESHOLD: "64k", TRUNKS_AUTO_MAINTENANCE: "0" },
      async () => {
        const url = await trunkUrl(local, "lease-suspend");
        const inner = await openStore(url, local.settings);
        const monotonic = performance.now.bind(performance);
        try {
          await pushFirst(inner);
          let pruned = 0;
          const slow = afterFirstPut(inner, (key) => key.startsWith("chunks/"), async () => {
            const suspended = monotonic();
            await using b = await Library.open({ store: inner, writer: "b" });
            for (const n of [1, 2]) {
              b.write(`b${n}.txt`, `b ${n}\n`);
              await b.commit({ message: `b ${n}`, branch: "main" });
              await b.push();
            }
            await new Promise((r) => setTimeout(r, 2 * LEASE_S * 1000 + 300));
            const meta = (await readMeta(inner))!;
            pruned = (await pruneRefLog(inner, new MemoryCache(), meta, LEASE_S * 1000)).pruned;
            // All of that happened while this machine slept: its monotonic clock did not
            // count it.
            const slept = monotonic() - suspended;
            performance.now = () => monotonic() - slept;
          });
          await using w = await Library.open({ store: slow, writer: "w" });
          w.write("big.bin", randomBytes(300_000));
          const c = await w.commit({ message: "w with a large file", branch: "main" });
          const pushed = await w.push().then((r) => r, (e: Error) => e);
          performance.now = monotonic;
          assert(pruned > 0, "maintenance pruned nothing meanwhile");
          if (pushed instanceof Error) return; // refused (fetch first): correct
          await using r = await Library.open({ store: inner, writer: "reader" });
          const now = (await r.refs()).find((x) => x.name === "refs/heads/main")?.oid;
          assertEquals(now, c.oid, `push of ${c.oid} reported success but main is ${now}`);
        } finally {
          performance.now = monotonic;
          await inner.close();
        }
      },
    ),
});
