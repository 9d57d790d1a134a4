/** A trunk in memory whose refs `refs/heads/b<r>` each hold one entry (tests of reading them). */
import { assert } from "./assert.ts";
import { MemoryStore } from "../src/storage/memory.ts";
import { MemoryCache } from "../src/trunk/cache.ts";
import { ensureMeta } from "../src/trunk/meta.ts";
import { Trunk } from "../src/trunk/trunk.ts";

export const oid = (n: number) => n.toString(16).padStart(40, "0");

/** `refs` refs, `refs/heads/b0` at `oid(1)` and so on, written by one writer. */
export async function memoryTrunkWith(refs: number, name = "t") {
  const mem = new MemoryStore(`memory://${name}`);
  const meta = await ensureMeta(mem, "sha1");
  const trunk = new Trunk(mem, meta, new MemoryCache(), "writer@test");
  for (let r = 0; r < refs; r++) {
    const res = await trunk.updateRef({
      ref: `refs/heads/b${r}`,
      new: oid(r + 1),
      base: null,
      segments: [],
    });
    assert(res.ok);
  }
  return { mem, meta, id: meta.id, trunk };
}
