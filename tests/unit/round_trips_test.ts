/**
 * Issue 19's round-trip budget, on a store that answers every operation after a delay (a
 * store in another region) and records when each started and settled:
 * - a one-commit push is the listing of refs, then at once the segment's pack and index,
 *   then the entry: 4 operations in 3 sequential round trips (the helper adds the storage
 *   map's listing, made beside the refs' one: tests/e2e/round_trips_test.ts). The listing
 *   vouches for the cached base entry (the stamp recorded when it was read or created), so
 *   no GET confirms it; the push is within half the lease of its listing, so no GC guard
 *   listing either (a push past it still runs the guard: tests/gc/guard_test.ts);
 * - an up-to-date read of the refs is 1 operation.
 * Sequential round trips are the longest chain of operations each started after the one
 * before it settled (src/storage/metrics.ts `sequentialRounds`).
 */
import { openStore } from "../../src/storage/registry.ts";
import {
  createStamped,
  type ListEntry,
  type PutData,
  type Range,
  readAll,
  type Store,
} from "../../src/storage/store.ts";
import { seal } from "../../src/trunk/seal.ts";
import { sequentialRounds } from "../../src/storage/metrics.ts";
import { Trunk } from "../../mod.ts";
import { Trunk as CoreTrunk } from "../../src/trunk/trunk.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { assert, assertEquals } from "../assert.ts";
import { refEntryKey } from "../keys.ts";

const DELAY_MS = 40;

/** Every operation answers after DELAY_MS; each is recorded with its start and end. */
class SlowStore implements Store {
  ops: { op: string; key: string; span: [number, number] }[] = [];
  constructor(readonly inner: Store) {}
  get location() {
    return this.inner.location;
  }
  get capabilities() {
    return this.inner.capabilities;
  }
  async #slow<T>(op: string, key: string, f: () => Promise<T>): Promise<T> {
    const rec = { op, key, span: [performance.now(), Infinity] as [number, number] };
    this.ops.push(rec);
    try {
      await new Promise((r) => setTimeout(r, DELAY_MS));
      return await f();
    } finally {
      rec.span[1] = performance.now();
    }
  }
  get(key: string, range?: Range) {
    return this.#slow("get", key, () => this.inner.get(key, range));
  }
  put(key: string, data: PutData) {
    return this.#slow("put", key, () => this.inner.put(key, data));
  }
  create(key: string, data: Uint8Array) {
    return this.#slow("create", key, () => this.inner.create(key, data));
  }
  createStamped(key: string, data: Uint8Array) {
    return this.#slow("create", key, () => createStamped(this.inner, key, data));
  }
  list(prefix: string, startAfter?: string): Promise<ListEntry[]> {
    return this.#slow("list", prefix, () => this.inner.list(prefix, startAfter));
  }
  delete(key: string) {
    return this.#slow("delete", key, () => this.inner.delete(key));
  }
  close() {
    return this.inner.close();
  }
  rounds(): number {
    return sequentialRounds(this.ops.map((o) => o.span));
  }
  summary(): string[] {
    return this.ops.map((o) => `${o.op} ${o.key.replace(/[0-9a-f]{64}/, "<id>")}`).sort();
  }
}

async function seeded(): Promise<string> {
  const url = `memory://rt-${crypto.randomUUID()}/trunks/app.trunk`;
  await using t = await Trunk.open({ url, create: true, writer: "seed" });
  t.write("README.md", "hello\n");
  await t.commit({ message: "first", branch: "main" });
  await t.push();
  return url;
}

/** One commit, pushed; the push's operations, checked to end with the entry. */
async function pushOne(t: Trunk, slow: SlowStore, file: string, rounds = 3): Promise<string[]> {
  t.write(file, `${file} changed\n`);
  await t.commit({ message: file, branch: "main" });
  slow.ops = [];
  await t.push();
  if (rounds) assertEquals(slow.rounds(), rounds, JSON.stringify(slow.ops));
  // The entry comes last, after everything it depends on settled.
  const entry = slow.ops.find((o) => o.op === "create")!;
  for (const o of slow.ops) if (o !== entry) assert(o.span[1] <= entry.span[0], o.key);
  return slow.summary();
}

const entryKey = (seq: number) => refEntryKey("refs/heads/main", seq);

Deno.test("one-commit push: 4 store operations in 3 sequential round trips", async () => {
  const url = await seeded();
  const slow = new SlowStore(await openStore(url));
  await using t = await Trunk.open({ store: slow, writer: "w" });
  await t.refs(); // every entry read once, as a clone leaves them cached
  const four = (seq: number) => [
    `create ${entryKey(seq)}`,
    "list refs/",
    "put segments/<id>.idx",
    "put segments/<id>.pack",
  ];
  assertEquals(await pushOne(t, slow, "a.txt"), four(2));
  // On the entry it created itself: its create reported the stamp the listing shows.
  assertEquals(await pushOne(t, slow, "b.txt"), four(3));
  assertEquals(await pushOne(t, slow, "c.txt"), four(4));
});

Deno.test("up-to-date read of the refs (a fetch's): 1 store operation", async () => {
  const url = await seeded();
  const slow = new SlowStore(await openStore(url));
  const t = await CoreTrunk.open(slow, new MemoryCache(), "r");
  await t.refState();
  slow.ops = [];
  const state = await t.refState();
  assertEquals(slow.summary(), ["list refs/"]);
  assertEquals([...state.latest.keys()].sort(), ["HEAD", "refs/heads/main"]);
});

Deno.test("a cached base the store contradicts: the push plans again on the store's state", async () => {
  const url = await seeded();
  const inner = await openStore(url);
  const slow = new SlowStore(inner);
  await using t = await Trunk.open({ store: slow, writer: "w" });
  await t.refs();
  t.write("a.txt", "a change\n");
  await t.commit({ message: "second", branch: "main" });
  // The stored entry is replaced by another of the same size (a restore from an older
  // copy): its listed stamp differs from the one recorded, so the push reads it again.
  const key = refEntryKey("refs/heads/main", 1);
  const stored = JSON.parse(new TextDecoder().decode(await readAll((await inner.get(key))!)));
  const { sum: _sum, ...rest } = stored;
  const other = JSON.stringify(seal({ ...rest, time: "2000-01-01T00:00:00.000Z" }));
  assertEquals(other.length, JSON.stringify(stored).length);
  await inner.delete(key);
  assert(await inner.create(key, new TextEncoder().encode(other)));
  slow.ops = [];
  await t.push();
  const creates = slow.ops.filter((o) => o.op === "create").map((o) => o.key);
  assertEquals(creates, [refEntryKey("refs/heads/main", 2)]);
  // Planned twice: the entries were read again after the contradiction.
  assert(slow.ops.filter((o) => o.op === "list" && o.key === "refs/").length >= 2);
  await using fresh = await Trunk.open({ url, writer: "r" });
  assertEquals(await fresh.readText("a.txt"), "a change\n");
  assertEquals(await fresh.readText("README.md"), "hello\n");
});
