/**
 * Maintenance through the real CLI and git, on local disk: killed (SIGKILL) at every
 * step, the trunk stays valid (trunks check, a fresh clone with fsck --strict), and
 * the next run finishes the job; a push past the threshold starts it in the background;
 * `trunks log` keeps the whole history after pruning; a pushed-behind writer whose base
 * was pruned is refused as git would, then pushes after fetching.
 */
import { assert, assertEquals } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import type { Store } from "../../src/storage/store.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { FORMAT, REFLOG_PREFIX, SNAPSHOT_PREFIX, TRUNK_JSON } from "../../src/trunk/layout.ts";
import { seal } from "../../src/trunk/seal.ts";
import { MAINTENANCE_FAULT_POINTS } from "../../src/trunk/faults.ts";
import { readRefState } from "../../src/trunk/refs.ts";
import { readMeta } from "../../src/trunk/meta.ts";
import { listSegmentKeys } from "../../src/trunk/replaces.ts";
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

/** A trunk whose lease is one second, so two leases pass within a test. */
async function shortLeaseTrunk(url: string): Promise<void> {
  const store = await openStore(url, local.settings);
  try {
    const meta = seal({
      format: FORMAT,
      id: crypto.randomUUID(),
      objectFormat: "sha1",
      created: new Date().toISOString(),
      generator: "trunks test",
      leaseSeconds: 1,
    });
    assert(await store.create(TRUNK_JSON, new TextEncoder().encode(JSON.stringify(meta))));
  } finally {
    await store.close();
  }
}

async function withStore<T>(url: string, fn: (s: Store) => Promise<T>): Promise<T> {
  const store = await openStore(url, local.settings);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** `trunks check` passes and a fresh clone has `main` at `want`, fsck --strict clean. */
async function valid(e: Env, url: string, want: string, what: string): Promise<void> {
  const r = await run(e, "trunks", ["check", url, "--json"]);
  const report = JSON.parse(r.stdout);
  assertEquals(report.problems, [], `${what}: trunks check found problems`);
  const dir = `${await Deno.makeTempDir()}/c`;
  await ok(e, "git", ["clone", "-q", `trunks::${url}`, dir]);
  assertEquals((await git(e, dir, "rev-parse", "main")).trim(), want, `${what}: main`);
  await git(e, dir, "fsck", "--strict", "--no-dangling");
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name: "maintenance killed at every step leaves a valid trunk; the next run finishes",
  ...opts,
  fn: async (t) => {
    const e = await makeEnv(local.env);
    const url = await trunkUrl(local, "maint");
    await shortLeaseTrunk(url);
    const a = await newRepo(e, "a");
    await git(e, a, "remote", "add", "origin", `trunks::${url}`);
    for (let i = 0; i < 12; i++) {
      await commitFile(e, a, `f${i}.txt`, `${i}\n`);
      await git(e, a, "push", "-q", "origin", "main");
    }
    const head = (await git(e, a, "rev-parse", "main")).trim();
    await sleep(2100); // every superseded entry is now two leases old

    const kill = async (point: string) => {
      const r = await run(e, "trunks", ["maintenance", url], { env: { TRUNKS_FAULT: point } });
      // 128 + SIGKILL: killed at the point, not failed for another reason.
      assertEquals(r.code, 137, `${point}: maintenance should have been killed:\n${r.stderr}`);
      await valid(e, url, head, point);
    };
    for (const point of Object.keys(MAINTENANCE_FAULT_POINTS)) {
      // Replaced segments go two leases after their replacement (the merge of a step
      // before), not after their own upload: wait that long before the deleting step.
      if (point === "maint:between-deletes") await sleep(2100);
      await t.step(point, () => kill(point));
    }

    await t.step("a full run finishes the job", async () => {
      await ok(e, "trunks", ["maintenance", url]);
      await valid(e, url, head, "after maintenance");
      await withStore(url, async (store) => {
        const meta = (await readMeta(store))!;
        const state = await readRefState(store, new MemoryCache(), meta);
        assertEquals(state.entryCount, 2, "main's tail and HEAD are all that is live");
        const segs = await listSegmentKeys(store);
        assertEquals(segs.complete.length, 1, "12 small segments merged, the replaced deleted");
        assert((await store.list(SNAPSHOT_PREFIX)).length >= 1);
        assert((await store.list(REFLOG_PREFIX)).length >= 1);
      });
      // The audit trail still has every push, each once.
      const log = JSON.parse(await ok(e, "trunks", ["log", "main", "--trunk", url, "--json"]));
      assertEquals(log.length, 12);
      assertEquals(log.map((x: { seq: number }) => x.seq), [...Array(12).keys()].map((i) => i + 1));
      assertEquals(log[11].new, head);
      assert(log[0].archived && !log[11].archived);
      const text = await ok(e, "trunks", ["log", "--trunk", url]);
      assert(
        /refs\/heads\/main {2}\(none\) -> [0-9a-f]{12} {2}\S+@\S+ {2}#1 {2}archived/.test(text),
        text,
      );
      // Pushing on keeps working after all of it.
      await commitFile(e, a, "after.txt", "after\n");
      await git(e, a, "push", "-q", "origin", "main");
      await valid(e, url, (await git(e, a, "rev-parse", "main")).trim(), "push after");
    });
  },
});

Deno.test({
  name: "a writer whose base was pruned: refused as git would, pushes after a fetch",
  ...opts,
  fn: async () => {
    const e = await makeEnv(local.env);
    const url = await trunkUrl(local, "stale");
    await shortLeaseTrunk(url);
    const a = await newRepo(e, "a");
    await git(e, a, "remote", "add", "origin", `trunks::${url}`);
    await git(e, a, "push", "-q", "origin", "main");
    const b = `${await Deno.makeTempDir()}/b`;
    await ok(e, "git", ["clone", "-q", `trunks::${url}`, b]);
    for (let i = 0; i < 4; i++) {
      await commitFile(e, a, `a${i}.txt`, `${i}\n`);
      await git(e, a, "push", "-q", "origin", "main");
    }
    await sleep(2100);
    await ok(e, "trunks", ["maintenance", url]);
    // b's cached base (seq 1) is gone from the store; its push must not pretend.
    await commitFile(e, b, "b.txt", "b\n");
    const refused = await run(e, "git", ["push", "origin", "main"], { cwd: b });
    assert(refused.code !== 0, "a push from behind must be refused");
    assert(/fetch first|non-fast-forward|rejected/.test(refused.stderr), refused.stderr);
    await git(e, b, "pull", "-q", "--rebase", "origin", "main");
    await git(e, b, "push", "-q", "origin", "main");
    await valid(e, url, (await git(e, b, "rev-parse", "main")).trim(), "after b's push");
  },
});

Deno.test({
  name: "a push past the threshold starts maintenance in the background; =0 does not",
  ...opts,
  fn: async () => {
    const e = await makeEnv({ ...local.env, TRUNKS_AUTO_MAINTENANCE: "1" });
    const url = await trunkUrl(local, "auto");
    const a = await newRepo(e, "a");
    for (let i = 0; i < 60; i++) await git(e, a, "branch", `b${i}`);
    await git(e, a, "push", "-q", `trunks::${url}`, "--all");
    let snapshots = 0;
    for (let i = 0; i < 150 && snapshots === 0; i++) {
      await sleep(200);
      snapshots = await withStore(url, async (s) => (await s.list(SNAPSHOT_PREFIX)).length);
    }
    assertEquals(snapshots, 1, "the background step wrote a snapshot");
    // Off: another trunk pushed the same way gets none.
    const url2 = await trunkUrl(local, "manual");
    const r = await run(e, "git", ["push", "-q", `trunks::${url2}`, "--all"], {
      cwd: a,
      env: { TRUNKS_AUTO_MAINTENANCE: "0" },
    });
    assertEquals(r.code, 0, r.stderr);
    await sleep(1500);
    assertEquals(await withStore(url2, async (s) => (await s.list(SNAPSHOT_PREFIX)).length), 0);
  },
});
