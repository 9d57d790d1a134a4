/**
 * The push's GC guard asks whether a clean ran since the push read the trunk's state by
 * comparing the sidecars' listed times, the store's stamps, with that moment on this
 * machine's clock. A store whose clock is behind by more than the skew it allowed (ten
 * minutes) made every clean look older than the push: the guard skipped its check, and a
 * slow push whose base two cleans collected meanwhile moved its ref onto history that was
 * gone, acknowledged.
 *
 * Interleaving (lease 1 s, grace 2 s): the library reads the state (main at a1) and starts
 * its push of `feature` on a1 with a large blob; while the blob uploads (before its
 * segment, so the lease's upload bound does not apply), main is force-moved to an
 * unrelated history, a clean past the grace compacts without a1, and a clean past the
 * grace again deletes the replaced segments. The push then stores its segment (a1 left
 * out: the trunk held it) and must find its base gone.
 */
import { assert } from "../assert.ts";
import { Trunk as Library } from "../../src/sdk/trunk.ts";
import { openStore } from "../../src/storage/registry.ts";
import type { ListEntry, ListOptions, Store } from "../../src/storage/store.ts";
import { checkTrunk } from "../../src/trunk/check.ts";
import { cleanTrunk } from "../../src/trunk/gc.ts";
import { withProcessEnv } from "../../harness/process_env.ts";
import { commitFile, e2eBackends, git } from "../e2e/harness.ts";
import { PassThroughStore } from "../pass_through_store.ts";
import { assertRefusedOnCollectedBase, opts, setup } from "./lib.ts";
import { afterFirstPut, GRACE_MS, LEASE_S, randomBytes, sleep } from "./repush_scene.ts";

const HOUR = 3600_000;
const local = e2eBackends().find((b) => b.name === "local")!;

/** The store's clock `behindMs` behind this machine's: every listed time is that much earlier. */
class BehindStore extends PassThroughStore {
  constructor(inner: Store, readonly behindMs: number) {
    super(inner);
  }
  override async list(prefix: string, after?: string, opts?: ListOptions): Promise<ListEntry[]> {
    return (await this.inner.list(prefix, after, opts)).map((e) => ({
      ...e,
      modified: new Date(e.modified.getTime() - this.behindMs),
    }));
  }
}

/**
 * The interleaving above, the push's listings seen through `view`; `stepBack` (ms): this
 * machine's wall clock runs that much ahead from the push's read until the race, then is
 * set right.
 */
function slowPushScene(name: string, view: (s: Store) => Store, stepBack = 0) {
  Deno.test({
    name,
    ...opts,
    fn: () =>
      withProcessEnv({ TRUNKS_LARGE_BLOB_THRESHOLD: "64k" }, async () => {
        const s = await setup(local, "guardskew", LEASE_S);
        await commitFile(s.e, s.a, "x.txt", "x\n");
        await git(s.e, s.a, "push", "-q", "origin", "main");
        const inner = await openStore(s.url, local.settings);
        const work = await Deno.makeTempDir({ prefix: "trunks-guardskew-" });
        let deleted = 0;
        const clean = async (n: number) => {
          const { inventory } = await checkTrunk(inner, { workDir: `${work}/${n}` });
          const r = await cleanTrunk(inner, inventory!, {
            graceMs: GRACE_MS,
            workDir: `${work}/${n}`,
          });
          deleted += r.deleted.segments.length;
        };
        const wallClock = Date.now;
        const raced = afterFirstPut(inner, (key) => key.startsWith("chunks/"), async () => {
          Date.now = wallClock;
          await git(s.e, s.a, "checkout", "-q", "--orphan", "fresh");
          await commitFile(s.e, s.a, "y.txt", "y\n", "unrelated");
          await git(s.e, s.a, "push", "-q", "-f", "origin", "fresh:refs/heads/main");
          await sleep(GRACE_MS + 300);
          await clean(1);
          await sleep(GRACE_MS + 300);
          await clean(2);
        });
        try {
          if (stepBack) Date.now = () => wallClock() + stepBack;
          await using t = await Library.open({ store: view(raced), writer: "lib" });
          t.write("big.bin", randomBytes(100_000));
          await t.commit({ message: "on the old main", branch: "feature", from: "main" });
          const pushed = await t.push().then(() => null, (e: Error) => e);
          assert(deleted > 0, "the cleans deleted no segment");
          await assertRefusedOnCollectedBase(pushed, s, inner, `${work}/after`);
        } finally {
          Date.now = wallClock;
          await inner.close();
          await Deno.remove(work, { recursive: true });
        }
      }),
  });
}

slowPushScene(
  "guard: a store clock hours behind still shows a slow push the clean that took its base",
  (s) => new BehindStore(s, 3 * HOUR),
);
slowPushScene(
  "guard: a wall clock set back hours during a slow push still shows it the clean that took its base",
  (s) => s,
  3 * HOUR,
);
