/**
 * A push after a long burst costs what one after a short burst does (issue 19: "10,000
 * pushes stay as fast as the first day"): the library's push N makes the same store
 * requests and the same segment-index lookups as push 3, and a fresh reader finds an
 * object of the newest push without fetching the index of every older segment.
 */
import { assertEquals } from "../assert.ts";
import { Trunk } from "../../mod.ts";
import { openStore } from "../../src/storage/registry.ts";
import type { ListEntry, PutData, Range, Store } from "../../src/storage/store.ts";
import { AUTO_ENV } from "../../src/trunk/maintenance.ts";
import { PackIndex } from "../../src/pack/pack_index.ts";
import { withProcessEnv } from "../../harness/process_env.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** Counts the operations made through it, by kind, and the index keys read. */
class TallyStore implements Store {
  ops = new Map<string, number>();
  idxGets = 0;
  constructor(readonly inner: Store) {}
  #count(op: string) {
    this.ops.set(op, (this.ops.get(op) ?? 0) + 1);
  }
  reset(): void {
    this.ops.clear();
    this.idxGets = 0;
  }
  get location() {
    return this.inner.location;
  }
  get capabilities() {
    return this.inner.capabilities;
  }
  get(key: string, range?: Range) {
    this.#count("get");
    if (key.endsWith(".idx")) this.idxGets++;
    return this.inner.get(key, range);
  }
  put(key: string, data: PutData) {
    this.#count("put");
    return this.inner.put(key, data);
  }
  create(key: string, data: Uint8Array) {
    this.#count("create");
    return this.inner.create(key, data);
  }
  list(prefix: string, startAfter?: string): Promise<ListEntry[]> {
    this.#count(`list ${prefix}`);
    return this.inner.list(prefix, startAfter);
  }
  delete(key: string) {
    this.#count("delete");
    return this.inner.delete(key);
  }
  close() {
    return this.inner.close();
  }
}

/** Pack-index lookups made while `f` runs. */
async function lookups(f: () => Promise<unknown>): Promise<number> {
  const find = PackIndex.prototype.find;
  let n = 0;
  PackIndex.prototype.find = function (this: PackIndex, oid: string) {
    n++;
    return find.call(this, oid);
  };
  try {
    await f();
  } finally {
    PackIndex.prototype.find = find;
  }
  return n;
}

function withoutMaintenance<T>(f: () => Promise<T>): Promise<T> {
  return withProcessEnv({ [AUTO_ENV]: "0" }, f);
}

async function onePush(t: Trunk, i: number): Promise<void> {
  t.write(`dir/f${i % 7}.txt`, `${i}\n`);
  await t.commit({ message: `c${i}`, branch: "main" });
  await t.push();
}

Deno.test("library push 40 makes the requests and index lookups push 3 made", opts, async () => {
  await withoutMaintenance(async () => {
    const store = new TallyStore(await openStore(`memory://burst-${crypto.randomUUID()}/t.trunk`));
    const t = await Trunk.open({ store, create: true, writer: "burst" });
    try {
      const measure = async (i: number) => {
        store.reset();
        const found = await lookups(() => onePush(t, i));
        return { ops: Object.fromEntries([...store.ops].sort()), found };
      };
      for (let i = 0; i < 2; i++) await onePush(t, i);
      const early = await measure(2);
      for (let i = 3; i < 39; i++) await onePush(t, i);
      const late = await measure(39);
      assertEquals(late, early);
    } finally {
      await t.close();
    }
  });
});

Deno.test(
  "a fresh reader finds the newest push's objects without every older index",
  opts,
  async () => {
    await withoutMaintenance(async () => {
      const url = `memory://burst-read-${crypto.randomUUID()}/t.trunk`;
      const mem = await openStore(url);
      const t = await Trunk.open({ store: mem, create: true, writer: "burst" });
      for (let i = 0; i < 25; i++) await onePush(t, i);
      await t.close();
      const store = new TallyStore(mem);
      const fresh = await Trunk.open({ store, writer: "reader" });
      try {
        assertEquals(await fresh.readText("dir/f3.txt"), "24\n");
        // The commit's segment (named by its ref entry) holds its tree and blob too.
        assertEquals(store.idxGets, 1);
      } finally {
        await fresh.close();
      }
    });
  },
);
