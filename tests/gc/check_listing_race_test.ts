/**
 * `trunks check` while pruning deletes a ref's oldest entries: a listing is no snapshot,
 * so it can show entry n and miss n+1. That is pruning under way (n is gone by the time
 * check reads it), not a loss; a gap after an entry still stored is a loss.
 */
import { assert, assertEquals } from "../assert.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import type { ListEntry } from "../../src/storage/store.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { checkTrunk } from "../../src/trunk/check.ts";
import { refLayout, REFS_PREFIX } from "../../src/trunk/layout.ts";
import { ensureMeta } from "../../src/trunk/meta.ts";
import type { RefEntry } from "../../src/trunk/refs.ts";
import { Trunk } from "../../src/trunk/trunk.ts";
import { oid } from "../memory_trunk.ts";

/** A store whose next listing of refs/ runs `during` as it is made and hides `hidden`. */
class RacingStore extends MemoryStore {
  hidden = new Set<string>();
  during: () => Promise<void> = () => Promise.resolve();

  override async list(prefix: string, startAfter?: string) {
    const all: ListEntry[] = await super.list(prefix, startAfter);
    if (prefix !== REFS_PREFIX) return all;
    await this.during();
    return all.filter((e) => !this.hidden.has(e.key));
  }
}

/** main moved five times (entries 1..5); the keys of its entries. */
async function fiveMoves(store: MemoryStore) {
  const meta = await ensureMeta(store, "sha1");
  const trunk = new Trunk(store, meta, new MemoryCache(), "w@test");
  let base: RefEntry | null = null;
  for (let n = 1; n <= 5; n++) {
    const r = await trunk.updateRef({ ref: "refs/heads/main", new: oid(n), base, segments: [] });
    assert(r.ok);
    base = r.entry;
  }
  const layout = refLayout(meta.format);
  return (seq: number) => layout.entryKey("refs/heads/main", seq);
}

async function gaps(store: MemoryStore): Promise<string[]> {
  const workDir = await Deno.makeTempDir();
  try {
    const { report } = await checkTrunk(store, { workDir });
    return report.problems.filter((p) => p.kind === "ref-log-gap").map((p) => p.key);
  } finally {
    await Deno.remove(workDir, { recursive: true });
  }
}

Deno.test("check: a listing made while pruning deletes oldest first shows no false gap", async () => {
  const store = new RacingStore("memory://prune-race");
  const key = await fiveMoves(store);
  // The listing read entry 1, then pruning deleted 1 and 2, then the listing reached 2.
  store.hidden = new Set([key(2)]);
  store.during = async () => {
    await store.delete(key(1));
    await store.delete(key(2));
  };
  assertEquals(await gaps(store), []);
});

Deno.test("check: a gap after an entry still stored is named", async () => {
  const store = new RacingStore("memory://lost-entry");
  const key = await fiveMoves(store);
  await store.delete(key(3));
  assertEquals(await gaps(store), [key(4)]);
});
