/**
 * A fetch's plan on local disk stats no segment index: within two leases of a burst of
 * pushes `segments/` holds thousands of them, and the plan reads only packs' sizes and
 * times and sidecars' times (a stat costs ~7 µs a file, more than the directory's read).
 */
import { assert, assertEquals } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import { encodeReplaces, planFetch } from "../../src/trunk/replaces.ts";

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

Deno.test("a fetch's plan reads no time of a segment a merge's whole list names, and still judges a clean's", async () => {
  const root = await Deno.makeTempDir();
  const realStat = Deno.statSync;
  try {
    const store = await openStore(`local://${root}/trunks/r.trunk`);
    const dir = `${root}/trunks/r.trunk/segments`;
    const put = (k: string, b = "x") => store.put(k, new TextEncoder().encode(b));
    const merged = Array.from({ length: 40 }, (_, i) => id(i + 1));
    const cleaned = Array.from({ length: 3 }, (_, i) => id(i + 100));
    const past = new Date(Date.now() - 60_000);
    for (const s of [...merged, ...cleaned]) {
      await Promise.all([put(`segments/${s}.pack`), put(`segments/${s}.idx`)]);
      for (const ext of ["pack", "idx"]) await Deno.utime(`${dir}/${s}.${ext}`, past, past);
    }
    const times = (ids: string[]) => new Map(ids.map((s) => [s, past.getTime()]));
    // A merge's sidecar (whole) and a clean's (garbage left out), both with recorded times.
    const merge = id(1000);
    const clean = id(2000);
    await put(
      `segments/${merge}.replaces`,
      new TextDecoder().decode(encodeReplaces(merged, new Map(), times(merged), true)),
    );
    await put(
      `segments/${clean}.replaces`,
      new TextDecoder().decode(encodeReplaces(cleaned, new Map(), times(cleaned))),
    );
    for (const c of [merge, clean]) {
      await Promise.all([put(`segments/${c}.pack`, "pack"), put(`segments/${c}.idx`)]);
    }
    // One input of each stored again since (a branch deleted, then pushed again): the
    // merge still holds every object of that same pack; the clean may not.
    await put(`segments/${merged[0]}.pack`);
    await put(`segments/${cleaned[0]}.pack`);
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
    const got = new Map(plan.download.map((d) => [d.segment.id, d]));
    assertEquals(new Set(got.keys()), new Set([merge, clean, cleaned[0]]));
    assertEquals(new Set(got.get(merge)!.covers), new Set(merged));
    assertEquals(new Set(got.get(clean)!.covers), new Set(cleaned.slice(1)));
    for (const d of plan.download) assert(d.segment.packSize > 0, `${d.segment.id}'s size`);
    const statted = (ids: string[]) => ids.filter((s) => stats.includes(`${dir}/${s}.pack`));
    assertEquals(statted(merged), [], "no time of a merge's input is read");
    assertEquals(statted(cleaned), cleaned, "a clean's inputs are judged by their times");
    await store.close();
  } finally {
    Deno.statSync = realStat;
    await Deno.remove(root, { recursive: true });
  }
});
