/**
 * A ref entry larger than any writer makes is damage, whether it is past parseEntry's
 * bound only (1-3 MiB) or past what is read of an entry too (3 MiB, refs.ts): either
 * way, as an entry that does not parse or whose seal fails, a read of it fails in the same
 * one line naming it and trunks check names it with that line. Skipped instead, a ref
 * whose newest entry it is read as never pushed to, not as its previous value. A prune
 * keeps it in place (as any damaged entry) and archives the rest.
 */
import { assert, assertEquals, assertMatch, assertRejects } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import type { Store } from "../../src/storage/store.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { checkTrunk } from "../../src/trunk/check.ts";
import { TrunkError } from "../../src/trunk/errors.ts";
import { refLayout } from "../../src/trunk/layout.ts";
import { pruneRefLog } from "../../src/trunk/prune.ts";
import { readAuditLog } from "../../src/trunk/reflog.ts";
import {
  ENTRY_READ_MAX_BYTES,
  readRefState,
  type RefEntry,
  writeRefEntry,
} from "../../src/trunk/refs.ts";
import { seal } from "../../src/trunk/seal.ts";
import { Trunk } from "../../src/trunk/trunk.ts";

const MiB = 1024 * 1024;
const ZERO = "0".repeat(40);
/** Past parseEntry's bound only, and past the read bound too. */
const SIZES = [2 * MiB, ENTRY_READ_MAX_BYTES + MiB];

const STORES: Record<string, () => Promise<Store>> = {
  memory: () => openStore(`memory://oversized-${crypto.randomUUID()}/trunks/a.trunk`),
  local: async () =>
    openStore(`local://${await Deno.makeTempDir({ prefix: "trunks-oversized-" })}/trunks/a.trunk`),
};

/**
 * A trunk where refs/heads/other moved twice and refs/heads/main (HEAD's branch) once,
 * then to an entry (seq 2) that is a real, sealed one padded with whitespace (JSON allows
 * it) to `size` bytes, as a writer with the store's keys could plant; `superseded`: main
 * moved once more.
 */
async function scene(store: Store, size: number, superseded = false) {
  const trunk = await Trunk.openOrCreate(store, new MemoryCache(), "w", "sha1");
  const meta = trunk.meta;
  const layout = refLayout(meta.format);
  const entry = (ref: string, seq: number): RefEntry => ({
    trunk: meta.id,
    ref,
    seq,
    old: seq === 1 ? ZERO : String(seq - 1).repeat(40),
    new: String(seq).repeat(40),
    time: new Date().toISOString(),
    writer: "w",
    segments: [],
  });
  const cache = new MemoryCache();
  const write = async (ref: string, seq: number) =>
    assert((await writeRefEntry(store, cache, meta, entry(ref, seq))).ok);
  await write("refs/heads/other", 1);
  await write("refs/heads/other", 2);
  await write("refs/heads/main", 1);
  const head = { ...entry("HEAD", 1), new: ZERO, symref: "refs/heads/main" };
  assert((await writeRefEntry(store, cache, meta, head)).ok);
  const key = layout.entryKey("refs/heads/main", 2);
  const text = JSON.stringify(seal(entry("refs/heads/main", 2)));
  await store.put(key, new TextEncoder().encode(text + " ".repeat(size - text.length)));
  if (superseded) await write("refs/heads/main", 3);
  return { trunk, key };
}

/** The one "corrupt" line a read of the planted entry fails with. */
async function refused(key: string, read: () => Promise<unknown>): Promise<string> {
  const e = (await assertRejects(read, TrunkError)) as TrunkError;
  assertEquals(e.code, "corrupt");
  assert(!e.message.includes("\n"), "one line");
  assert(e.message.includes(key), `names ${key}: ${e.message}`);
  assertMatch(e.message, /run trunks check/);
  return e.message;
}

for (const [name, open] of Object.entries(STORES)) {
  Deno.test(`${name}: an oversized newest entry fails every read in one line, whatever its size`, async () => {
    const seen: string[] = [];
    for (const size of SIZES) {
      const store = await open();
      try {
        const { trunk, key } = await scene(store, size);
        // Not main's previous value, nor main gone: the store says main moved to an entry
        // nobody can read.
        const line = await refused(key, () => readRefState(store, new MemoryCache(), trunk.meta));
        seen.push(line);
        // trunks log reads the same entry the same way.
        assertEquals(
          await refused(key, () => readAuditLog(store, new MemoryCache(), trunk.meta)),
          line,
        );
        const workDir = await Deno.makeTempDir({ prefix: "trunks-oversized-check-" });
        try {
          const { report } = await checkTrunk(store, { workDir });
          const bad = report.problems.filter((p) => p.kind === "bad-ref-entry");
          assertEquals(bad.map((p) => [p.key, p.message]), [[key, line]], `${size} bytes`);
          assert(!report.ok);
          // main exists: its newest entry is the problem, not a branch HEAD names in vain.
          assertEquals(report.notes.filter((n) => n.kind === "head"), [], `${size} bytes`);
        } finally {
          await Deno.remove(workDir, { recursive: true });
        }
      } finally {
        await store.close();
      }
    }
    // Past parseEntry's bound or past the read's, one rule and one line.
    assertEquals(seen[0], seen[1]);
  });

  Deno.test(`${name}: a prune keeps an oversized superseded entry in place and archives the rest`, async () => {
    for (const size of SIZES) {
      const store = await open();
      try {
        const { trunk, key } = await scene(store, size, true);
        await new Promise((r) => setTimeout(r, 5));
        const report = await pruneRefLog(store, new MemoryCache(), trunk.meta, 0);
        const layout = refLayout(trunk.meta.format);
        const left = (await store.list("refs/")).map((e) => e.key).filter((k) => layout.parts(k));
        // other's superseded entry and main's before the planted one are archived; the
        // planted one stays for trunks check to name, and main's newest with it.
        assertEquals(report.pruned, 2, `${size} bytes`);
        assertEquals(
          left.sort(),
          [
            key,
            layout.entryKey("HEAD", 1),
            layout.entryKey("refs/heads/main", 3),
            layout.entryKey("refs/heads/other", 2),
          ].sort(),
        );
      } finally {
        await store.close();
      }
    }
  });
}
