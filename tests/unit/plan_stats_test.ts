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
