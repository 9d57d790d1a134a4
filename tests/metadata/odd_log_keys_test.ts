/**
 * Snapshot and archive keys carry 16-digit seqs, more than a double holds exactly: a key
 * past 2^53 (planted, or damage) read as a number names another key. Maintenance must not
 * take it for the newest snapshot or archive, then write the next one under a 17-digit
 * key no reader looks at (the audit trail of what it prunes lost, every snapshot deleted).
 */
import { assert, assertEquals } from "../assert.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { ensureMeta, type TrunkMeta } from "../../src/trunk/meta.ts";
import { maintain } from "../../src/trunk/maintenance.ts";
import { readAuditLog } from "../../src/trunk/reflog.ts";
import { readRefState } from "../../src/trunk/refs.ts";
import { loadSnapshot } from "../../src/trunk/snapshots.ts";
import { Trunk } from "../../src/trunk/trunk.ts";

const oid = (n: number) => n.toString(16).padStart(40, "0");

Deno.test("a snapshot or archive key past 2^53 is not taken for the newest", async () => {
  const mem = new MemoryStore("memory://odd");
  const meta = { ...await ensureMeta(mem, "sha1"), leaseSeconds: 0 } as TrunkMeta;
  const trunk = new Trunk(mem, meta, new MemoryCache(), "writer@test");
  let base = null;
  for (let i = 1; i <= 3; i++) {
    const r = await trunk.updateRef({ ref: "refs/heads/main", new: oid(i), base, segments: [] });
    assert(r.ok);
    base = r.entry;
  }
  const junk = new TextEncoder().encode("junk");
  assert(await mem.create("refs/~snapshot/9999999999999999", junk));
  assert(await mem.create("reflog/9999999999999999", junk));
  await new Promise((r) => setTimeout(r, 5));
  const report = await maintain(trunk, { workDir: "/nonexistent", skip: { merge: true } });
  assertEquals(report.prune?.pruned, 2);
  // The archive is one `trunks log` reads: every move of main is still there.
  const audit = await readAuditLog(mem, new MemoryCache(), meta, "refs/heads/main");
  assertEquals(audit.map((e) => [e.seq, e.archived]), [[1, true], [2, true], [3, false]]);
  // And the snapshot written is the one readers take.
  const state = await readRefState(mem, new MemoryCache(), meta);
  assert(state.snapshotSeq !== null && state.snapshotSeq < 2 ** 53, `${state.snapshotSeq}`);
  assert(await loadSnapshot(mem, meta, state.snapshotSeq), "the newest snapshot is usable");
});
