/**
 * DESIGN.md "Lease and grace": a clean keeps an unreferenced segment for two leases after
 * its upload, so a push creates the entries that point at its segment within one lease of
 * that upload. A push whose segment upload itself outlived the lease is refused
 * (OUTLIVED_LEASE, push again), its ref not moved: its segment may be one lease from
 * being collected already.
 */
import { assertEquals, assertRejects } from "../assert.ts";
import { Trunk as Library } from "../../src/sdk/trunk.ts";
import { openStore } from "../../src/storage/registry.ts";
import { OUTLIVED_LEASE } from "../../src/trunk/push.ts";
import { afterFirstPut, LEASE_S, sleep } from "./repush_scene.ts";

Deno.test("a push whose segment upload outlived the lease is refused, its ref not moved", async () => {
  const inner = await openStore(`memory://outlived-${crypto.randomUUID()}/trunks/t.trunk`);
  const auto = Deno.env.get("TRUNKS_AUTO_MAINTENANCE");
  Deno.env.set("TRUNKS_AUTO_MAINTENANCE", "0");
  try {
    let first = "";
    {
      await using a = await Library.open({
        store: inner,
        writer: "a",
        create: true,
        leaseSeconds: LEASE_S,
      });
      a.write("a.txt", "first\n");
      first = (await a.commit({ message: "first", branch: "main" })).oid;
      await a.push();
    }
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
  } finally {
    if (auto === undefined) Deno.env.delete("TRUNKS_AUTO_MAINTENANCE");
    else Deno.env.set("TRUNKS_AUTO_MAINTENANCE", auto);
    await inner.close();
  }
});
