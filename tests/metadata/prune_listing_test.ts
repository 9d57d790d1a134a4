/**
 * Pruning judges "superseded" from the listing's keys, which are the backend's answer: a
 * listing that repeats a key (an S3-compatible server paging with an inclusive marker)
 * must not make it delete a ref's latest entry.
 */
import { assert, assertEquals } from "../assert.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import type { ListEntry, Store } from "../../src/storage/store.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { ensureMeta, type TrunkMeta } from "../../src/trunk/meta.ts";
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
