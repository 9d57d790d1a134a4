/**
 * Fails on 04ebf42 (`ListOptions.moreDetails`): a fetch's plan on local disk reads the
 * sidecars inside the store's `list` of `segments/`, so TRUNKS_STORE_TIMEOUT's bound on that
 * one operation (DeadlineStore, which the helper puts under every storage) also counts
 * the caller's own GETs, each bounded on its own already. A listing that answered at once,
 * followed by sidecar reads that each answer well within the bound, fails as "did not
 * answer (list segments/)"; the helper would fail over to a mirror or fail the fetch.
 *
 * Run: deno test -A tests/unit/plan_deadline_test.ts
 */
import { assertEquals } from "../assert.ts";
import { withDeadline } from "../../src/storage/deadline.ts";
import { openStore } from "../../src/storage/registry.ts";
import type { Store } from "../../src/storage/store.ts";
import { encodeReplaces, planFetch } from "../../src/trunk/replaces.ts";

const id = (i: number) => i.toString(16).padStart(64, "0");
const BOUND_MS = 400;
const SIDECAR_GET_MS = 250;

/** `store` whose sidecar reads each take `ms` (a slow file share), everything else as is. */
function slowSidecars(store: Store, ms: number): Store {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === "get") {
        return async (key: string, range?: Parameters<Store["get"]>[1]) => {
          if (key.endsWith(".replaces")) await new Promise((r) => setTimeout(r, ms));
          return await target.get(key, range);
        };
      }
      const v = Reflect.get(target, prop);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

Deno.test("a fetch's plan: the bound on one list does not count the sidecar reads after it", async () => {
  const root = await Deno.makeTempDir();
  const inner = await openStore(`local://${root}/trunks/r.trunk`);
  try {
    const put = (k: string, b: string | Uint8Array = "x") =>
      inner.put(k, typeof b === "string" ? new TextEncoder().encode(b) : b);
    // Three compacted segments, none carrying another: their sidecars are read in two waves
    // (readSidecars: 1, then 2), each read within the bound, together beyond it.
    const past = Date.now() - 60_000;
    for (let c = 0; c < 3; c++) {
      const inputs = [id(10 * c + 1), id(10 * c + 2)];
      for (const s of inputs) {
        await Promise.all([put(`segments/${s}.pack`), put(`segments/${s}.idx`)]);
      }
      for (const s of inputs) {
        for (const ext of ["pack", "idx"]) {
          const at = new Date(past);
          await Deno.utime(`${root}/trunks/r.trunk/segments/${s}.${ext}`, at, at);
        }
      }
      const times = new Map(inputs.map((s) => [s, past]));
      await put(
        `segments/${id(1000 + c)}.replaces`,
        encodeReplaces(inputs, new Map(), times),
      );
      await Promise.all([
        put(`segments/${id(1000 + c)}.pack`),
        put(`segments/${id(1000 + c)}.idx`),
      ]);
    }
    const store = withDeadline(slowSidecars(inner, SIDECAR_GET_MS), BOUND_MS);
    const plan = await planFetch(store, new Set());
    assertEquals(plan.download.length, 3);
  } finally {
    await inner.close();
    await Deno.remove(root, { recursive: true });
  }
});
