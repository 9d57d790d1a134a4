/**
 * A push of many refs creates one entry per ref, and they must go `parallelism` at a
 * time: one after another, 20,000 refs took minutes. A store wrapper counts the creates
 * in flight. A create the store fails is that ref's error (in git's words), the refs
 * already moved stand, and a push where nothing moved fails with the store's error.
 */
import { assert, assertEquals } from "../assert.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import type { Store } from "../../src/storage/store.ts";
import { StoreError } from "../../src/storage/store.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { push, type PushSource } from "../../src/trunk/push.ts";
import { readRefState } from "../../src/trunk/refs.ts";
import { Trunk } from "../../src/trunk/trunk.ts";
import { parseRefEntryKey } from "../keys.ts";
import { PassThroughStore } from "../pass_through_store.ts";

const REFS = 200;
const TIP = "1".repeat(40);

/** Holds each ref entry create for a moment, counting how many overlap; fails some. */
class SlowCreates extends PassThroughStore {
  inFlight = 0;
  maxInFlight = 0;
  refCreates = 0;
  constructor(inner: Store, readonly fails: (key: string) => boolean = () => false) {
    super(inner);
  }
  override async create(key: string, data: Uint8Array): Promise<boolean> {
    if (!parseRefEntryKey(key)?.ref?.startsWith("refs/heads/b")) {
      return await this.inner.create(key, data);
    }
    this.refCreates++;
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    try {
      await new Promise((r) => setTimeout(r, 2));
      if (this.fails(key)) throw new StoreError(`test store: create ${key} refused`, "io");
      return await this.inner.create(key, data);
    } finally {
      this.inFlight--;
    }
  }
}

/** A source whose every ref names one commit the trunk is told nothing new about. */
const source: PushSource = {
  keepsPushedObjects: false,
  resolve: () => Promise.resolve(TIP),
  has: (oids) => Promise.resolve(new Set(oids)),
  isAncestor: () => Promise.resolve(true),
  localHead: () => Promise.resolve("refs/heads/b0"),
  pack: () => Promise.resolve({ segment: null, largeBlobs: [] }),
  readBlobs: async function* () {},
};

const specs = Array.from({ length: REFS }, (_, i) => ({
  src: TIP,
  dst: `refs/heads/b${i}`,
  force: false,
}));

async function setup(fails?: (key: string) => boolean) {
  const store = new SlowCreates(new MemoryStore("memory://parallel"), fails);
  const trunk = await Trunk.openOrCreate(store, new MemoryCache(), "test@parallel", "sha1");
  return { store, trunk };
}

Deno.test("a push of many refs creates their entries in parallel, bounded by the store's parallelism", async () => {
  const { store, trunk } = await setup();
  const report = await push(trunk, source, specs);
  assertEquals(report.refs.filter((r) => r.error), []);
  assertEquals(store.refCreates, REFS);
  assertEquals(store.maxInFlight, trunk.parallelism, "creates in flight at once");
  assert(trunk.parallelism > 1);
  const state = await readRefState(store, new MemoryCache(), trunk.meta);
  assertEquals(state.latest.size, REFS + 1, "every ref and HEAD");
});

Deno.test("a create the store fails is that ref's error; the refs moved stand; none moved throws", async () => {
  // b7's entry is refused: the push goes on with the creates already started, starts no
  // new one, and names the store's error per ref.
  const { store, trunk } = await setup((k) => parseRefEntryKey(k)?.ref === "refs/heads/b7");
  const report = await push(trunk, source, specs);
  const failed = report.refs.filter((r) => r.error);
  const moved = report.refs.filter((r) => !r.error);
  assert(failed.some((r) => r.ref === "refs/heads/b7" && /create .* refused/.test(r.error!)));
  assert(moved.length > 0 && failed.length > 0, `${moved.length} moved, ${failed.length} failed`);
  assert(failed.every((r) => r.failure instanceof StoreError));
  const state = await readRefState(store, new MemoryCache(), trunk.meta);
  for (const r of moved) assertEquals(state.latest.get(r.ref)?.new, TIP, r.ref);
  for (const r of failed) assertEquals(state.latest.get(r.ref), undefined, r.ref);
  // Pushed again once the store takes them, the rest move too.
  const again = await push(await Trunk.open(store.inner, new MemoryCache(), "t"), source, specs);
  assertEquals(again.refs.filter((r) => r.error), []);
  const after = await readRefState(store.inner, new MemoryCache(), trunk.meta);
  assertEquals(after.latest.size, REFS + 1);

  const down = await setup(() => true);
  let thrown: unknown;
  await push(down.trunk, source, specs).catch((e) => thrown = e);
  assert(thrown instanceof StoreError, `nothing moved: the store's error, not ${thrown}`);
});
