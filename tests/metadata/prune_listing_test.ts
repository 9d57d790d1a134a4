/**
 * Pruning judges "superseded more than two leases ago" from listed times, which are the
 * store's clock, and from the listing's keys, which are the backend's answer: a store
 * whose clock runs behind this machine's, or whose listing repeats a key (an
 * S3-compatible server paging with an inclusive marker), must not make it delete an
 * entry a push within its lease still relies on, or a ref's latest entry.
 */
import { assert, assertEquals } from "../assert.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import type { ListEntry, Store } from "../../src/storage/store.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { ensureMeta, type TrunkMeta } from "../../src/trunk/meta.ts";
import { maintain } from "../../src/trunk/maintenance.ts";
import { pruneRefLog } from "../../src/trunk/prune.ts";
import { readRefState } from "../../src/trunk/refs.ts";
import { Trunk } from "../../src/trunk/trunk.ts";

const oid = (n: number) => n.toString(16).padStart(40, "0");
const LEASE_S = 3600;

/** `store` with its listing passed through `edit` (a backend's clock or paging). */
function listingEdited(store: Store, edit: (l: ListEntry[]) => ListEntry[]): Store {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === "list") {
        return async (prefix: string, after?: string) => edit(await target.list(prefix, after));
      }
      const v = Reflect.get(target, prop);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

/** A trunk (lease one hour) on `store` whose ref main moved `moves` times. */
async function trunkOn(store: Store, moves: number) {
  const meta = { ...await ensureMeta(store, "sha1"), leaseSeconds: LEASE_S } as TrunkMeta;
  const trunk = new Trunk(store, meta, new MemoryCache(), "writer@test");
  let base = null;
  for (let i = 1; i <= moves; i++) {
    const r = await trunk.updateRef({ ref: "refs/heads/main", new: oid(i), base, segments: [] });
    assert(r.ok);
    base = r.entry;
  }
  return { meta, trunk };
}

Deno.test("a store whose clock is behind ours: a push within its lease is never lost to a prune", async () => {
  // The store stamps what it writes three leases earlier than this machine's clock says.
  const store = listingEdited(
    new MemoryStore("memory://skew"),
    (l) => l.map((e) => ({ ...e, modified: new Date(e.modified.getTime() - 3 * LEASE_S * 1e3) })),
  );
  const { meta, trunk } = await trunkOn(store, 1);
  // A slow pusher reads the state now: main at seq 1. It has a whole lease to move it.
  const slow = new Trunk(store, meta, new MemoryCache(), "slow@test");
  const base = (await slow.refState()).latest.get("refs/heads/main")!;
  assertEquals(base.seq, 1);
  // Others move main twice, and a maintenance step runs, all within seconds.
  let cur = base;
  for (const n of [2, 3]) {
    const r = await trunk.updateRef({
      ref: "refs/heads/main",
      new: oid(n),
      base: cur,
      segments: [],
    });
    assert(r.ok);
    cur = r.entry;
  }
  await maintain(trunk, { workDir: "/nonexistent", skip: { merge: true } });
  // The slow push, well within its lease: refused as git would (fetch first), or it moves
  // the ref. Acknowledged while the ref stays elsewhere would be a lost push.
  const moved = await slow.updateRef({ ref: "refs/heads/main", new: oid(9), base, segments: [] });
  const now = (await readRefState(store, new MemoryCache(), meta)).latest.get("refs/heads/main")!;
  if (moved.ok) {
    assertEquals(now.new, oid(9), "the push was acknowledged, the ref is not its commit");
  } else assertEquals(now.new, oid(3));
});

Deno.test("a listing that repeats a ref's latest key: pruning never deletes that entry", async () => {
  const store = listingEdited(
    new MemoryStore("memory://dup"),
    (l) => l.flatMap((e) => e.key.startsWith("refs/") ? [e, e] : [e]),
  );
  const { meta, trunk } = await trunkOn(store, 3);
  const r = await pruneRefLog(store, trunk.cache, meta, 0, { now: Date.now() + 1000 });
  assertEquals(r.pruned, 2, "seq 1 and 2 are superseded; seq 3 is main's value");
  const state = await readRefState(store, new MemoryCache(), meta);
  assertEquals(state.latest.get("refs/heads/main")?.new, oid(3));
});

Deno.test("a prune appends to an audit trail of 130,000 archives", async () => {
  const store = new MemoryStore("memory://archives");
  const { meta, trunk } = await trunkOn(store, 3);
  const junk = new Uint8Array(1);
  for (let i = 1; i <= 130_000; i++) await store.put(`reflog/${String(i).padStart(16, "0")}`, junk);
  const r = await pruneRefLog(store, trunk.cache, meta, 0, { now: Date.now() + 1000 });
  assertEquals(r, { pruned: 2, archive: "reflog/0000000000130001" });
});

Deno.test("a store whose clock is behind ours: a prune archives nothing it may not yet delete", async () => {
  // Entries superseded a moment ago, stamped three leases back: every step after a burst
  // (each push starts one) archived them all again, and the audit trail grew with the
  // square of the burst for as long as the store's clock stayed behind.
  const store = listingEdited(
    new MemoryStore("memory://skew-archive"),
    (l) => l.map((e) => ({ ...e, modified: new Date(e.modified.getTime() - 3 * LEASE_S * 1e3) })),
  );
  const { meta, trunk } = await trunkOn(store, 3);
  for (let i = 0; i < 3; i++) {
    assertEquals(await pruneRefLog(store, trunk.cache, meta, LEASE_S * 1e3), {
      pruned: 0,
      archive: null,
    });
  }
  assertEquals((await store.list("reflog/")).length, 0);
});
