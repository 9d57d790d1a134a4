/**
 * `trunks check` on a ref moved 130,000 times and never pruned (a mirrored trunk is not
 * pruned): it reports, rather than failing on a call given more arguments than a call takes.
 */
import { assertEquals } from "../assert.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { checkTrunk } from "../../src/trunk/check.ts";
import { ensureMeta } from "../../src/trunk/meta.ts";
import type { RefEntry } from "../../src/trunk/refs.ts";
import { Trunk } from "../../src/trunk/trunk.ts";

Deno.test("trunks check reads a ref log of 130,000 entries", async () => {
  const mem = new MemoryStore("memory://long-log");
  const meta = await ensureMeta(mem, "sha1");
  const trunk = new Trunk(mem, meta, new MemoryCache(), "writer@test");
  let base: RefEntry | null = null;
  for (let i = 1; i <= 130_000; i++) {
    const r = await trunk.updateRef({
      ref: "refs/heads/main",
      new: i.toString(16).padStart(40, "0"),
      base,
      segments: [],
    });
    if (!r.ok) throw new Error(`move ${i} refused`);
    base = r.entry;
  }
  const work = await Deno.makeTempDir();
  try {
    const { report } = await checkTrunk(mem, { workDir: work });
    assertEquals(report.stats.refEntries, 130_000);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
