/**
 * What lies on an up-to-date fetch's path before its one LIST leaves (issue 19: 0.1 s at
 * 50 ms per request): the request is on its socket before the rest of the store's
 * resolution and the trunk's code run, and a store that speaks HTTP finds Deno's fetch
 * ready (the helper preloads it while git sends its options).
 */
import { assertEquals } from "../assert.ts";
import { resolveStorages } from "../../src/local/trunk_storages.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";

Deno.test("resolveStorages lets the event loop poll once the listing of refs/ is sent", async () => {
  const name = `turn-${crypto.randomUUID()}`;
  const order: string[] = [];
  // A request handed to fetch is written when the loop next polls: a timer armed as the
  // listing is sent stands for it, and must run before anything else does.
  const list = MemoryStore.prototype.list;
  MemoryStore.prototype.list = function (prefix, startAfter) {
    if (this.location.includes(name) && prefix === "refs/") {
      AbortSignal.timeout(0).addEventListener("abort", () => order.push("polled"));
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
  assertEquals(order, ["polled", "whileListing", "resolved"]);
});

/** What `preloadBackend(url)` fetches, in a process of its own (it warms once a process). */
async function preloadFetches(url: string): Promise<string[]> {
  const registry = new URL("../../src/storage/registry.ts", import.meta.url).href;
  const code = `
    const seen = [];
    globalThis.fetch = (u) => { seen.push(String(u)); return Promise.resolve(new Response("")); };
    const { preloadBackend } = await import(${JSON.stringify(registry)});
    preloadBackend(${JSON.stringify(url)});
    preloadBackend(${JSON.stringify(url)});
    await new Promise((r) => setTimeout(r, 0));
    console.log(JSON.stringify(seen));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=js", code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test("preloadBackend readies Deno's fetch for a backend that speaks HTTP, once", async () => {
  assertEquals(await preloadFetches("s3://bucket/t/app.trunk?endpoint=http://127.0.0.1:9"), [
    "data:,",
  ]);
  assertEquals(await preloadFetches("local:///srv/t/app.trunk"), []);
});
