/**
 * Pruning archives what the store holds. A machine's cached copy of an entry is archived
 * in its place only while the listing vouches for it (same size and stamp as when it was
 * cached): a copy cached before the trunk was restored from an older backup, under a key
 * another writer has since created again, must not replace the real entry in the audit
 * log while the real one is deleted.
 */
import { assert, assertEquals } from "../assert.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { getBytes } from "../../src/storage/store.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { refEntryKey } from "../keys.ts";
import { ensureMeta } from "../../src/trunk/meta.ts";
import { pruneRefLog } from "../../src/trunk/prune.ts";
import { readAuditLog } from "../../src/trunk/reflog.ts";
import type { RefEntry } from "../../src/trunk/refs.ts";
import { seal } from "../../src/trunk/seal.ts";
import { Trunk } from "../../src/trunk/trunk.ts";

const oid = (n: number) => n.toString(16).padStart(40, "0");

Deno.test("pruning archives the store's entry, not a cached copy the listing does not vouch for", async () => {
  const mem = new MemoryStore("memory://t");
  const meta = await ensureMeta(mem, "sha1");
  const writer = new Trunk(mem, meta, new MemoryCache(), "writer@test");
  let base: RefEntry | null = null;
  for (let i = 1; i <= 3; i++) {
    const r = await writer.updateRef({ ref: "refs/heads/b0", new: oid(i), base, segments: [] });
    assert(r.ok);
    base = r.entry;
  }
  // Another machine cached a seq-1 entry of this trunk that the store no longer holds (it
  // was written before a restore; another writer then created seq 1 again).
  const key = refEntryKey("refs/heads/b0", 1);
  const stored = JSON.parse(new TextDecoder().decode((await getBytes(mem, key))!));
  const { sum: _, ...rest } = stored;
  const gone = JSON.stringify(seal({ ...rest, new: oid(77), writer: "before-restore" }));
  const cache = new MemoryCache();
  cache.putEntries(meta.id, new Map([[key, gone]]), new Map([[key, "t:1"]]));
  await new Promise((r) => setTimeout(r, 5));
  const report = await pruneRefLog(mem, cache, meta, 0, { now: Date.now() + 1000 });
  assertEquals(report.pruned, 2);
  const log = await readAuditLog(mem, new MemoryCache(), meta, "refs/heads/b0");
  assertEquals(log.map((e) => [e.seq, e.new, e.writer]), [
    [1, oid(1), "writer@test"],
    [2, oid(2), "writer@test"],
    [3, oid(3), "writer@test"],
  ]);
});
