/**
 * What a reader takes on a snapshot's word. An entry copied from a snapshot whose own seal
 * checks is not hashed again (that seal covers its bytes) but is still checked for shape,
 * key and the security rules; an entry read from its own key, or carried by a snapshot
 * without a seal, has its own seal checked as always. Whatever byte of a snapshot is
 * damaged, a reader gets the refs' true values or an error, never another value.
 */
import { assert, assertEquals } from "../assert.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { getBytes, type Range, type Store } from "../../src/storage/store.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { snapshotKey } from "../../src/trunk/layout.ts";
import { layout, refEntryKey } from "../keys.ts";
import { ensureMeta } from "../../src/trunk/meta.ts";
import { takeSnapshot } from "../../src/trunk/maintenance.ts";
import { readRefState, type RefEntry, type RefState } from "../../src/trunk/refs.ts";
import { seal } from "../../src/trunk/seal.ts";
import { encodeSnapshot, parseSnapshot } from "../../src/trunk/snapshots.ts";
import { Trunk } from "../../src/trunk/trunk.ts";
import { TrunkError } from "../../src/trunk/errors.ts";
import { PassThroughStore } from "../pass_through_store.ts";

const oid = (n: number) => n.toString(16).padStart(40, "0");
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Records the keys read. */
class Gets extends PassThroughStore {
  gets: string[] = [];
  override get(key: string, range?: Range) {
    this.gets.push(key);
    return this.inner.get(key, range);
  }
}

/** A trunk of `refs` refs (one entry each, more than a snapshot is read for) and a snapshot. */
async function snapshotted(refs = 20) {
  const mem = new MemoryStore("memory://t");
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
  await takeSnapshot(trunk);
  const truth = await readRefState(mem, new MemoryCache(), meta);
  const raw = dec.decode((await getBytes(mem, snapshotKey(1)))!);
  return { mem, meta, trunk, truth, raw };
}

async function replace(store: Store, key: string, text: string): Promise<void> {
  await store.delete(key);
  assert(await store.create(key, enc.encode(text)));
}

/** The entry of `ref` with `new` moved and its own seal computed again over the edit. */
function resealed(entryJson: string, newOid: string): string {
  const { sum: _, ...rest } = JSON.parse(entryJson) as RefEntry;
  return JSON.stringify(seal({ ...rest, new: newOid }));
}

/** The entry with `new` moved and its old seal kept (so the seal no longer matches). */
function tampered(entryJson: string, newOid: string): string {
  return JSON.stringify({ ...JSON.parse(entryJson), new: newOid });
}

/** `fn` rejects with a TrunkError whose message includes `part`. */
async function refused(fn: () => Promise<unknown>, part: string, what: string): Promise<void> {
  try {
    await fn();
  } catch (e) {
    assert(e instanceof TrunkError && e.message.includes(part), `${what}: ${e}`);
    return;
  }
  throw new Error(`expected a refusal: ${what}`);
}

const values = (s: RefState) => [...s.latest].map(([ref, e]) => [ref, e.new]);

Deno.test("a snapshot entry re-sealed without the snapshot's seal: the snapshot is refused", async () => {
  const { mem, meta, truth, raw } = await snapshotted();
  const key = refEntryKey("refs/heads/b3", 1);
  const stored = dec.decode((await getBytes(mem, key))!);
  // Same size as the listed entry, its own seal right: only the snapshot's seal tells.
  const forged = resealed(stored, oid(999));
  assertEquals(forged.length, stored.length);
  const text = raw.replace(JSON.stringify(stored), JSON.stringify(forged));
  assert(text !== raw && text.length === raw.length);
  try {
    parseSnapshot(text, snapshotKey(1), 1, layout);
    throw new Error("parseSnapshot took a snapshot whose seal no longer matches");
  } catch (e) {
    assert(e instanceof TrunkError && e.message.includes("seal"), String(e));
  }
  await replace(mem, snapshotKey(1), text);
  const gets = new Gets(mem);
  const state = await readRefState(gets, new MemoryCache(), meta);
  assertEquals(values(state), values(truth));
  assertEquals(state.latest.get("refs/heads/b3")!.new, oid(4));
  // Every entry read from its own key instead.
  assertEquals(gets.gets.length, 1 + truth.latest.size);
});

Deno.test("the seal skip needs the snapshot's seal: an unsealed snapshot's entries are checked", async () => {
  const { mem, meta, raw } = await snapshotted();
  const key = refEntryKey("refs/heads/b3", 1);
  const stored = dec.decode((await getBytes(mem, key))!);
  // A snapshot without `sum` (as an older writer's would be) carrying an edited entry.
  const o = JSON.parse(raw);
  delete o.sum;
  o.entries[key] = tampered(stored, oid(999));
  assertEquals(o.entries[key].length, stored.length);
  assertEquals(parseSnapshot(JSON.stringify(o), snapshotKey(1), 1, layout).sealed, false);
  await replace(mem, snapshotKey(1), JSON.stringify(o));
  await refused(
    () => readRefState(mem, new MemoryCache(), meta),
    "does not match its seal",
    "an unsealed snapshot's damaged entry",
  );
  // With the entry as written, the unsealed snapshot is read (and each seal checked).
  o.entries[key] = stored;
  await replace(mem, snapshotKey(1), JSON.stringify(o));
  const gets = new Gets(mem);
  const state = await readRefState(gets, new MemoryCache(), meta);
  assertEquals(gets.gets, [snapshotKey(1)]);
  assertEquals(state.latest.get("refs/heads/b3")!.new, oid(4));
});

Deno.test("the seal skip never applies to an entry read from its own key", async () => {
  const { mem, meta, trunk, truth } = await snapshotted();
  // Newer than the snapshot: read from its own key, whose seal is broken.
  const moved = await trunk.updateRef({
    ref: "refs/heads/b5",
    new: oid(500),
    base: truth.latest.get("refs/heads/b5")!,
    segments: [],
  });
  assert(moved.ok);
  const newer = refEntryKey("refs/heads/b5", 2);
  const text = dec.decode((await getBytes(mem, newer))!);
  await replace(mem, newer, tampered(text, oid(501)));
  await refused(
    () => readRefState(mem, new MemoryCache(), meta),
    "does not match its seal",
    "an entry newer than the snapshot",
  );
  await replace(mem, newer, text);

  // Listed with another size than the snapshot's copy: read from its key, seal checked.
  const key = refEntryKey("refs/heads/b7", 1);
  const stored = dec.decode((await getBytes(mem, key))!);
  const longer = tampered(stored, oid(701)).replace(`"writer":"`, `"writer":"x`);
  assert(longer.length !== stored.length);
  await replace(mem, key, longer);
  await refused(
    () => readRefState(mem, new MemoryCache(), meta),
    "does not match its seal",
    "an entry the snapshot's copy does not match in size",
  );
});

Deno.test("a snapshot entry is still checked for key and ref name without its seal hashed", async () => {
  const { mem, meta, raw } = await snapshotted();
  // A snapshot sealed over an entry naming another ref than its key: the seal checks, the
  // entry does not (the check is parseEntry's, seal aside): never given to a reader.
  const key = refEntryKey("refs/heads/b3", 1);
  const stored = dec.decode((await getBytes(mem, key))!);
  const other = JSON.parse(stored);
  other.ref = "refs/heads/b4";
  const { sum: _, ...rest } = other;
  const forged = JSON.stringify(seal(rest));
  assertEquals(forged.length, stored.length);
  const entries = parseSnapshot(raw, snapshotKey(1), 1, layout).entries;
  entries.set(key, forged);
  const text = dec.decode(encodeSnapshot(meta.id, 1, entries));
  assert(parseSnapshot(text, snapshotKey(1), 1, layout).sealed);
  await replace(mem, snapshotKey(1), text);
  await refused(
    () => readRefState(mem, new MemoryCache(), meta),
    "does not describe that ref",
    "an entry under another ref's key",
  );
});

Deno.test("any byte of a snapshot flipped: the true refs, never another value", async () => {
  const { mem, meta, truth, raw } = await snapshotted(17);
  const want = JSON.stringify(values(truth));
  const bytes = enc.encode(raw);
  let used = 0;
  let refusedCount = 0;
  for (let at = 0; at < bytes.length; at++) {
    const bad = bytes.slice();
    bad[at] ^= 1;
    await mem.delete(snapshotKey(1));
    await mem.create(snapshotKey(1), bad);
    const gets = new Gets(mem);
    let state: RefState;
    try {
      state = await readRefState(gets, new MemoryCache(), meta);
    } catch (e) {
      assert(e instanceof TrunkError, `byte ${at}: ${e}`);
      refusedCount++;
      continue;
    }
    assertEquals(JSON.stringify(values(state)), want, `byte ${at} flipped`);
    if (gets.gets.length === 1) {
      // Read from the snapshot alone: only when the flip left a text without a seal (the
      // "sum" field's name), whose every entry then had its own seal checked.
      used++;
      assertEquals(
        parseSnapshot(dec.decode(bad), snapshotKey(1), 1, layout).sealed,
        false,
        `byte ${at}`,
      );
    }
  }
  // Unusable snapshots only cost GETs: no flip makes the read fail.
  assertEquals(refusedCount, 0);
  assert(used <= 3, `${used} flips left the snapshot usable`);
});
