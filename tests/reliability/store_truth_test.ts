/**
 * The store is the truth; the local database is a cache (DESIGN.md). A trunk wiped,
 * restored from an older copy (with another writer pushing in between), or replaced by
 * another trunk at the same URL: the next push from an existing clone sees the trunk as
 * it now is. It re-creates trunk.json, re-sends what the store lacks, or is refused in
 * git's words; a fresh clone then reads every acknowledged commit (`git fsck --strict`).
 * And `git clone` inside a directory where `trunks init` was done uses the cache of the
 * repository it clones into, not the directory's `.trunks`.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { getBytes, type Store } from "../../src/storage/store.ts";
import { openStore } from "../../src/storage/registry.ts";
import { Trunk as Library } from "../../mod.ts";
import {
  type Backend,
  commitFile,
  e2eBackends,
  type Env,
  git,
  makeEnv,
  newRepo,
  ok,
  run,
  trunkUrl,
} from "../e2e/harness.ts";
import { parseRefEntryKey } from "../keys.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function withStore<T>(b: Backend, url: string, fn: (s: Store) => Promise<T>): Promise<T> {
  const store = await openStore(url, b.settings);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

type Snapshot = Map<string, Uint8Array>;

async function snapshot(store: Store): Promise<Snapshot> {
  const out: Snapshot = new Map();
  for (const { key } of await store.list("")) out.set(key, (await getBytes(store, key))!);
  return out;
}

async function wipe(store: Store): Promise<void> {
  for (const { key } of await store.list("")) await store.delete(key);
}

async function restore(store: Store, copy: Snapshot): Promise<void> {
  await wipe(store);
  for (const [key, bytes] of copy) await store.put(key, bytes);
}

/** A fresh clone (no cache) that must hold every commit in `acked`, fsck-clean. */
async function freshCloneHolds(e: Env, url: string, acked: string[]): Promise<string> {
  const dir = `${await Deno.makeTempDir({ prefix: "trunks-truth-" })}/c`;
  await ok(e, "git", ["clone", "-q", `trunks::${url}`, dir]);
  await git(e, dir, "fsck", "--strict", "--no-dangling");
  for (const c of acked) await git(e, dir, "cat-file", "-e", `${c}^{commit}`);
  return dir;
}

/** Size of main's entry 2 as the store lists it. */
async function entry2Size(store: Store): Promise<number> {
  const entries = (await store.list("refs/")).filter((l) => {
    const k = parseRefEntryKey(l.key);
    return k?.ref === "refs/heads/main" && k.seq === 2;
  });
  assertEquals(entries.length, 1, entries.map((l) => l.key).join(" "));
  return entries[0].size;
}

const head = async (e: Env, dir: string) => (await git(e, dir, "rev-parse", "HEAD")).trim();

for (
  const backend of e2eBackends().filter((b) => ["local", "minio", "postgres"].includes(b.name))
) {
  Deno.test({
    name:
      `store truth ${backend.name}: a wiped trunk is re-created by the next push, objects re-sent`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(backend.env);
      const url = await trunkUrl(backend, "wiped");
      const a = await newRepo(e, "a");
      await git(e, a, "remote", "add", "origin", `trunks::${url}`);
      await git(e, a, "push", "-q", "origin", "main");
      await withStore(backend, url, wipe);
      await commitFile(e, a, "after.txt", "after the wipe\n");
      await git(e, a, "push", "-q", "origin", "main");
      await withStore(backend, url, async (s) => assert(await getBytes(s, "trunk.json")));
      const dir = await freshCloneHolds(e, url, [await head(e, a)]);
      assertEquals(await Deno.readTextFile(`${dir}/README.md`), "hello\n");
    },
  });

  Deno.test({
    name:
      `store truth ${backend.name}: restored from an older copy, B pushes, A's stale push is refused, then lands whole`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(backend.env);
      const url = await trunkUrl(backend, "restored");
      const a = await newRepo(e, "a");
      await git(e, a, "remote", "add", "origin", `trunks::${url}`);
      await git(e, a, "push", "-q", "origin", "main");
      const b = `${await Deno.makeTempDir()}/b`;
      await ok(e, "git", ["clone", "-q", `trunks::${url}`, b]);
      const old = await withStore(backend, url, snapshot);
      // A pushes seq 2; the store is then rolled back to before it.
      await commitFile(e, a, "a2.txt", "a2\n");
      await git(e, a, "push", "-q", "origin", "main");
      const lost = await head(e, a);
      await withStore(backend, url, (s) => restore(s, old));
      // B pushes its own seq 2, then A (whose cache holds its older seq 2) pushes seq 3.
      await commitFile(e, b, "b2.txt", "b2\n");
      await git(e, b, "push", "-q", "origin", "main");
      const bTip = await head(e, b);
      await commitFile(e, a, "a3.txt", "a3\n");
      const refused = await run(e, "git", ["push", "origin", "main"], { cwd: a });
      assert(refused.code !== 0, `A's push must not land on B's commit:\n${refused.stderr}`);
      assertMatch(refused.stderr, /fetch first|non-fast-forward|rejected/);
      const ls = await git(e, a, "ls-remote", "origin", "refs/heads/main");
      assertEquals(ls.split(/\s/)[0], bTip, "nothing moved");
      await freshCloneHolds(e, url, [bTip]);
      // A fetches, merges and pushes: the commit the store lost is sent again.
      await git(e, a, "fetch", "-q", "origin");
      await git(e, a, "merge", "-q", "--no-edit", "origin/main");
      await git(e, a, "push", "-q", "origin", "main");
      await freshCloneHolds(e, url, [bTip, lost, await head(e, a)]);
    },
  });

  Deno.test({
    name:
      `store truth ${backend.name}: restored with another entry of the same key and size, a fetch-only clone shows the store's value`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(backend.env);
      const url = await trunkUrl(backend, "same-size");
      const a = await newRepo(e, "a");
      await git(e, a, "remote", "add", "origin", `trunks::${url}`);
      await git(e, a, "push", "-q", "origin", "main");
      const b = `${await Deno.makeTempDir()}/b`;
      await ok(e, "git", ["clone", "-q", `trunks::${url}`, b]);
      const old = await withStore(backend, url, snapshot);
      // A moves main (entry 2); B, which only fetches, caches that entry.
      await commitFile(e, a, "a2.txt", "a2\n");
      await git(e, a, "push", "-q", "origin", "main");
      await git(e, b, "fetch", "-q", "origin");
      assertEquals((await git(e, b, "rev-parse", "origin/main")).trim(), await head(e, a));
      const cachedSize = await withStore(backend, url, entry2Size);
      // The store goes back to before entry 2, and C writes another entry 2 of that size.
      await withStore(backend, url, (s) => restore(s, old));
      const c = `${await Deno.makeTempDir()}/c`;
      await ok(e, "git", ["clone", "-q", `trunks::${url}`, c]);
      await commitFile(e, c, "c2.txt", "c2\n");
      await git(e, c, "push", "-q", "origin", "main");
      assertEquals(await withStore(backend, url, entry2Size), cachedSize, "same key, same size");
      await git(e, b, "fetch", "-q", "origin");
      assertEquals((await git(e, b, "rev-parse", "origin/main")).trim(), await head(e, c));
    },
  });

  Deno.test({
    name: `store truth ${backend.name}: a trunk replaced at the same URL is seen as the new one`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(backend.env);
      const url = await trunkUrl(backend, "replaced");
      const a = await newRepo(e, "a");
      await git(e, a, "remote", "add", "origin", `trunks::${url}`);
      await git(e, a, "push", "-q", "origin", "main");
      await git(e, a, "fetch", "-q", "origin");
      await withStore(backend, url, wipe);
      const c = await newRepo(e, "c");
      await commitFile(e, c, "c.txt", "another project\n");
      await git(e, c, "push", "-q", `trunks::${url}`, "main");
      const cTip = await head(e, c);
      // A's main does not contain the new trunk's main: refused in git's words.
      await commitFile(e, a, "a2.txt", "a2\n");
      const refused = await run(e, "git", ["push", "origin", "main"], { cwd: a });
      assert(refused.code !== 0, refused.stderr);
      assertMatch(refused.stderr, /fetch first|non-fast-forward|rejected/);
      // A new branch from A carries its whole history (the new trunk has none of it).
      await git(e, a, "push", "-q", "origin", "main:refs/heads/from-a");
      const dir = await freshCloneHolds(e, url, [cTip, await head(e, a)]);
      await git(e, dir, "checkout", "-q", "from-a");
      assertEquals(await Deno.readTextFile(`${dir}/a2.txt`), "a2\n");
      // A's fetch reads the new trunk (no "cached trunk identity" error).
      await git(e, a, "fetch", "-q", "origin");
      assertEquals((await git(e, a, "rev-parse", "origin/main")).trim(), cTip);
    },
  });

  Deno.test({
    name:
      `store truth ${backend.name}: the library with a cacheDir sees a trunk replaced at the same URL as the new one`,
    ...opts,
    fn: async () => {
      const url = await trunkUrl(backend, "replaced-lib");
      const cacheDir = await Deno.makeTempDir({ prefix: "trunks-truth-cache-" });
      const settings = backend.settings;
      const commit = async (t: Library, text: string) => {
        t.write("who.txt", text);
        await t.commit({ message: text, branch: "main" });
        await t.push();
      };
      let oldId: string;
      {
        await using t = await Library.open({ url, settings, cacheDir, create: true });
        await commit(t, "old trunk\n");
        oldId = t.id;
        assertEquals(await t.readText("who.txt"), "old trunk\n");
      }
      // Another machine (no cache) deletes the trunk and creates another one there.
      await withStore(backend, url, wipe);
      let newId: string;
      {
        await using t = await Library.open({ url, settings, create: true, objectFormat: "sha256" });
        await commit(t, "new trunk\n");
        newId = t.id;
      }
      assert(newId !== oldId);
      // Reopened with the cache that knew the old trunk: trunk.json as the store holds it.
      {
        await using t = await Library.open({ url, settings, cacheDir });
        assertEquals([t.id, t.objectFormat], [newId, "sha256"]);
        assertEquals(await t.readText("who.txt"), "new trunk\n");
      }
      {
        const again = { url, settings, cacheDir, create: true, objectFormat: "sha256" } as const;
        await using t = await Library.open(again);
        assertEquals([t.id, t.objectFormat], [newId, "sha256"]);
        await commit(t, "third\n");
      }
      // Gone: not a trunk any more, whatever the cache says.
      await withStore(backend, url, wipe);
      const gone = await Library.open({ url, settings, cacheDir }).then(
        (t) => t.close().then(() => "opened"),
        (e) => (e as { code?: string }).code,
      );
      assertEquals(gone, "not-a-trunk");
    },
  });
}

Deno.test({
  name: "store truth local: git clone inside a trunks-init directory uses the clone's own cache",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const outer = await newRepo(e, "outer");
    const storeDir = await Deno.makeTempDir({ prefix: "trunks-store-" });
    await ok(e, "trunks", ["init"], { cwd: outer });
    await ok(e, "trunks", [
      "storage",
      "add",
      "--name",
      "primary",
      "--backend",
      "local",
      "--path",
      storeDir,
    ], { cwd: outer });
    const url = `local://${storeDir}/trunks/shared.trunk`;
    // The outer repository pushes and fetches: its .trunks cache marks the segments ingested.
    await git(e, outer, "push", "-q", `trunks::${url}`, "main");
    await git(e, outer, "fetch", "-q", `trunks::${url}`);
    const before = await Deno.readDir(`${outer}/.trunks`);
    let dbs = 0;
    for await (const f of before) if (f.name.endsWith(".trunk")) dbs++;
    assertEquals(dbs, 1, "trunks init made a .trunks database");
    // Cloned from inside the outer work tree: the clone must download everything.
    await ok(e, "git", ["clone", "-q", `trunks::${url}`, "inner"], { cwd: outer });
    await git(e, `${outer}/inner`, "fsck", "--strict", "--no-dangling");
    assertEquals(await Deno.readTextFile(`${outer}/inner/README.md`), "hello\n");
    assert(
      await Deno.stat(`${outer}/inner/.git/trunks.sqlite`).then(() => true, () => false),
      "the clone keeps its own cache in its git dir",
    );
  },
});
