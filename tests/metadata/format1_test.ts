/**
 * A trunk created before format 2 (format 1: `refs/<enc>/<seq>`, one directory per ref)
 * stays format 1 and keeps working end to end with real git, on local disk: push, fetch,
 * clone, racing pushes (one wins), automatic maintenance (a snapshot), pruning, `trunks
 * log` and `trunks check`. Every entry it gets is nested; none has format 2's shape, and
 * its trunk.json is never rewritten.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import { getBytes, type Store } from "../../src/storage/store.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import {
  parseSnapshotKey,
  refLayout,
  REFLOG_PREFIX,
  REFS_PREFIX,
  SNAPSHOT_PREFIX,
  TRUNK_JSON,
} from "../../src/trunk/layout.ts";
import { readMeta } from "../../src/trunk/meta.ts";
import { readRefState } from "../../src/trunk/refs.ts";
import { format1Trunk } from "./format1_trunk.ts";
import {
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

const opts = { sanitizeOps: false, sanitizeResources: false };
const local = e2eBackends().find((b) => b.name === "local")!;
const v1 = refLayout(1);
const v2 = refLayout(2);

async function withStore<T>(url: string, fn: (s: Store) => Promise<T>): Promise<T> {
  const store = await openStore(url, local.settings);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** Every key under refs/ is a format-1 entry or a snapshot; none has format 2's shape. */
async function nestedOnly(url: string, what: string): Promise<number> {
  return await withStore(url, async (store) => {
    let entries = 0;
    for (const { key } of await store.list(REFS_PREFIX)) {
      assertEquals(v2.parts(key), null, `${what}: ${key} has format 2's shape`);
      if (parseSnapshotKey(key) !== null) continue;
      assert(v1.parts(key), `${what}: ${key} is not a format-1 entry`);
      entries++;
    }
    return entries;
  });
}

/** `trunks check` finds nothing and a fresh clone has `main` at `want`, fsck clean. */
async function valid(e: Env, url: string, want: string, what: string): Promise<void> {
  const r = await run(e, "trunks", ["check", url, "--json"]);
  const report = JSON.parse(r.stdout);
  assertEquals(report.problems, [], `${what}: trunks check found problems`);
  assertEquals(report.notes ?? [], [], `${what}: trunks check noted keys`);
  const dir = `${await Deno.makeTempDir()}/c`;
  await ok(e, "git", ["clone", "-q", `trunks::${url}`, dir]);
  assertEquals((await git(e, dir, "rev-parse", "main")).trim(), want, `${what}: main`);
  await git(e, dir, "fsck", "--strict", "--no-dangling");
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name: "format 1: a trunk made before format 2 is read and written in its own nested shape",
  ...opts,
  fn: async (t) => {
    const e = await makeEnv({ ...local.env, TRUNKS_AUTO_MAINTENANCE: "0" });
    const url = await trunkUrl(local, "format1");
    const remote = `trunks::${url}`;
    const trunkJson = await format1Trunk(url, { leaseSeconds: 1 });
    const a = await newRepo(e, "a");
    await git(e, a, "remote", "add", "origin", remote);

    await t.step("push, clone, fetch", async () => {
      await git(e, a, "push", "-q", "origin", "main");
      const b = `${await Deno.makeTempDir()}/b`;
      await ok(e, "git", ["clone", "-q", remote, b]);
      await commitFile(e, a, "two.txt", "two\n");
      await git(e, a, "push", "-q", "origin", "main");
      await git(e, b, "fetch", "-q", "origin");
      assertEquals(
        (await git(e, b, "rev-parse", "origin/main")).trim(),
        (await git(e, a, "rev-parse", "main")).trim(),
      );
      assertEquals(await nestedOnly(url, "after push"), 3, "HEAD, main's two entries");
    });

    await t.step("racing pushes to one branch: one wins, the others fetch first", async () => {
      const racers = await Promise.all([0, 1, 2, 3].map(async (i) => {
        const d = `${await Deno.makeTempDir()}/r${i}`;
        await ok(e, "git", ["clone", "-q", remote, d]);
        await commitFile(e, d, `r${i}.txt`, `racer ${i}\n`);
        return d;
      }));
      const results = await Promise.all(
        racers.map((d) => run(e, "git", ["push", "origin", "main"], { cwd: d })),
      );
      assertEquals(results.filter((r) => r.code === 0).length, 1, "exactly one racer wins");
      for (const r of results.filter((r) => r.code !== 0)) assertMatch(r.stderr, /fetch first/);
      await git(e, a, "pull", "-q", "--rebase", "origin", "main");
    });

    await t.step("automatic maintenance writes a snapshot; a clone reads it", async () => {
      for (let i = 0; i < 60; i++) await git(e, a, "branch", `b${i}`);
      const r = await run(e, "git", ["push", "-q", "origin", "--all"], {
        cwd: a,
        env: { TRUNKS_AUTO_MAINTENANCE: "wait" },
      });
      assertEquals(r.code, 0, r.stderr);
      await withStore(url, async (s) => {
        assertEquals((await s.list(SNAPSHOT_PREFIX)).length, 1, "the step wrote a snapshot");
      });
      await valid(e, url, (await git(e, a, "rev-parse", "main")).trim(), "after the snapshot");
    });

    await t.step("pruning archives superseded entries; log and check see everything", async () => {
      for (let i = 0; i < 3; i++) {
        await commitFile(e, a, `p${i}.txt`, `${i}\n`);
        await git(e, a, "push", "-q", "origin", "main");
      }
      await sleep(2100); // two leases of one second
      await ok(e, "trunks", ["maintenance", url]);
      await withStore(url, async (store) => {
        assert((await store.list(REFLOG_PREFIX)).length >= 1, "an archive was written");
        const meta = (await readMeta(store))!;
        assertEquals(meta.format, 1);
        const state = await readRefState(store, new MemoryCache(), meta);
        assertEquals(state.superseded, 0, "every superseded entry was pruned");
        assertEquals(state.latest.get("refs/heads/main")!.seq, 6);
      });
      const log = JSON.parse(await ok(e, "trunks", ["log", "main", "--trunk", url, "--json"]));
      assertEquals(log.map((x: { seq: number }) => x.seq), [1, 2, 3, 4, 5, 6]);
      assert(log[0].archived && !log[5].archived);
      const head = (await git(e, a, "rev-parse", "main")).trim();
      assertEquals(log[5].new, head);
      await valid(e, url, head, "after pruning");
      // HEAD, main's tail and the 60 branches: nested, as format 1 writes them.
      assertEquals(await nestedOnly(url, "after pruning"), 62);
      await withStore(url, async (store) => {
        assertEquals(await getBytes(store, TRUNK_JSON), trunkJson, "trunk.json is untouched");
      });
    });
  },
});
