/**
 * The pieces under check/clean: pack index parsing against git's own reading, the fetch
 * plan over compacted segments, the push's guard, and a fetch whose listing went stale
 * because a clean deleted what it listed.
 */
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { commitFile, git, makeEnv, newRepo, ok } from "../e2e/harness.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import type { ListEntry, Store } from "../../src/storage/store.ts";
import { openStore } from "../../src/storage/registry.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { collectedBase } from "../../src/trunk/gc_guard.ts";
import { PackIndex } from "../../src/pack/pack_index.ts";
import { PackFormatError } from "../../src/pack/errors.ts";
import { segmentIdxKey, segmentPackKey, segmentReplacesKey } from "../../src/trunk/layout.ts";
import { readMeta } from "../../src/trunk/meta.ts";
import { decodeReplaces, encodeReplaces, planFetch } from "../../src/trunk/replaces.ts";
import { listSegments } from "../../src/trunk/segments.ts";
import { Trunk } from "../../src/trunk/trunk.ts";
import { fetchSegments } from "../../src/trunk/fetch.ts";
import { gitSink } from "../../src/helper/fetch.ts";
import { LEASE_ENV } from "../../src/trunk/lease.ts";
import { parseAge } from "../../src/cli/commands/check.ts";
import { TrunkError } from "../../src/trunk/errors.ts";
import { cleanTrunk, sweepTempFiles } from "../../src/trunk/gc.ts";
import { checkTrunk } from "../../src/trunk/check.ts";
import { PassThroughStore } from "../pass_through_store.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** A real pack and index from git, for an object format. */
async function gitPack(format: "sha1" | "sha256") {
  const e = await makeEnv();
  const dir = `${await Deno.makeTempDir()}/r`;
  await ok(e, "git", ["init", "-q", `--object-format=${format}`, dir]);
  for (let i = 0; i < 5; i++) await commitFile(e, dir, `f${i}`, `${i}\n`.repeat(i + 1));
  const out = await Deno.makeTempDir();
  const hash = (await ok(e, "git", ["pack-objects", "-q", "--revs", `${out}/p`], {
    cwd: dir,
    stdin: "HEAD\n",
  })).trim();
  const idx = `${out}/p-${hash}.idx`;
  const shown = (await ok(e, "sh", ["-c", `git show-index --object-format=${format} < "$0"`, idx], {
    cwd: dir,
  })).trim().split("\n").map((l) => l.split(" ")[1]).sort();
  return { idx: await Deno.readFile(idx), shown, pack: `${out}/p-${hash}.pack` };
}

for (const format of ["sha1", "sha256"] as const) {
  Deno.test({
    name: `idx: parses a ${format} index as git show-index does; damage is named`,
    ...opts,
    fn: async () => {
      const { idx, shown } = await gitPack(format);
      const parsed = new PackIndex(idx, format, "segments/x.idx");
      assertEquals(parsed.oids(), shown);
      assertEquals(parsed.count, 15);
      const bad = idx.slice();
      bad[1100] ^= 1;
      await assertRejects(
        () => Promise.resolve().then(() => new PackIndex(bad, format, "segments/x.idx")),
        PackFormatError,
        "segments/x.idx is not a valid pack index",
      );
    },
  });
}

const id = (c: string) => c.repeat(64);

/** A clock tick, so a sidecar is strictly younger than what it replaces. */
const tick = () => new Promise((r) => setTimeout(r, 5));

async function fakeSegment(store: Store, sid: string, replaces?: string[]) {
  // A segment stored in the same millisecond as a sidecar counts as stored again after it
  // (the fetch plan is conservative there), so the sidecar is written a tick later.
  if (replaces) await tick();
  if (replaces) await store.put(segmentReplacesKey(sid), encodeReplaces(replaces));
  await store.put(segmentPackKey(sid), new Uint8Array([1]));
  await store.put(segmentIdxKey(sid), new Uint8Array([1]));
}

Deno.test("plan: a compacted segment is skipped when its inputs were ingested", async () => {
  const store = MemoryStore.named(crypto.randomUUID());
  for (const c of "abc") await fakeSegment(store, id(c));
  await fakeSegment(store, id("d"), [id("a"), id("b"), id("c")]);
  // Had everything: the compacted segment is marked, nothing downloaded.
  const all = await planFetch(store, new Set([id("a"), id("b"), id("c")]));
  assertEquals(all.download, []);
  assertEquals(all.alreadyHave, [id("d")]);
  // Had part: the compacted segment alone is downloaded and covers the rest.
  const part = await planFetch(store, new Set([id("a")]));
  assertEquals(part.download.map((d) => d.segment.id), [id("d")]);
  assertEquals(part.download[0].covers.sort(), [id("a"), id("b"), id("c")]);
  // A fresh clone: one download, not four.
  const fresh = await planFetch(store, new Set());
  assertEquals(fresh.download.map((d) => d.segment.id), [id("d")]);
  // Chained and partly deleted: e replaces d (deleted) and f; d's inputs travel nested.
  await store.delete(segmentIdxKey(id("d")));
  await store.delete(segmentPackKey(id("d")));
  await store.delete(segmentReplacesKey(id("d")));
  await fakeSegment(store, id("f"));
  await tick();
  await store.put(
    segmentReplacesKey(id("e")),
    encodeReplaces([id("d"), id("f")], new Map([[id("d"), [id("a"), id("b"), id("c")]]])),
  );
  await store.put(segmentPackKey(id("e")), new Uint8Array([1]));
  await store.put(segmentIdxKey(id("e")), new Uint8Array([1]));
  const chained = await planFetch(store, new Set([id("a"), id("b"), id("c"), id("f")]));
  assertEquals(chained.download, []);
  assertEquals(chained.alreadyHave, [id("e")]);
  const damaged = new TextEncoder().encode("{");
  await assertRejects(
    () => Promise.resolve().then(() => decodeReplaces(damaged, "segments/x.replaces")),
    TrunkError,
    "segments/x.replaces is not valid JSON",
  );
});

Deno.test("age: --grace values", () => {
  assertEquals(parseAge("0"), 0);
  assertEquals(parseAge("90s"), 90_000);
  assertEquals(parseAge("30m"), 1_800_000);
  assertEquals(parseAge("1h"), 3_600_000);
  assertEquals(parseAge("2d"), 172_800_000);
  assertEquals(parseAge("soon"), null);
  assertEquals(parseAge("-1h"), null);
});

Deno.test({
  name: "guard: a push's base removed by a clean during the push is detected",
  ...opts,
  fn: async () => {
    const store = MemoryStore.named(crypto.randomUUID());
    const { idx, shown } = await gitPack("sha1");
    await store.put(segmentIdxKey(id("a")), idx);
    await store.put(segmentPackKey(id("a")), new Uint8Array([1]));
    // With or without a clean's sidecar (one finding no ref left writes none), the base
    // must be in some segment's index.
    assertEquals(await collectedBase(store, "sha1", [shown[0], shown[3]]), []);
    assertEquals(await collectedBase(store, "sha1", ["f".repeat(40)]), ["f".repeat(40)]);
    await store.put(segmentReplacesKey(id("a")), encodeReplaces([]));
    assertEquals(await collectedBase(store, "sha1", [shown[0], shown[3]]), []);
    assertEquals(await collectedBase(store, "sha1", [shown[0], "f".repeat(40)]), [
      "f".repeat(40),
    ]);
    // The push's own segment, deleted by that clean, is stored again before refs move.
    let reuploads = 0;
    const own = { id: id("b"), reupload: () => Promise.resolve(void reuploads++) };
    assertEquals(await collectedBase(store, "sha1", [shown[1]], own), []);
    assertEquals(reuploads, 1);
  },
});

/** Lists `segments/` from a snapshot once (a reader's stale listing), then for real. */
class StaleListing extends PassThroughStore {
  #snapshot: ListEntry[] | null;
  constructor(inner: Store, snapshot: ListEntry[]) {
    super(inner);
    this.#snapshot = snapshot;
  }
  override list(prefix: string, after?: string): Promise<ListEntry[]> {
    if (prefix === "segments/" && this.#snapshot) {
      const s = this.#snapshot;
      this.#snapshot = null;
      return Promise.resolve(s);
    }
    return this.inner.list(prefix, after);
  }
}

Deno.test({
  name: "fetch: a listed segment deleted by a clean is re-listed; the fetch succeeds",
  ...opts,
  fn: async () => {
    const e = await makeEnv({ [LEASE_ENV]: "0" });
    const root = await Deno.makeTempDir();
    const url = `local://${root}/trunks/app.trunk`;
    const a = await newRepo(e, "a");
    await git(e, a, "push", "-q", `trunks::${url}`, "main");
    const b = `${await Deno.makeTempDir()}/b`;
    await ok(e, "git", ["clone", "-q", `trunks::${url}`, b]);
    for (let i = 0; i < 3; i++) {
      await commitFile(e, a, `n${i}`, `${i}\n`);
      await git(e, a, "push", "-q", `trunks::${url}`, "main");
    }
    const store = await openStore(url, {});
    const stale = await store.list("segments/");
    const first = (await listSegments(store)).map((s) => s.id);
    const work = await Deno.makeTempDir();
    const { inventory } = await checkTrunk(store, { workDir: work });
    const clean = await cleanTrunk(store, inventory!, { graceMs: 0, workDir: work });
    assertEquals(clean.deleted.segments.length, 4);
    const meta = (await readMeta(store))!;
    const cache = new MemoryCache();
    cache.markIngested(meta.id, [first.sort()[0]]); // b had one of the old segments
    const trunk = new Trunk(new StaleListing(store, stale), meta, cache, "test");
    const gitDir = `${b}/.git`;
    const got = await fetchSegments(trunk, gitSink(gitDir));
    assertEquals(got.segments, 1);
    const tip = (await git(e, a, "rev-parse", "main")).trim();
    await git(e, b, "cat-file", "-e", `${tip}^{commit}`);
    assert(cache.ingested(meta.id).has(clean.compacted!.id));
    await store.close();
  },
});

Deno.test("clean: stores that sweep their own leftovers (Postgres parts, SFTP temp files) are asked to, with the grace period as the age", async () => {
  const asked: number[] = [];
  const sweeper = Object.assign(new MemoryStore("sweep"), {
    sweepStale: (olderThanMs: number) => {
      asked.push(olderThanMs);
      return Promise.resolve(3);
    },
  });
  const wrapped = { inner: sweeper } as unknown as Store;
  const cutoff = Date.now() - 3600_000;
  assertEquals(await sweepTempFiles(wrapped, cutoff), 3);
  assertEquals(asked.length, 1);
  assert(asked[0] >= 3600_000 && asked[0] < 3600_000 + 60_000, `asked for ${asked[0]} ms`);
  assertEquals(await sweepTempFiles(new MemoryStore("plain"), cutoff), 0);
});
