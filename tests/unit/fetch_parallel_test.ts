/**
 * A fetch of many segments keeps the store's requests in flight (a join reads a pack and
 * its index per segment), not four segments at a time: after a run of pushes a clone reads
 * dozens of small segments, and on a distant store each is a round trip (at 4 at a time,
 * a clone of 50 waited 13 rounds for them). Both ways a fetch downloads are held to it:
 * joined into one pack, and one pack per segment (a repository that cannot join).
 */
import { assert, assertEquals } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import { type Store, StoreError } from "../../src/storage/store.ts";
import { MirroredStore } from "../../src/trunk/mirrors.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { Trunk } from "../../src/trunk/trunk.ts";
import { fetchSegments } from "../../src/trunk/fetch.ts";
import { countingSink, handingOn, onBothPaths, pushSegments } from "../fetch_fixture.ts";

const PUSHES = 24;
const PARALLELISM = 16;

/** The store, slowed (each read waits 20 ms) and counting its reads in flight. */
function slowed(
  store: Store,
  parallelism = PARALLELISM,
): { store: Store; peak: () => number; reads: () => number } {
  let inFlight = 0;
  let peak = 0;
  let reads = 0;
  const wrapped = handingOn(store, {
    capabilities: { ...store.capabilities, parallelism },
    get: async (key, range) => {
      inFlight++;
      reads++;
      peak = Math.max(peak, inFlight);
      try {
        await new Promise((r) => setTimeout(r, 20));
        return await store.get(key, range);
      } finally {
        inFlight--;
      }
    },
  });
  return { store: wrapped, peak: () => peak, reads: () => reads };
}

onBothPaths(
  `a fetch of ${PUSHES} segments keeps the store's requests in flight`,
  async (joins, url, root) => {
    await pushSegments(url, PUSHES, (i) => [`f${i}.txt`, `${i}\n`]);
    const s = slowed(await openStore(url));
    const trunk = await Trunk.open(s.store, new MemoryCache(), "reader");
    const into = countingSink(await Deno.makeTempDir({ dir: root }), joins);
    const got = await fetchSegments(trunk, into);
    assertEquals(got.segments, PUSHES);
    assertEquals(into.packs(), joins ? 1 : PUSHES);
    // Every pack (and for a join, its index) read, at most PARALLELISM at a time, and
    // that many reached.
    assert(s.reads() >= (joins ? 2 : 1) * PUSHES, `${s.reads()} reads`);
    assertEquals(s.peak(), PARALLELISM, `peak of ${s.peak()} reads in flight`);
  },
);

// A mirror set reads from whichever storage answers: a fetch failed over from a local
// primary (32 at once) to a mirror that takes 8 (a PostgreSQL pool, an SFTP server) keeps
// the mirror's 8 in flight, not the primary's 32 (a pool's queue times out its waiters).
onBothPaths(
  `a fetch failed over to a mirror keeps the mirror's requests in flight, not the primary's`,
  async (joins, url, root) => {
    await pushSegments(url, PUSHES, (i) => [`f${i}.txt`, `${i}\n`]);
    const down = new StoreError("primary: connection refused", "unreachable");
    const primary: Store = {
      location: "local:///nowhere/r.trunk",
      capabilities: { ...(await openStore(url)).capabilities, parallelism: 32 },
      get: () => Promise.reject(down),
      put: () => Promise.reject(down),
      create: () => Promise.reject(down),
      list: () => Promise.reject(down),
      delete: () => Promise.reject(down),
      close: () => Promise.resolve(),
    };
    const mirror = slowed(await openStore(url), 8);
    const set = new MirroredStore([
      { name: "primary", role: "primary", url: primary.location, store: primary },
      { name: "pg", role: "mirror", url, store: mirror.store },
    ]);
    const trunk = await Trunk.open(set, new MemoryCache(), "reader");
    const into = countingSink(await Deno.makeTempDir({ dir: root }), joins);
    const got = await fetchSegments(trunk, into);
    assertEquals(got.segments, PUSHES);
    assert(mirror.peak() <= 8, `peak of ${mirror.peak()} reads in flight on the mirror`);
  },
);
