/**
 * A fetch's plan on local disk stats no segment index: within two leases of a burst of
 * pushes `segments/` holds thousands of them, and the plan reads only packs' sizes and
 * times and sidecars' times (a stat costs ~7 µs a file, more than the directory's read).
 * Nor a plain pack's, unless a list that is not whole (a clean's, an older client's)
 * reaches one that names it: a merge's sidecar vouches for its inputs whatever their
 * times (replaces.ts `timedLists`).
 */
import { assert, assertEquals } from "../assert.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { openStore } from "../../src/storage/registry.ts";
import type { Store } from "../../src/storage/store.ts";
import { encodeReplaces, planFetch } from "../../src/trunk/replaces.ts";

const id = (i: number) => i.toString(16).padStart(64, "0");

Deno.test("a fetch's plan lists segment indexes without a stat of any", async () => {
  const root = await Deno.makeTempDir();
  const realStat = Deno.lstatSync;
  try {
    const store = await openStore(`local://${root}/trunks/r.trunk`);
    const put = (k: string, b = "x") => store.put(k, new TextEncoder().encode(b));
    const replaced = Array.from({ length: 40 }, (_, i) => id(i + 1));
    for (const s of replaced) {
      await Promise.all([put(`segments/${s}.pack`), put(`segments/${s}.idx`)]);
    }
    // Stored well before the sidecar: one without recorded times vouches only for segments
    // listed strictly older than itself, and on disk the two can share a millisecond.
    const past = new Date(Date.now() - 60_000);
    for (const s of replaced) {
      for (const ext of ["pack", "idx"]) {
        await Deno.utime(`${root}/trunks/r.trunk/segments/${s}.${ext}`, past, past);
      }
    }
    const compacted = id(1000);
    await put(`segments/${compacted}.replaces`, new TextDecoder().decode(encodeReplaces(replaced)));
    await Promise.all([
      put(`segments/${compacted}.pack`, "pack"),
      put(`segments/${compacted}.idx`),
    ]);
    const stats: string[] = [];
    Deno.lstatSync = ((p: string | URL) => {
      if (String(p).startsWith(root)) stats.push(String(p));
      return realStat(p);
    }) as typeof Deno.lstatSync;
    let plan;
    try {
      plan = await planFetch(store, new Set());
    } finally {
      Deno.lstatSync = realStat;
    }
    // The compacted segment, covering every one it replaces; its size as listed.
    assertEquals(plan.download.map((d) => d.segment.id), [compacted]);
    assertEquals(plan.download[0].segment.packSize, 4);
    assertEquals(new Set(plan.download[0].covers), new Set(replaced));
    const idx = stats.filter((p) => p.endsWith(".idx"));
    assertEquals(idx, [], `${idx.length} index stats`);
    assert(stats.some((p) => p.endsWith(".pack")), "the packs' times are read");
    await store.close();
  } finally {
    Deno.lstatSync = realStat;
    await Deno.remove(root, { recursive: true });
  }
});

/** A local trunk's store, and the stats (lstat) of its segments' keys that `fn`'s call makes. */
async function withStats<T>(
  fn: (store: Store, root: string) => Promise<() => Promise<T>>,
): Promise<{ got: T; stats: string[] }> {
  const root = await Deno.makeTempDir();
  const realStat = Deno.lstatSync;
  const store = await openStore(`local://${root}/trunks/r.trunk`);
  try {
    const call = await fn(store, `${root}/trunks/r.trunk/segments`);
    const stats: string[] = [];
    Deno.lstatSync = ((p: string | URL) => {
      const name = String(p).replace(/^.*\//, "");
      if (String(p).startsWith(root) && name.includes(".")) stats.push(name);
      return realStat(p);
    }) as typeof Deno.lstatSync;
    try {
      return { got: await call(), stats };
    } finally {
      Deno.lstatSync = realStat;
    }
  } finally {
    Deno.lstatSync = realStat;
    await store.close();
    await Deno.remove(root, { recursive: true });
  }
}

/** A segment with a pack of `pack`, stored at `at` (and a sidecar first, when given). */
async function segment(
  store: Store,
  dir: string,
  sid: string,
  at: Date,
  sidecar?: Uint8Array,
  pack = "x",
): Promise<void> {
  if (sidecar) await store.put(`segments/${sid}.replaces`, sidecar);
  await store.put(`segments/${sid}.pack`, new TextEncoder().encode(pack));
  await store.put(`segments/${sid}.idx`, new TextEncoder().encode("x"));
  for (const ext of sidecar ? ["replaces", "pack", "idx"] : ["pack", "idx"]) {
    await Deno.utime(`${dir}/${sid}.${ext}`, at, at);
  }
}

const ago = (s: number) => new Date(Date.now() - s * 1000);
const timesOf = (ids: string[], at: Date) => new Map(ids.map((x) => [x, at.getTime()]));

Deno.test("a fetch's plan stats no plain pack when every sidecar is a merge's (whole)", async () => {
  const replaced = Array.from({ length: 40 }, (_, i) => id(i + 1));
  const fresh = Array.from({ length: 5 }, (_, i) => id(i + 100));
  const merged = id(1000);
  const { got: plan, stats } = await withStats(async (store, dir) => {
    for (const s of replaced) await segment(store, dir, s, ago(300));
    const sidecar = encodeReplaces(replaced, new Map(), timesOf(replaced, ago(300)), {
      whole: true,
    });
    await segment(store, dir, merged, ago(200), sidecar, "pack");
    for (const s of fresh) await segment(store, dir, s, ago(100));
    // Stored again since the merge (the same pack, the same id): the merge holds all of it.
    await segment(store, dir, replaced[0], ago(0));
    return () => planFetch(store, new Set());
  });
  assertEquals(plan.download.map((d) => d.segment.id), [merged, ...fresh]);
  assertEquals(new Set(plan.download[0].covers), new Set(replaced));
  assertEquals(plan.download[0].segment.packSize, 4);
  // The plain segments' sizes were not read: unknown, not zero.
  assert(plan.download.slice(1).every((d) => Number.isNaN(d.segment.packSize)));
  assertEquals(stats.sort(), [`${merged}.pack`, `${merged}.replaces`]);
});

Deno.test("a fetch's plan: a clean's list above a merge's makes the merge's inputs timed: one stored again since is downloaded", async () => {
  // x, merged into m (whole); m (x deleted meanwhile) compacted by a clean into c, which
  // dropped x's objects that were garbage then; x then pushed again (the same id).
  const [x, m, c] = [id(1), id(2), id(3)];
  const { got: plan, stats } = await withStats(async (store, dir) => {
    await segment(store, dir, x, ago(0));
    const mSidecar = encodeReplaces([x], new Map(), timesOf([x], ago(400)), { whole: true });
    await segment(store, dir, m, ago(300), mSidecar);
    await segment(store, dir, c, ago(200), encodeReplaces([m], new Map(), timesOf([m], ago(300))));
    return () => planFetch(store, new Set());
  });
  assertEquals(plan.download.map((d) => [d.segment.id, d.covers]), [[c, [m]], [x, []]]);
  assert(stats.includes(`${x}.pack`), "x's time is read");
});

Deno.test("a fetch's plan: a clean's list that reaches no merge leaves the merges' inputs untimed", async () => {
  // c: a clean long ago (what it replaced is gone); m: a merge since of pushes still listed.
  const gone = id(50);
  const replaced = Array.from({ length: 10 }, (_, i) => id(i + 1));
  const [m, c] = [id(1000), id(1001)];
  const { got: plan, stats } = await withStats(async (store, dir) => {
    await segment(
      store,
      dir,
      c,
      ago(900),
      encodeReplaces([gone], new Map(), timesOf([gone], ago(950))),
      "clean",
    );
    for (const s of replaced) await segment(store, dir, s, ago(300));
    const sidecar = encodeReplaces(replaced, new Map(), timesOf(replaced, ago(300)), {
      whole: true,
    });
    await segment(store, dir, m, ago(200), sidecar, "merged");
    return () => planFetch(store, new Set());
  });
  assertEquals(plan.download.map((d) => d.segment.id), [m, c]);
  assertEquals(new Set(plan.download[0].covers), new Set(replaced));
  assertEquals(
    stats.filter((s) => s.endsWith(".pack")).sort(),
    [m, c].sort().map((s) => `${s}.pack`),
  );
});

Deno.test("a fetch's plan lists segments/ once where the listing carries every time (not local disk), whatever the sidecars", async () => {
  const inner = MemoryStore.named(crypto.randomUUID());
  const lists: string[] = [];
  const store = new Proxy(inner, {
    get: (t, p) => {
      if (p === "list") {
        return (
          prefix: string,
          ...rest: unknown[]
        ) => (lists.push(prefix), t.list(prefix, ...rest as [string | undefined]));
      }
      const v = Reflect.get(t, p);
      return typeof v === "function" ? v.bind(t) : v;
    },
  });
  const [x, c] = [id(1), id(2)];
  for (const [sid, sidecar] of [[x], [c, encodeReplaces([x])]] as const) {
    if (sidecar) await store.put(`segments/${sid}.replaces`, sidecar);
    await store.put(`segments/${sid}.pack`, new Uint8Array([1]));
    await store.put(`segments/${sid}.idx`, new Uint8Array([1]));
  }
  const plan = await planFetch(store, new Set());
  assertEquals(plan.download.map((d) => d.segment.id).sort(), [x, c].sort());
  assertEquals(lists, ["segments/"]);
});
