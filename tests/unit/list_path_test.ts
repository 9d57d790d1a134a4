/**
 * What lies on an up-to-date fetch's path before its one LIST leaves (issue 19: 0.1 s at
 * 50 ms per request): the request is on its socket before the rest of the store's
 * resolution and the trunk's code run.
 */
import { assertEquals } from "../assert.ts";
import { resolveStorages } from "../../src/local/trunk_storages.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";

/** The order of the loop's polls, `whileListing` and the return, for a listing answered after `answerMs`. */
async function orderWith(answerMs: number): Promise<string[]> {
  const name = `turn-${crypto.randomUUID()}`;
  const order: string[] = [];
  // A request handed to fetch is written when the loop next polls, and a new connection
  // takes more than one poll: timers armed as the listing is sent stand for them, and
  // must run before anything else does.
  const list = MemoryStore.prototype.list;
  MemoryStore.prototype.list = function (prefix, startAfter) {
    if (this.location.includes(name) && prefix === "refs/") {
      AbortSignal.timeout(0).addEventListener("abort", () => order.push("polled"));
      AbortSignal.timeout(2).addEventListener("abort", () => order.push("polled 2 ms"));
      const answer = list.call(this, prefix, startAfter);
      return new Promise((r) => setTimeout(() => r(answer), answerMs));
    }
    return list.call(this, prefix, startAfter);
  };
  try {
    await resolveStorages(`memory://${name}/t/app.trunk`, null, new MemoryCache(), {
      freshMap: false,
      listRefs: {},
      whileListing: () => order.push("whileListing"),
    });
    order.push("resolved");
  } finally {
    MemoryStore.prototype.list = list;
  }
  await new Promise((r) => setTimeout(r, 5)); // every timer armed has fired
  return order;
}

Deno.test("resolveStorages lets the event loop poll for 3 ms once the listing of refs/ is sent", async () => {
  // A store still answering (a LIST over the network).
  assertEquals(await orderWith(50), ["polled", "polled 2 ms", "whileListing", "resolved"]);
});

Deno.test("resolveStorages waits no longer than the listing of refs/ takes", async () => {
  // A store that answers at once (local disk): no 3 ms idle on every fetch and push.
  assertEquals(await orderWith(0), ["polled", "whileListing", "resolved", "polled 2 ms"]);
});
