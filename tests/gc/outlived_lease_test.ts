/**
 * DESIGN.md "Lease and grace": a clean keeps an unreferenced segment for two leases after
 * its upload, so a push creates the entries that point at its segment within one lease of
 * that upload. A push whose segment upload itself outlived the lease is refused
 * (OUTLIVED_LEASE, push again), its ref not moved: its segment may be one lease from
 * being collected already. Past half its lease a push reads the state again and checks
 * its segment is still listed, putting it back if not, before any entry names it.
 */
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { Trunk as Library } from "../../src/sdk/trunk.ts";
import { openStore } from "../../src/storage/registry.ts";
import { OUTLIVED_LEASE } from "../../src/trunk/push.ts";
import { afterFirstPut, LEASE_S, pushFirst, sleep } from "./repush_scene.ts";
import { withProcessEnv } from "../../harness/process_env.ts";
import type { Store } from "../../src/storage/store.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { readMeta } from "../../src/trunk/meta.ts";
import { readRefState } from "../../src/trunk/refs.ts";
import { listSegmentKeys } from "../../src/trunk/replaces.ts";

Deno.test("a push whose segment upload outlived the lease is refused, its ref not moved", async () => {
  const inner = await openStore(`memory://outlived-${crypto.randomUUID()}/trunks/t.trunk`);
  try {
    await withProcessEnv({ TRUNKS_AUTO_MAINTENANCE: "0" }, async () => {
      const first = await pushFirst(inner);
      // The segment's pack is stored, then the upload lingers past the lease.
      const slow = afterFirstPut(
        inner,
        (k) => k.startsWith("segments/"),
        async () => {
          await sleep(LEASE_S * 1200);
        },
      );
      await using w = await Library.open({ store: slow, writer: "w" });
      w.write("w.txt", "w\n");
      await w.commit({ message: "w", branch: "main" });
      await assertRejects(() => w.push(), Error, OUTLIVED_LEASE);
      await using r = await Library.open({ store: inner, writer: "reader" });
      assertEquals((await r.refs()).find((x) => x.name === "refs/heads/main")?.oid, first);
    });
  } finally {
    await inner.close();
  }
});

Deno.test("a push past half its lease puts its segment back when it is no longer listed", async () => {
  const inner = await openStore(`memory://relisted-${crypto.randomUUID()}/trunks/t.trunk`);
  await withProcessEnv({ TRUNKS_AUTO_MAINTENANCE: "0" }, async () => {
    await pushFirst(inner);
    // Once the push's pack and index are both stored, a deleter takes them (no clean's
    // trace left for the GC guard), and the push reaches its entries past half its lease.
    const before = new Set((await inner.list("segments/")).map((e) => e.key));
    let stored = 0;
    const slow = new Proxy(inner, {
      get(target, prop) {
        if (prop === "put") {
          return async (key: string, data: Parameters<Store["put"]>[1]) => {
            await target.put(key, data);
            if (!key.startsWith("segments/") || ++stored !== 2) return;
            for (const { key: k } of await target.list("segments/")) {
              if (!before.has(k)) await target.delete(k);
            }
            await sleep(LEASE_S * 600);
          };
        }
        const v = Reflect.get(target, prop);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    await using w = await Library.open({ store: slow, writer: "w" });
    w.write("w.txt", "w\n");
    await w.commit({ message: "w", branch: "main" });
    await w.push();
    const meta = (await readMeta(inner))!;
    const main = (await readRefState(inner, new MemoryCache(), meta)).latest.get(
      "refs/heads/main",
    )!;
    assertEquals(main.writer, "w");
    const listed = new Set((await listSegmentKeys(inner)).complete.map((s) => s.id));
    for (const id of main.segments) assert(listed.has(id), `segment ${id} of main's entry is gone`);
  });
  await inner.close();
});
