/**
 * The large-blob handshake (reuse_guard.ts) measures two spans on this machine's clock: a
 * push, the time between its listing of `blobs/` and its touch (to tell whether a clean
 * finished since); a clean, its budget (after which pushes stop waiting for its marker).
 * Both were wall-clock spans. A clock stepped back hours (NTP, a resumed VM) during a push
 * made a clean that finished meanwhile look older than the push's listing: a manifest it
 * deleted stayed counted as stored, and the push was acknowledged naming it. And a clean
 * kept deleting past its budget.
 *
 * Interleaving (lease 1 s, grace 2 s): a large file pushed on `tmp`, `tmp` deleted, two
 * leases pass (the manifest is garbage); a push of the same file on `main` lists `blobs/`
 * (the manifest is there: reused), a clean deletes the manifest and finishes, the wall
 * clock steps back three hours, the push claims what it reused.
 */
import { assert, assertEquals } from "../assert.ts";
import { Trunk as Library } from "../../src/sdk/trunk.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { openStore } from "../../src/storage/registry.ts";
import type { Store } from "../../src/storage/store.ts";
import { checkTrunk } from "../../src/trunk/check.ts";
import { cleanTrunk } from "../../src/trunk/gc.ts";
import { beginCleaning, CLEAN_BUDGET_MS } from "../../src/trunk/reuse_guard.ts";
import { withProcessEnv } from "../../harness/process_env.ts";
import { e2eBackends, git, makeEnv, newRepo, trunkUrl } from "../e2e/harness.ts";
import { opts } from "./lib.ts";
import { GRACE_MS, LEASE_S, randomBytes, sleep } from "./repush_scene.ts";

const HOUR = 3600_000;
const local = e2eBackends().find((b) => b.name === "local")!;

/** `store`, running `hook` once, right after its first listing of `prefix`. */
function afterFirstList(store: Store, prefix: string, hook: () => Promise<void>): Store {
  let armed = true;
  return new Proxy(store, {
    get(target, prop) {
      if (prop === "list") {
        return async (...args: Parameters<Store["list"]>) => {
          const out = await target.list(...args);
          if (armed && args[0] === prefix) {
            armed = false;
            await hook();
          }
          return out;
        };
      }
      const v = Reflect.get(target, prop);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

Deno.test({
  name: "reuse guard: a clean that finished during a push is seen when the wall clock stepped back",
  ...opts,
  fn: () =>
    withProcessEnv(
      { TRUNKS_LARGE_BLOB_THRESHOLD: "64k", TRUNKS_AUTO_MAINTENANCE: "0" },
      async () => {
        const e = await makeEnv({ ...local.env });
        const url = await trunkUrl(local, "reuse-clock-step");
        const inner = await openStore(url, local.settings);
        const work = await Deno.makeTempDir({ prefix: "trunks-reuse-step-" });
        const wallClock = Date.now;
        const big = randomBytes(200_000);
        try {
          {
            await using a = await Library.open({
              store: inner,
              writer: "a",
              create: true,
              leaseSeconds: LEASE_S,
            });
            a.write("a.txt", "a\n");
            await a.commit({ message: "small file", branch: "main" });
            a.write("big.bin", big);
            await a.commit({ message: "large file", branch: "tmp", from: "main" });
            await a.push();
          }
          const repo = await newRepo(e, "d");
          await git(e, repo, "push", "-q", `trunks::${url}`, ":refs/heads/tmp");
          await sleep(GRACE_MS + 300);
          let deleted = 0;
          const store = afterFirstList(inner, "blobs/", async () => {
            const { inventory } = await checkTrunk(inner, { workDir: work });
            deleted = (await cleanTrunk(inner, inventory!, { graceMs: GRACE_MS, workDir: work }))
              .deleted.manifests;
            Date.now = () => wallClock() - 3 * HOUR;
          });
          await using w = await Library.open({ store, writer: "w" });
          w.write("big.bin", big);
          await w.commit({ message: "the large file again", branch: "main" });
          await w.push();
          Date.now = wallClock;
          assert(deleted > 0, "the clean deleted no manifest");
          const { report } = await checkTrunk(inner, { workDir: `${work}/after` });
          assertEquals(report.problems, [], "the push was acknowledged naming a deleted manifest");
        } finally {
          Date.now = wallClock;
          await inner.close();
          await Deno.remove(work, { recursive: true });
        }
      },
    ),
});

Deno.test("reuse guard: a clean's budget ends on time when the wall clock stepped back", async () => {
  const s = MemoryStore.named(`reuse-budget-${crypto.randomUUID()}`);
  const clean = await beginCleaning(s, () => true);
  const wallClock = Date.now;
  const monotonic = performance.now;
  const at = monotonic.call(performance);
  Date.now = () => wallClock() - 3 * HOUR;
  performance.now = () => at + CLEAN_BUDGET_MS;
  try {
    assert(!clean.inTime(), "still deleting past its budget");
  } finally {
    Date.now = wallClock;
    performance.now = monotonic;
    await clean.finish(false);
  }
});

Deno.test("reuse guard: a clean's budget ends on time when the machine was suspended", async () => {
  const s = MemoryStore.named(`reuse-suspend-${crypto.randomUUID()}`);
  const clean = await beginCleaning(s, () => true);
  const wallClock = Date.now;
  const monotonic = performance.now;
  const at = monotonic.call(performance);
  // Asleep past the budget: the wall clock, set right on resume, counts it; the monotonic
  // clock (CLOCK_MONOTONIC on Linux) does not.
  Date.now = () => wallClock() + CLEAN_BUDGET_MS;
  performance.now = () => at;
  try {
    assert(!clean.inTime(), "still deleting past its budget");
  } finally {
    Date.now = wallClock;
    performance.now = monotonic;
    await clean.finish(false);
  }
});
