/**
 * Failed before 9d781cc (entries created on the state read again):
 * `keepLease` (src/trunk/push.ts) reads the state again past half the lease, but the push
 * then creates its entries on the bases it planned from its first read (`planned[].base`):
 * the re-read is thrown away. A push slow before its segment upload (large blobs, packing)
 * is not refused by OUTLIVED_LEASE (measured from the segment upload), so it can reach its
 * entries more than two leases after its read. If meanwhile another writer moved the ref
 * twice and maintenance pruned the entries superseded past two leases, the key
 * `refs/<ref>~<base seq + 1>` is free again: the push's create succeeds *below* the ref's
 * latest entry, the push reports success, and the ref still points at the other writer's
 * commit. The acknowledged push is silently lost (and the log now has an entry whose `old`
 * chains to nothing).
 *
 * Interleaving (lease 1 s): W reads main (seq 1) and starts storing a large blob's chunks
 * (slow: a hook on its first chunk put); writer B pushes main twice (seq 2, seq 3); 2.3 s
 * later maintenance prunes seq 1 and 2; W's chunks finish, it stores its segment, re-reads
 * the state (main at seq 3) and then creates seq 2 on its stale base: created, success.
 */
import { assert, assertEquals } from "../assert.ts";
import { Trunk as Library } from "../../src/sdk/trunk.ts";
import { openStore } from "../../src/storage/registry.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { readMeta } from "../../src/trunk/meta.ts";
import { pruneRefLog } from "../../src/trunk/prune.ts";
import { trunkUrl } from "../e2e/harness.ts";
import { opts } from "./lib.ts";
import { afterFirstPut, LEASE_S, pushFirst, randomBytes, sceneBackends } from "./repush_scene.ts";
import { withProcessEnv } from "../../harness/process_env.ts";

for (const backend of sceneBackends()) {
  Deno.test({
    name:
      `prune ${backend.name}: a slow push whose base entry was pruned meanwhile is refused, not created below the ref's latest`,
    ...opts,
    fn: () =>
      withProcessEnv(
        { TRUNKS_LARGE_BLOB_THRESHOLD: "64k", TRUNKS_AUTO_MAINTENANCE: "0" },
        async () => {
          const url = await trunkUrl(backend, "prune-stale-base");
          const inner = await openStore(url, backend.settings);
          try {
            await pushFirst(inner);
            let pruned = 0;
            let bTip = "";
            const slow = afterFirstPut(inner, (key) => key.startsWith("chunks/"), async () => {
              // Meanwhile writer B moves main twice, and maintenance prunes two leases later.
              await using b = await Library.open({ store: inner, writer: "b" });
              for (const n of [1, 2]) {
                b.write(`b${n}.txt`, `b ${n}\n`);
                bTip = (await b.commit({ message: `b ${n}`, branch: "main" })).oid;
                await b.push();
              }
              await new Promise((r) => setTimeout(r, 2 * LEASE_S * 1000 + 300));
              const meta = (await readMeta(inner))!;
              pruned = (await pruneRefLog(inner, new MemoryCache(), meta, LEASE_S * 1000)).pruned;
            });
            await using w = await Library.open({ store: slow, writer: "w" });
            w.write("big.bin", randomBytes(300_000));
            const c = await w.commit({ message: "w with a large file", branch: "main" });
            let pushed: unknown = null;
            try {
              pushed = await w.push();
            } catch (e) {
              // A refusal (conflict, cleaned meanwhile, lease outlived) is a correct outcome.
              console.log(`push refused: ${e}`);
              return;
            }
            assert(pruned > 0, "maintenance pruned meanwhile");
            await using r = await Library.open({ store: inner, writer: "reader" });
            const now = (await r.refs()).find((x) => x.name === "refs/heads/main")?.oid;
            assertEquals(
              now,
              c.oid,
              `push of ${c.oid} reported success (${
                JSON.stringify(pushed)
              }) but main is ${now} (B's tip ${bTip})`,
            );
          } finally {
            await inner.close();
          }
        },
      ),
  });
}
