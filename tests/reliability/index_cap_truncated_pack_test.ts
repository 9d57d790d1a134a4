/**
 * Hostile review of 9aeb6c4 (index reads capped by `maxIndexSize(packSize)`) and 94de632
 * (a refused index is read from the next storage). The cap comes from the pack's size as
 * the primary LISTS it, and is then applied to the index on every storage. A primary whose
 * copy of a pack is truncated (a zero-length file after a crash, a copy cut short) lists
 * that pack small: its pack is corrupt and a mirror repairs it, but its index is intact.
 * Capped by the truncated size, the good index is refused on the primary AND on the mirror
 * ("larger than any index of its 0-byte pack can be"), and the fetch fails although the
 * mirror holds the whole segment. And the "good" copy 94de632 repairs with is checked only
 * against that cap: a mirror's torn index that fits it overwrites the primary's good one.
 * Every case below passed at 60507dd (before 9aeb6c4) and failed at 94de632; both commits
 * were reverted (7036187, ff4580d), and these stay as guards for whatever caps the index next:
 * a cap must not come from a size one damaged copy lists, nor a repair take an unverified copy.
 */
import { assert, assertEquals } from "../assert.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { getBytes, type Store } from "../../src/storage/store.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { fetchSegments } from "../../src/trunk/fetch.ts";
import { gitSink } from "../../src/helper/fetch.ts";
import { segmentIdxKey, segmentPackKey } from "../../src/trunk/layout.ts";
import { readMeta } from "../../src/trunk/meta.ts";
import { type Member, MirroredStore } from "../../src/trunk/mirrors.ts";
import { listSegments } from "../../src/trunk/segments.ts";
import { Trunk } from "../../src/trunk/trunk.ts";
import { FaultyStore } from "../faulty_store.ts";
import { pushedFiles } from "../pushed_trunk.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function emptyRepo(): Promise<string> {
  const dir = `${await Deno.makeTempDir()}/r`;
  const r = await new Deno.Command("git", { args: ["init", "-q", dir] }).output();
  assertEquals(r.code, 0);
  return `${dir}/.git`;
}

/** A primary whose copy of one pack is `truncated`, a mirror with every key whole. */
async function damagedPrimary(truncated: number) {
  const store = await pushedFiles([["a.txt", "a\n"], ["b.txt", "b\n"], ["c.txt", "c\n"]]);
  const segs = await listSegments(store);
  assertEquals(segs.length, 3);
  const mirror = new MemoryStore(`memory://mirror-${crypto.randomUUID()}`);
  for (const e of await store.list("")) await mirror.put(e.key, (await getBytes(store, e.key))!);
  const id = segs[1].id;
  const good = (await getBytes(store, segmentPackKey(id)))!;
  await store.put(segmentPackKey(id), good.slice(0, truncated));
  return { store, mirror, id, good };
}

async function fetchThrough(primary: Store, mirror: Store, meta: Store) {
  const members: Member[] = [
    { name: "primary", role: "primary", url: primary.location, store: primary },
    { name: "m", role: "mirror", url: mirror.location, store: mirror },
  ];
  const notes: string[] = [];
  const set = new MirroredStore(members, { notice: (m) => notes.push(m) });
  const trunk = new Trunk(set, (await readMeta(meta))!, new MemoryCache(), "test");
  const got = await fetchSegments(trunk, gitSink(await emptyRepo()));
  return { got, notes };
}

for (const truncated of [0, 40]) {
  Deno.test({
    name:
      `index cap: a pack truncated to ${truncated} bytes on the primary, whole on a mirror: the fetch reads it (the intact index is not refused by the truncated size)`,
    ...opts,
    fn: async () => {
      const { store, mirror, id, good } = await damagedPrimary(truncated);
      const { got, notes } = await fetchThrough(store, mirror, store);
      assertEquals(got.segments, 3);
      assert(notes.some((n) => /repaired the copy on primary "primary"/.test(n)), notes.join("\n"));
      assertEquals(await getBytes(store, segmentPackKey(id)), good, "the primary was repaired");
    },
  });
}

Deno.test({
  name:
    "index cap: a reader without write access to the primary (read-only credentials) still fetches a segment whose pack is truncated there and whole on a mirror",
  ...opts,
  fn: async () => {
    const { store, mirror } = await damagedPrimary(0);
    // The repair of the primary fails (a clone with read-only credentials): only warned of.
    const readOnly = new FaultyStore(store, [{ ops: ["put", "create", "delete"], kind: "error" }]);
    const { got, notes } = await fetchThrough(readOnly, mirror, store);
    assertEquals(got.segments, 3);
    assert(notes.some((n) => /repairing primary "primary" failed/.test(n)), notes.join("\n"));
  },
});

Deno.test({
  name:
    "index cap: a repair never overwrites a good index with a mirror's damaged one that only fits the cap",
  ...opts,
  fn: async () => {
    // The primary's pack is truncated (listed as 0 bytes: the cap is then 1,096 bytes), its
    // index is the good one; the mirror's index is torn (cut to 1,000 bytes: under the cap).
    const { store, mirror, id } = await damagedPrimary(0);
    const good = (await getBytes(store, segmentIdxKey(id)))!;
    assert(good.byteLength > 1096);
    await mirror.put(segmentIdxKey(id), good.slice(0, 1000));
    await fetchThrough(store, mirror, store).catch(() => {});
    assertEquals(
      await getBytes(store, segmentIdxKey(id)),
      good,
      "the primary's good index was replaced by the mirror's torn one",
    );
  },
});
