/**
 * A fetch's plan on local disk stats no segment index: within two leases of a burst of
 * pushes `segments/` holds thousands of them, and the plan reads only packs' sizes and
 * times and sidecars' times (a stat costs ~7 µs a file, more than the directory's read).
 */
import { assert, assertEquals } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import { encodeReplaces, planFetch, planFetchEarly } from "../../src/trunk/replaces.ts";

const id = (i: number) => i.toString(16).padStart(64, "0");

Deno.test("a fetch's plan lists segment indexes without a stat of any", async () => {
  const root = await Deno.makeTempDir();
  const realStat = Deno.statSync;
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
    Deno.statSync = ((p: string | URL) => {
      if (String(p).startsWith(root)) stats.push(String(p));
      return realStat(p);
    }) as typeof Deno.statSync;
    let plan;
    try {
      plan = await planFetch(store, new Set());
    } finally {
      Deno.statSync = realStat;
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
    Deno.statSync = realStat;
    await Deno.remove(root, { recursive: true });
  }
});

/** A trunk on disk with `n` replaced segments stored long before their compaction's. */
async function compactedTrunk(root: string, n: number) {
  const store = await openStore(`local://${root}/trunks/r.trunk`);
  const put = (k: string, b = "x") => store.put(k, new TextEncoder().encode(b));
  const replaced = Array.from({ length: n }, (_, i) => id(i + 1));
  for (const s of replaced) {
    await Promise.all([put(`segments/${s}.pack`), put(`segments/${s}.idx`)]);
  }
  const past = new Date(Date.now() - 60_000);
  const seg = (s: string, ext: string) => `${root}/trunks/r.trunk/segments/${s}.${ext}`;
  for (const s of replaced) {
    for (const ext of ["pack", "idx"]) await Deno.utime(seg(s, ext), past, past);
  }
  // The compaction recorded each one's stored time as it listed it.
  const listed = new Map(replaced.map((s) => [s, past.getTime()]));
  const compacted = id(1000);
  await put(
    `segments/${compacted}.replaces`,
    new TextDecoder().decode(encodeReplaces(replaced, new Map(), listed)),
  );
  await Promise.all([put(`segments/${compacted}.pack`, "pack"), put(`segments/${compacted}.idx`)]);
  // One pushed since, replaced by nothing: downloaded too.
  const fresh = id(2000);
  await Promise.all([put(`segments/${fresh}.pack`, "fresh"), put(`segments/${fresh}.idx`)]);
  return { store, replaced, compacted, fresh, seg };
}

/** The files under `root` that `fn` stats. */
async function statsOf<T>(root: string, fn: () => Promise<T>): Promise<[T, string[]]> {
  const realStat = Deno.statSync;
  const stats: string[] = [];
  Deno.statSync = ((p: string | URL) => {
    if (String(p).startsWith(root)) stats.push(String(p).slice(String(p).lastIndexOf("/") + 1));
    return realStat(p);
  }) as typeof Deno.statSync;
  try {
    return [await fn(), stats];
  } finally {
    Deno.statSync = realStat;
  }
}

Deno.test("a clone's early plan reads the replaced segments' times only when confirmed", async () => {
  const root = await Deno.makeTempDir();
  try {
    const { store, replaced, compacted, fresh } = await compactedTrunk(root, 40);
    const [early, before] = await statsOf(root, () => planFetchEarly(store, new Set()));
    // The plan planFetch makes, sizes included.
    const full = await planFetch(store, new Set());
    const ids = (p: typeof full) => p.download.map((d) => [d.segment.id, d.segment.packSize]);
    assertEquals(ids(early.plan), ids(full));
    assertEquals(ids(early.plan), [[compacted, 4], [fresh, 5]]);
    assertEquals(new Set(early.plan.download[0].covers), new Set(replaced));
    // Before: the sidecar and the downloaded packs (fails with planFetch's listing: 42 packs).
    const packs = (s: string[]) => s.filter((p) => p.endsWith(".pack")).sort();
    assertEquals(packs(before), [`${compacted}.pack`, `${fresh}.pack`]);
    assertEquals(before.filter((p) => p.endsWith(".idx")), []);
    const [ok, after] = await statsOf(root, () => early.confirm());
    assert(ok, "nothing was stored again: the plan stands");
    assertEquals(packs(after), replaced.map((s) => `${s}.pack`).sort());
    await store.close();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a clone's early plan is not confirmed once a replaced segment was stored again", async () => {
  const root = await Deno.makeTempDir();
  try {
    const { store, replaced, compacted, fresh, seg } = await compactedTrunk(root, 5);
    // Pushed again after the compaction (a branch deleted, then pushed again): the
    // compaction may have left out its objects as garbage, so it no longer covers it.
    const now = new Date();
    await Deno.utime(seg(replaced[2], "pack"), now, now);
    const early = await planFetchEarly(store, new Set());
    // Planned on trust (its time not read yet), and found out once read.
    assertEquals(early.plan.download.map((d) => d.segment.id), [compacted, fresh]);
    assertEquals(await early.confirm(), false);
    const full = await planFetch(store, new Set());
    assert(full.download.some((d) => d.segment.id === replaced[2]), "planFetch downloads it");
    await store.close();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
