/**
 * What lies on a one-commit push's path between its round trips (issue 19: 0.35 s at 50 ms
 * per request): the listings leave before the push's code loads (it loads while they are
 * out), and the pushing repository is asked which listed tips it holds once, not once for
 * the fast-forward checks and again for the pack (each a git process in the helper).
 */
import { assertEquals } from "../assert.ts";
import { resolveStorages } from "../../src/local/trunk_storages.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { push, type PushSource } from "../../src/trunk/push.ts";
import { Trunk } from "../../src/trunk/trunk.ts";

Deno.test("resolveStorages calls whileListing once the refs' and the map's listings are sent", async () => {
  const name = `while-${crypto.randomUUID()}`;
  const order: string[] = [];
  // Every memory:// store is a new MemoryStore over a shared space: the class is watched.
  const list = MemoryStore.prototype.list;
  MemoryStore.prototype.list = function (prefix, startAfter) {
    if (this.location.includes(name)) order.push(`list ${prefix}`);
    return list.call(this, prefix, startAfter);
  };
  try {
    await resolveStorages(`memory://${name}/t/app.trunk`, null, new MemoryCache(), {
      freshMap: true,
      listRefs: {},
      whileListing: () => order.push("whileListing"),
    });
  } finally {
    MemoryStore.prototype.list = list;
  }
  assertEquals(order, ["list refs/", "list storages/", "whileListing"]);
});

const A = "a".repeat(40);
const B = "b".repeat(40);

/** A repository holding A then B (B a descendant of A); counts its `has` questions. */
function counting(tip: string) {
  const asked: string[][] = [];
  const source: PushSource = {
    keepsPushedObjects: false,
    resolve: () => Promise.resolve(tip),
    has: (oids) => {
      asked.push(oids);
      return Promise.resolve(new Set(oids.filter((o) => o === A || o === B)));
    },
    isAncestor: (a, d) => Promise.resolve(a === A && d === B),
    localHead: () => Promise.resolve("refs/heads/main"),
    pack: () => Promise.resolve({ segment: null, largeBlobs: [] }),
    readBlobs: async function* () {},
  };
  return { source, asked };
}

Deno.test("a fast-forward push asks the source once which listed tips it holds", async () => {
  const store = new MemoryStore(`memory://ff-${crypto.randomUUID()}`);
  const trunk = await Trunk.openOrCreate(store, new MemoryCache(), "test@ff", "sha1");
  const spec = { src: "main", dst: "refs/heads/main", force: false };
  const first = counting(A);
  assertEquals((await push(trunk, first.source, [spec])).refs[0].error, undefined);
  const second = counting(B);
  const report = await push(trunk, second.source, [spec]);
  assertEquals(report.refs[0].error, undefined);
  assertEquals(report.state.latest.get("refs/heads/main")?.new, B);
  assertEquals(second.asked, [[A]], "one question: the checks' and the pack's");
  // Not a fast-forward: refused on the same single answer.
  const third = counting(A);
  const refused = await push(trunk, third.source, [spec]);
  assertEquals(refused.refs[0].error, "non-fast-forward");
  assertEquals(third.asked.length, 1);
});

/** A store taking more creates at once than other requests; counts its creates in flight. */
class WideCreates extends MemoryStore {
  override readonly capabilities = { ...new MemoryStore("memory://caps").capabilities };
  now = 0;
  most = 0;
  constructor(location: string, parallelism: number, createParallelism: number) {
    super(location);
    Object.assign(this.capabilities, { parallelism, createParallelism });
  }
  override async createStamped(key: string, data: Uint8Array) {
    this.most = Math.max(this.most, ++this.now);
    try {
      await new Promise((r) => setTimeout(r, 5));
      return await super.createStamped(key, data);
    } finally {
      this.now--;
    }
  }
}

Deno.test("a push keeps the store's createParallelism entries in flight, not its parallelism", async () => {
  const store = new WideCreates(`memory://wide-${crypto.randomUUID()}`, 2, 6);
  const trunk = await Trunk.openOrCreate(store, new MemoryCache(), "test@wide", "sha1");
  const specs = Array.from({ length: 20 }, (_, i) => ({
    src: "main",
    dst: `refs/heads/b${i}`,
    force: false,
  }));
  store.most = 0;
  const report = await push(trunk, counting(A).source, specs);
  assertEquals(report.refs.filter((r) => r.error).length, 0);
  assertEquals(store.most, 6);
});

/** Records, in order, the creates of ref entries and the source's HEAD questions. */
class OrderedCreates extends MemoryStore {
  events: string[] = [];
  override createStamped(key: string, data: Uint8Array) {
    if (key.includes("/refs/")) this.events.push(`create ${key.slice(key.lastIndexOf("/") + 1)}`);
    return super.createStamped(key, data);
  }
}

Deno.test("a trunk's first push asks for the local HEAD before its entries, not after them; later pushes not at all", async () => {
  const store = new OrderedCreates(`memory://head-${crypto.randomUUID()}`);
  const trunk = await Trunk.openOrCreate(store, new MemoryCache(), "test@head", "sha1");
  const asking = (tip: string) => {
    const { source } = counting(tip);
    source.localHead = () => {
      store.events.push("localHead");
      return Promise.resolve("refs/heads/b1");
    };
    return source;
  };
  const specs = ["b0", "b1"].map((b) => ({ src: "main", dst: `refs/heads/${b}`, force: false }));
  const first = await push(trunk, asking(A), specs);
  assertEquals(first.refs.filter((r) => r.error).length, 0);
  assertEquals(store.events[0], "localHead", store.events.join(", "));
  assertEquals(store.events.filter((e) => e === "localHead").length, 1);
  assertEquals(first.state.latest.get("HEAD")?.symref, "refs/heads/b1");
  store.events = [];
  await push(trunk, asking(B), specs);
  assertEquals(store.events.includes("localHead"), false, store.events.join(", "));
});
