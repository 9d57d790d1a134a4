/**
 * The store deadline (src/storage/deadline.ts) watches every operation in flight with one
 * timer: a push of 20,000 refs armed and cleared a timer per create. Each operation still
 * fails once it goes its whole period without progress, whatever the others do.
 */
import { assert, assertEquals, assertMatch, assertRejects } from "../assert.ts";
import { DeadlineStore } from "../../src/storage/deadline.ts";
import { openStore } from "../../src/storage/registry.ts";
import { type Store, StoreError } from "../../src/storage/store.ts";

Deno.test("store deadline: many operations in flight arm a handful of timers, not one each", async () => {
  // In its own process: the timers it counts are those this store arms, from the first.
  const src = (p: string) =>
    JSON.stringify(new URL(`../../src/storage/${p}`, import.meta.url).href);
  const code = `
    let armed = 0;
    const realTimeout = globalThis.setTimeout;
    globalThis.setTimeout = (...a) => (armed++, realTimeout(...a));
    const realSignal = AbortSignal.timeout;
    AbortSignal.timeout = (ms) => (armed++, realSignal.call(AbortSignal, ms));
    const { openStore } = await import(${src("registry.ts")});
    const { DeadlineStore } = await import(${src("deadline.ts")});
    const store = new DeadlineStore(await openStore("memory://d/trunks/t.trunk"), 60_000);
    const one = new Uint8Array([1]);
    let next = 0;
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (next < 2000) await store.create("refs/r" + next++ + "~000000000001", one);
    }));
    let n = 0;
    await store.put("big", new ReadableStream({
      pull(c) { if (n++ === 200) c.close(); else c.enqueue(one); },
    }));
    console.log(JSON.stringify({ armed, listed: (await store.list("refs/")).length }));`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
  const { armed, listed } = JSON.parse(new TextDecoder().decode(out.stdout));
  assertEquals(listed, 2000);
  // A timer is armed again only when nothing was in flight (a memory store's creates end
  // in the same turn they start, all 32 at times): one per operation before.
  assert(armed < 200, `${armed} timers armed for 2,003 operations`);
});

Deno.test({
  name: "store deadline: a stalled operation fails in its time while others in flight move on",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const inner = await openStore(`memory://${crypto.randomUUID()}/trunks/t.trunk`);
    const stalls = new Set(["stuck"]);
    const hanging: Store = {
      ...inner,
      location: "memory://stall",
      capabilities: inner.capabilities,
      create: (key: string, data: Uint8Array) =>
        stalls.has(key) ? new Promise<boolean>(() => {}) : inner.create(key, data),
    } as Store;
    const d = new DeadlineStore(hanging, 300);
    const t0 = performance.now();
    const stuck = assertRejects(() => d.create("stuck", new Uint8Array(1)), StoreError);
    // Others start and finish all along, each its own deadline later than the stalled one's.
    let i = 0;
    const busy = (async () => {
      while (performance.now() - t0 < 700) {
        assert(await d.create(`k${i++}`, new Uint8Array(1)));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const err = await stuck;
    const took = performance.now() - t0;
    assert(took >= 290 && took < 650, `failed after ${took} ms`);
    assertMatch(err.message, /memory:\/\/stall did not answer \(create stuck\) within 0\.3s/);
    await busy;
    // A second stalled one, started later, gets its own full period.
    const t1 = performance.now();
    await assertRejects(() => d.create("stuck", new Uint8Array(1)), StoreError);
    assert(performance.now() - t1 >= 290, "a later operation's own period");
    await inner.close();
  },
});
