/**
 * A snapshot's seal covers the bytes its writer put in it, not the bytes the entries'
 * writers sealed: the writer's copy of an entry comes from its local cache, recorded as
 * checked when it was read, perhaps long ago. A cached row damaged since (a flipped hex
 * digit of an oid: same size, still valid JSON) must not reach every later clone as a
 * sealed snapshot's copy: a reader gets the ref's true value (or an error), never another.
 */
import { assert, assertEquals } from "../assert.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { refEntryKey } from "../keys.ts";
import { ensureMeta } from "../../src/trunk/meta.ts";
import { takeSnapshot } from "../../src/trunk/maintenance.ts";
import { readRefState } from "../../src/trunk/refs.ts";
import { Trunk } from "../../src/trunk/trunk.ts";
import { TrunkError } from "../../src/trunk/errors.ts";

const oid = (n: number) => n.toString(16).padStart(40, "0");

/** A cache whose copy of one key has rotted: one oid digit flipped, same size. */
class RottedCache extends MemoryCache {
  rotten = new Set<string>();
  override getEntries(trunkId: string, keys: string[]): Map<string, string> {
    const out = super.getEntries(trunkId, keys);
    for (const k of this.rotten) {
      const v = out.get(k);
      if (v !== undefined) out.set(k, v.replace(`"new":"${oid(4)}"`, `"new":"${oid(5)}"`));
    }
    return out;
  }
}

Deno.test("a snapshot written from a rotted cache row: readers get the ref's true value", async () => {
  const mem = new MemoryStore("memory://t");
  const meta = await ensureMeta(mem, "sha1");
  const cache = new RottedCache();
  const writer = new Trunk(mem, meta, cache, "writer@test");
  for (let r = 0; r < 20; r++) {
    const res = await writer.updateRef({
      ref: `refs/heads/b${r}`,
      new: oid(r + 1),
      base: null,
      segments: [],
    });
    assert(res.ok);
  }
  // The writer's cached copy of b3's entry (recorded as checked when it was created) rots.
  const key = refEntryKey("refs/heads/b3", 1);
  cache.rotten.add(key);
  try {
    await takeSnapshot(writer);
  } catch (e) {
    // Refusing to write the snapshot is fine too.
    assert(e instanceof TrunkError, String(e));
  }
  let state;
  try {
    state = await readRefState(mem, new MemoryCache(), meta);
  } catch (e) {
    assert(e instanceof TrunkError, String(e));
    return;
  }
  assertEquals(state.latest.get("refs/heads/b3")!.new, oid(4), "b3 as its entry says");
  assertEquals(state.latest.size, 20);
});
