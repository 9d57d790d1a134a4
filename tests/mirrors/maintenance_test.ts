/**
 * Automatic maintenance on a trunk with mirrors merges segments but deletes nothing: a
 * mirror that missed a delete would look diverged (src/trunk/maintenance.ts). With a lease
 * of 0 the segments a first step's merge replaced are past their grace at the next step,
 * which on a trunk without mirrors deletes them.
 */
import { assert, assertEquals } from "../assert.ts";
import { withProcessEnv } from "../../harness/process_env.ts";
import { Trunk as Library } from "../../src/sdk/trunk.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { maintain, SNAPSHOT_AFTER } from "../../src/trunk/maintenance.ts";
import { parseSnapshotKey, SNAPSHOT_PREFIX } from "../../src/trunk/layout.ts";
import { openStore } from "../../src/storage/registry.ts";
import type { Store } from "../../src/storage/store.ts";
import { MirroredStore } from "../../src/trunk/mirrors.ts";
import { listSegmentKeys } from "../../src/trunk/replaces.ts";
import { Trunk } from "../../src/trunk/trunk.ts";
import { member, opts } from "./harness.ts";
import { git, makeEnv, ok } from "../e2e/harness.ts";
import { writeMap } from "../../src/trunk/storage_map.ts";
import { syncMirror } from "../../src/trunk/sync.ts";

Deno.test("maintenance on a mirrored trunk merges segments and deletes none it replaced", async () => {
  const primary = member("primary", "primary");
  const mirror = member("m", "mirror");
  const set = new MirroredStore([primary, mirror]);
  await withProcessEnv({ TRUNKS_AUTO_MAINTENANCE: "0" }, async () => {
    await using lib = await Library.open({ store: set, create: true, leaseSeconds: 0 });
    for (let i = 0; i < 10; i++) {
      lib.write(`f${i}.txt`, `${i}\n`);
      await lib.commit({ message: `c${i}`, branch: "main" });
      await lib.push();
    }
  });
  const pushed = (await listSegmentKeys(primary.store)).complete.map((s) => s.id).sort();
  assertEquals(pushed.length, 10);
  const trunk = await Trunk.open(set, new MemoryCache(), "maint@test", { fromStore: true });
  const workDir = await Deno.makeTempDir();
  try {
    const first = await maintain(trunk, { workDir: `${workDir}/1` });
    assert(first.merge?.merged, "the first step merged the small segments");
    await new Promise((r) => setTimeout(r, 5));
    const second = await maintain(trunk, { workDir: `${workDir}/2` });
    assertEquals(second.merge?.deleted, []);
    for (const m of [primary, mirror]) {
      const ids = new Set((await listSegmentKeys(m.store)).complete.map((s) => s.id));
      for (const id of pushed) assert(ids.has(id), `${m.name} lost segment ${id}`);
    }
  } finally {
    await Deno.remove(workDir, { recursive: true });
  }
});

Deno.test("maintenance from a client that does not use the mirrors its storage map names prunes nothing", async () => {
  const primary = member("primary", "primary");
  const mirror = member("m", "mirror");
  const set = new MirroredStore([primary, mirror]);
  await withProcessEnv({ TRUNKS_AUTO_MAINTENANCE: "0" }, async () => {
    await using lib = await Library.open({ store: set, create: true, leaseSeconds: 0 });
    for (let i = 0; i < 4; i++) {
      lib.write(`f${i}.txt`, `${i}\n`);
      await lib.commit({ message: `c${i}`, branch: "main" });
      await lib.push();
    }
  });
  const entry = (m: typeof primary) => ({
    name: m.name,
    role: m.role,
    url: `local:///nowhere/${m.name}/trunks/app.trunk`,
    backend: "local",
    settings: {},
  });
  await writeMap(set, [entry(primary), entry(mirror)], "t@test", 0);
  // A machine that has not approved the mirror: its view of the trunk is the primary alone.
  const alone = await Trunk.open(primary.store, new MemoryCache(), "maint@test", {
    fromStore: true,
  });
  await new Promise((r) => setTimeout(r, 5));
  const workDir = await Deno.makeTempDir();
  try {
    const report = await maintain(alone, { workDir, skip: { merge: true } });
    assertEquals(report.prune, null, "no ref entry pruned on the primary alone");
  } finally {
    await Deno.remove(workDir, { recursive: true });
  }
  const sync = await syncMirror(primary, mirror, new MemoryCache(), alone.meta, { write: false });
  assertEquals(sync.state, "in-sync", sync.detail);
});

/**
 * Steps started by pushes, counted by the snapshot each writes (every push leaves an
 * entry newer than the newest snapshot). 50 refs pushed twice with automatic maintenance
 * off leave 50 superseded entries, prunable at once (lease 0); then a step is due once
 * for the 100 entries outside any snapshot, and never again for the superseded ones,
 * which on a mirrored trunk no step prunes.
 */
async function supersededBurst(open: () => Promise<Library>): Promise<void> {
  await withProcessEnv({ TRUNKS_AUTO_MAINTENANCE: "0" }, async () => {
    await using lib = await open();
    for (const round of [0, 1]) {
      for (let i = 0; i < SNAPSHOT_AFTER; i++) {
        lib.write("f.txt", `${round} ${i}\n`);
        await lib.commit({ message: `c${round}.${i}`, branch: `b${i}` });
      }
      await lib.push();
    }
  });
}

/** Three pushes of b0 from the library, each followed by its step if one is due. */
async function threeLibraryPushes(open: () => Promise<Library>): Promise<void> {
  await withProcessEnv({ TRUNKS_AUTO_MAINTENANCE: "wait" }, async () => {
    await using lib = await open();
    for (let i = 0; i < 3; i++) {
      lib.write("f.txt", `more ${i}\n`);
      await lib.commit({ message: `m${i}`, branch: "b0" });
      await lib.push();
    }
  });
}

/** Steps run so far: each wrote the snapshot after the newest one. */
async function steps(primary: Store): Promise<number> {
  const seqs = (await primary.list(SNAPSHOT_PREFIX)).map((e) => parseSnapshotKey(e.key) ?? 0);
  return Math.max(0, ...seqs);
}

Deno.test("a mirrored trunk's superseded entries, which no step prunes, start no step after every push", async () => {
  const primary = member("primary", "primary");
  const set = new MirroredStore([primary, member("m", "mirror")]);
  await supersededBurst(() => Library.open({ store: set, create: true, leaseSeconds: 0 }));
  await threeLibraryPushes(() => Library.open({ store: set }));
  assertEquals(await steps(primary.store), 1, "one step, for the entries outside any snapshot");
});

/**
 * A trunk on a local primary whose map names a mirror no client here approved: every
 * client reads and writes the primary alone, and learns of the mirror from the map only.
 */
async function mapOnlyMirror(): Promise<
  { url: string; store: Store; [Symbol.asyncDispose](): Promise<void> }
> {
  const root = await Deno.makeTempDir({ prefix: "trunks-maint-map-" });
  await Deno.mkdir(`${root}/primary`);
  const url = `local://${root}/primary/trunks/app.trunk`;
  const store = await openStore(url);
  return {
    url,
    store,
    async [Symbol.asyncDispose]() {
      await store.close();
      await Deno.remove(root, { recursive: true });
    },
  };
}

async function nameMirror(t: { url: string; store: Store }): Promise<void> {
  const root = t.url.replace(/^local:\/\//, "").replace(/\/primary\/trunks\/app\.trunk$/, "");
  const entry = (name: string, role: "primary" | "mirror") => ({
    name,
    role,
    url: `local://${root}/${name}/trunks/app.trunk`,
    backend: "local",
    settings: {},
  });
  await writeMap(t.store, [entry("primary", "primary"), entry("nas", "mirror")], "t@test", 0);
}

Deno.test("library: a trunk whose map names a mirror not used here starts no step for superseded entries", async () => {
  await using t = await mapOnlyMirror();
  await supersededBurst(() => Library.open({ url: t.url, create: true, leaseSeconds: 0 }));
  await nameMirror(t);
  await threeLibraryPushes(() => Library.open({ url: t.url }));
  assertEquals(await steps(t.store), 1, "one step, for the entries outside any snapshot");
});

Deno.test({
  name:
    "git push: a trunk whose map names a mirror not used here starts no step for superseded entries",
  ...opts,
  fn: async () => {
    await using t = await mapOnlyMirror();
    await supersededBurst(() => Library.open({ url: t.url, create: true, leaseSeconds: 0 }));
    await nameMirror(t);
    const e = await makeEnv();
    const dir = `${await Deno.makeTempDir({ prefix: "trunks-maint-git-" })}/c`;
    await ok(e, "git", ["clone", "-q", `trunks::${t.url}`, dir]);
    await git(e, dir, "checkout", "-q", "-B", "b0", "origin/b0");
    for (let i = 0; i < 3; i++) {
      await Deno.writeTextFile(`${dir}/f.txt`, `git ${i}\n`);
      await git(e, dir, "commit", "-qam", `g${i}`);
      await ok(e, "git", ["push", "-q", "origin", "b0"], {
        cwd: dir,
        env: { TRUNKS_AUTO_MAINTENANCE: "wait" },
      });
    }
    assertEquals(await steps(t.store), 1, "one step, for the entries outside any snapshot");
  },
});
