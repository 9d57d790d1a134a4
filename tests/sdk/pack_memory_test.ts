/**
 * A long-lived Trunk (a server reading from a trunk for hours) holds at most
 * `reads.packMemoryBytes` of packs in memory, whole packs and ranges alike: it used to keep
 * every pack it ever downloaded whole until it was closed.
 */
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { Trunk, TrunkError } from "../../mod.ts";
import { withProcessEnv } from "../../harness/process_env.ts";
import { openStore } from "../../src/storage/registry.ts";
import type { Range, Store } from "../../src/storage/store.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { runStep } from "../../src/trunk/maintenance.ts";
import { listSegments } from "../../src/trunk/segments.ts";
import { Trunk as CoreTrunk } from "../../src/trunk/trunk.ts";
import { PassThroughStore } from "../pass_through_store.ts";

const KIB = 1024;

/** Incompressible bytes: a segment holding one is about its size. */
function noise(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
  out[0] = seed;
  return out;
}

const memUrl = () => `memory://sdk-${crypto.randomUUID()}/trunks/app.trunk`;

/**
 * `segments` pushes of `perSegment` files of `bytes` each, at `path(s, i)`: one segment a
 * push (no maintenance merges them). The files, by segment.
 */
async function seed(
  where: { url: string } | { store: Store },
  segments: number,
  perSegment: number,
  bytes: number,
  path: (s: number, i: number) => string,
): Promise<Uint8Array[][]> {
  const files: Uint8Array[][] = [];
  await withProcessEnv({ TRUNKS_AUTO_MAINTENANCE: "0" }, async () => {
    await using t = await Trunk.open({ ...where, create: "url" in where, writer: "seed" });
    for (let s = 0; s < segments; s++) {
      files.push([]);
      for (let i = 0; i < perSegment; i++) {
        files[s].push(noise(bytes, i));
        t.write(path(s, i), files[s][i]);
      }
      await t.commit({ message: `segment ${s}`, branch: "main" });
      await t.push();
    }
  });
  return files;
}

/** `count` pushes, one file of `bytes` each, `f<n>.bin`. */
async function trunkOf(
  count: number,
  bytes: number,
): Promise<{ url: string; files: Uint8Array[] }> {
  const url = memUrl();
  const files = await seed({ url }, count, 1, bytes, (s) => `f${s}.bin`);
  return { url, files: files.map((f) => f[0]) };
}

Deno.test("sdk: whole packs past reads.packMemoryBytes are dropped, least recently read first, and read again", async () => {
  const { url, files } = await trunkOf(6, 200 * KIB);
  const budget = 500 * KIB;
  await using t = await Trunk.open({ url, reads: { packMemoryBytes: budget } });
  let most = 0;
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < files.length; i++) {
      assertEquals(await t.read(`f${i}.bin`), files[i], `f${i}.bin, round ${round}`);
      most = Math.max(most, t.stats.heldBytes);
    }
  }
  assert(most > 0, "packs are held while read");
  assert(most <= budget, `held ${most} bytes of packs, more than the ${budget} allowed`);
});

Deno.test("sdk: a pack larger than reads.packMemoryBytes is read by range, never whole", async () => {
  const url = memUrl();
  const [files] = await seed({ url }, 1, 12, 50 * KIB, (_, i) => `f${i}.bin`);
  const budget = 300 * KIB;
  await using t = await Trunk.open({
    url,
    reads: { packMemoryBytes: budget, wholePackBytes: 0, rangeReadsBeforeWhole: 2 },
  });
  let most = 0;
  for (let i = 0; i < files.length; i++) {
    assertEquals(await t.read(`f${i}.bin`), files[i], `f${i}.bin`);
    most = Math.max(most, t.stats.heldBytes);
  }
  assert(most <= budget, `held ${most} bytes of a ~600 KiB pack, more than the ${budget} allowed`);
});

Deno.test("sdk: a pack dropped past reads.packMemoryBytes is read by range again, not downloaded whole for each object", async () => {
  // Two packs of 20 files that do not fit the budget together, read whole first: as small
  // packs (the default wholePackBytes), and as packs read many times.
  for (const reads of [{}, { wholePackBytes: 0, rangeReadsBeforeWhole: 8 }]) {
    const url = memUrl();
    const files = await seed({ url }, 2, 20, 10 * KIB, (s, i) => `s${s}/f${i}.bin`);
    await using t = await Trunk.open({ url, reads: { ...reads, packMemoryBytes: 300 * KIB } });
    for (let s = 0; s < 2; s++) {
      for (let i = 0; i < 10; i++) assertEquals(await t.read(`s${s}/f${i}.bin`), files[s][i]);
    }
    // Reads alternating between them: each pack is dropped as the other is read.
    const before = t.stats.bytes;
    for (let i = 10; i < 16; i++) {
      for (let s = 0; s < 2; s++) assertEquals(await t.read(`s${s}/f${i}.bin`), files[s][i]);
    }
    const got = t.stats.bytes - before;
    assert(
      got < 200 * KIB,
      `12 reads of 10 KiB downloaded ${got} bytes (${JSON.stringify(reads)})`,
    );
  }
});

/** A store whose first pack read once `armed` (whole or a range) is answered at `release()`. */
class GatedPackStore extends PassThroughStore {
  #open!: () => void;
  #gate = new Promise<void>((r) => this.#open = r);
  #reached!: () => void;
  /** Resolves when a pack read is waiting at the gate. */
  reached = new Promise<void>((r) => this.#reached = r);
  armed = false;
  release(): void {
    this.#open();
  }
  override async get(key: string, range?: Range): Promise<ReadableStream<Uint8Array> | null> {
    const got = await this.inner.get(key, range);
    if (this.armed && key.endsWith(".pack")) {
      this.armed = false;
      this.#reached();
      await this.#gate;
    }
    return got;
  }
}

Deno.test("sdk: a pack read under way when maintenance deletes its segment is not held after", async () => {
  // Read whole (a small pack), and by range.
  for (const reads of [{}, { wholePackBytes: 0 }]) {
    const mem = await openStore(memUrl());
    const core = await CoreTrunk.openOrCreate(mem, new MemoryCache(), "w", "sha1", {
      leaseSeconds: 0,
    });
    const files = (await seed({ store: mem }, 8, 1, 20 * KIB, (s) => `f${s}.bin`)).map((f) => f[0]);
    const gated = new GatedPackStore(mem);
    await using t = await Trunk.open({ store: gated, reads });
    await t.list(); // the last segment's commit and trees read
    gated.armed = true;
    const reading = t.read("f0.bin");
    try {
      await gated.reached;
      assert((await runStep(core)).merge?.merged, "the eight segments merged");
      // The next step deletes what the first replaced (no grace with a lease of 0 s).
      await new Promise((r) => setTimeout(r, 5));
      assertEquals((await runStep(core)).merge?.deleted.length, 8);
      await t.pull();
    } finally {
      gated.release();
    }
    assertEquals(await reading, files[0]);
    assertEquals((await listSegments(mem)).length, 1);
    assertEquals(
      t.stats.heldBytes,
      0,
      `nothing of the one segment listed was read since the pull (${JSON.stringify(reads)})`,
    );
    await mem.close();
  }
});

/** A store whose first pack range read once `armed` comes back damaged (a bad response). */
class DamageOnceStore extends PassThroughStore {
  armed = false;
  override async get(key: string, range?: Range): Promise<ReadableStream<Uint8Array> | null> {
    const got = await this.inner.get(key, range);
    if (!got || !this.armed || !range || !key.endsWith(".pack")) return got;
    this.armed = false;
    const bytes = new Uint8Array(await new Response(got).arrayBuffer());
    for (let i = 0; i < bytes.length; i += 7) bytes[i] ^= 0xff;
    return new Response(bytes).body;
  }
}

Deno.test("sdk: damaged bytes a range read brought are not served again once the read failed", async () => {
  const { url, files } = await trunkOf(2, 20 * KIB);
  const store = new DamageOnceStore(await openStore(url));
  await using t = await Trunk.open({ store, reads: { wholePackBytes: 0 } });
  await t.list();
  store.armed = true;
  await assertRejects(() => t.read("f0.bin"), TrunkError);
  assertEquals(await t.read("f0.bin"), files[0], "read again from the store");
  await store.close();
});

Deno.test("sdk: concurrent reads of a pack read by range fetch the commit and trees they share once", async () => {
  const url = memUrl();
  const [files] = await seed({ url }, 1, 30, 20 * KIB, (_, i) => `d/f${i}.bin`);
  // The ~600 KiB pack is larger than the budget: read by range, never whole.
  await using t = await Trunk.open({ url, reads: { packMemoryBytes: 100 * KIB } });
  await t.branches();
  const before = t.stats.requests;
  const got = await Promise.all(files.map((_, i) => t.read(`d/f${i}.bin`)));
  got.forEach((b, i) => assertEquals(b, files[i], `d/f${i}.bin`));
  const requests = t.stats.requests - before;
  // The index, the commit and two trees, then one range read a file.
  assert(requests <= files.length + 4, `30 reads made ${requests} requests`);
});

Deno.test("sdk: a reads option that is not a number of 0 or more is refused, naming it", async () => {
  const { url, files } = await trunkOf(1, KIB);
  for (const bad of [-1, NaN, "64MiB"]) {
    await assertRejects(
      () => Trunk.open({ url, reads: { packMemoryBytes: bad as number } }),
      TrunkError,
      "reads.packMemoryBytes",
    );
  }
  await assertRejects(
    () => Trunk.open({ url, reads: { rangeReadsBeforeWhole: -5 } }),
    TrunkError,
    "reads.rangeReadsBeforeWhole",
  );
  // No bound at all is a choice.
  await using t = await Trunk.open({ url, reads: { packMemoryBytes: Infinity } });
  assertEquals(await t.read("f0.bin"), files[0]);
});

Deno.test("sdk: a small pack dropped past reads.packMemoryBytes is read whole again from cacheDir, not the store", async () => {
  const url = memUrl();
  const files = await seed({ url }, 2, 10, 10 * KIB, (s, i) => `s${s}/f${i}.bin`);
  const cacheDir = await Deno.makeTempDir();
  try {
    // Each ~100 KiB pack fits the budget, both together do not.
    await using t = await Trunk.open({ url, cacheDir, reads: { packMemoryBytes: 150 * KIB } });
    for (let s = 0; s < 2; s++) assertEquals(await t.read(`s${s}/f0.bin`), files[s][0]);
    const before = t.stats;
    for (let i = 1; i < 6; i++) {
      for (let s = 0; s < 2; s++) assertEquals(await t.read(`s${s}/f${i}.bin`), files[s][i]);
    }
    assertEquals(t.stats.requests, before.requests, "no request: each pack again from disk");
    assertEquals(t.stats.diskHits - before.diskHits, 10);
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});
