/**
 * trunk.json is read beside the first listings only on a first read of the trunk (nothing
 * of it cached): a fetch through a mirror's URL caches it under the set's location (the
 * primary's), and an early read of the mirror's copy would be made, and dropped, on every
 * later fetch.
 */
import { assertEquals } from "../assert.ts";
import { resolveStorages } from "../../src/local/trunk_storages.ts";
import { openStore } from "../../src/storage/registry.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { TRUNK_JSON } from "../../src/trunk/layout.ts";
import { MirroredStore } from "../../src/trunk/mirrors.ts";
import { writeMap } from "../../src/trunk/storage_map.ts";
import { Trunk } from "../../src/trunk/trunk.ts";

Deno.test("a fetch through a mirror's URL reads trunk.json early on its first read only", async () => {
  const id = crypto.randomUUID();
  const url = (name: string) => `memory://early-${name}-${id}/t/app.trunk`;
  const set = new MirroredStore([
    { name: "primary", role: "primary", url: url("p"), store: await openStore(url("p")) },
    { name: "nas", role: "mirror", url: url("m"), store: await openStore(url("m")) },
  ]);
  await Trunk.openOrCreate(set, new MemoryCache(), "w", "sha1");
  await writeMap(
    set,
    [
      { name: "primary", role: "primary", url: url("p"), backend: "memory", settings: {} },
      { name: "nas", role: "mirror", url: url("m"), backend: "memory", settings: {} },
    ],
    "w",
    0,
  );
  const reads: string[] = [];
  const get = MemoryStore.prototype.get;
  MemoryStore.prototype.get = function (key, range) {
    if (key === TRUNK_JSON && this.location.includes(id)) reads.push(this.location);
    return get.call(this, key, range);
  };
  const cache = new MemoryCache();
  // What the helper does for a fetch from the mirror's URL, the primary approved.
  const fetch = async () => {
    const r = await resolveStorages(url("m"), null, cache, {
      freshMap: false,
      listRefs: {},
      trust: ["primary"],
    });
    assertEquals(r.members.length, 2);
    const store = new MirroredStore(r.members);
    await r.refsListing?.entries;
    await Trunk.open(store, cache, "r", { early: r.metaRead });
    await store.close();
  };
  try {
    await fetch();
    reads.length = 0;
    await fetch();
    await fetch();
  } finally {
    MemoryStore.prototype.get = get;
  }
  assertEquals(reads, [], "trunk.json read again though cached");
});
