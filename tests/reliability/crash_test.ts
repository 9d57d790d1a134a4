/**
 * kill -9 at every fault point of a push and of a fetch (src/trunk/faults.ts), on
 * local disk and MinIO. After each crash: the trunk verifies clean, every ref is its old
 * or its new value and names only complete segments, nothing half-written is visible,
 * the local repository passes fsck, and simply running the command again succeeds.
 */
import { FAULT_POINTS } from "../../src/trunk/faults.ts";
import { assert, assertEquals } from "../assert.ts";
import { commitFile, type Env, git, makeEnv, newRepo, ok, run, trunkUrl } from "../e2e/harness.ts";
import { allBackends, openTrunkStore, verifyTrunk } from "./lib.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const covered = new Set<string>();

/** Every pack git can see has its index: nothing half-installed. */
function assertNoHalfPacks(dir: string) {
  const names = [...Deno.readDirSync(`${dir}/.git/objects/pack`)].map((f) => f.name);
  for (const n of names.filter((n) => n.startsWith("pack-") && n.endsWith(".pack"))) {
    assert(names.includes(n.replace(/\.pack$/, ".idx")), `${n} has no index`);
  }
}

async function freshClone(e: Env, remote: string): Promise<string> {
  const c = `${await Deno.makeTempDir({ prefix: "trunks-clone-" })}/c`;
  await ok(e, "git", ["clone", "-q", remote, c]);
  await git(e, c, "fsck", "--strict", "--no-dangling");
  return c;
}

for (const b of allBackends()) {
  Deno.test({
    name: `crash ${b.name}: kill -9 at every push point; refs old or new, retry succeeds`,
    ...opts,
    fn: async (t) => {
      const points = Object.keys(FAULT_POINTS).filter((p) => p.startsWith("push:"));
      for (const point of points) {
        await t.step(point, async () => {
          const e = await makeEnv(b.env);
          const url = await trunkUrl(b, "app");
          const remote = `trunks::${url}`;
          const a = await newRepo(e, "a");
          // A new trunk's HEAD is chosen by its first push; the other points update one.
          const fresh = point === "push:before-head";
          if (!fresh) await git(e, a, "push", "-q", remote, "main");
          const oldMain = fresh ? undefined : (await git(e, a, "rev-parse", "main")).trim();
          await commitFile(e, a, "k.txt", `${point}\n`);
          await git(e, a, "branch", "feat");
          const next = (await git(e, a, "rev-parse", "main")).trim();

          const died = await run(e, "git", ["push", remote, "main", "feat"], {
            cwd: a,
            env: { TRUNKS_FAULT: point },
          });
          assert(died.code !== 0, `${point}: the push should have died:\n${died.stderr}`);
          covered.add(point);

          const store = await openTrunkStore(b, url);
          try {
            const after = await verifyTrunk(store).catch((err) => {
              // Killed before trunk.json existed: nothing at all may be visible.
              if (fresh && /no trunk\.json/.test(String(err))) return null;
              throw err;
            });
            if (after) {
              for (const ref of ["refs/heads/main", "refs/heads/feat"]) {
                const v = after.refs.get(ref);
                const old = ref === "refs/heads/main" ? oldMain : undefined;
                assert(v === old || v === next, `${point}: ${ref} is ${v}, neither old nor new`);
              }
              if (point === "push:after-refs") {
                assertEquals(after.refs.get("refs/heads/main"), next);
              }
              if (point === "push:after-ref") {
                // Killed right after one ref moved: that one is new, the other either.
                const moved = ["refs/heads/main", "refs/heads/feat"].filter((r) =>
                  after.refs.get(r) === next
                );
                assert(moved.length >= 1, `${point}: no ref moved`);
              }
              if (point === "push:between-refs" || point.startsWith("push:after-seg")) {
                assertEquals(after.refs.get("refs/heads/main"), oldMain);
                assertEquals(after.refs.get("refs/heads/feat"), undefined);
              }
            }

            // Running it again finishes the job.
            await ok(e, "git", ["push", "-q", remote, "main", "feat"], { cwd: a });
            const done = await verifyTrunk(store);
            assertEquals(done.refs.get("refs/heads/main"), next);
            assertEquals(done.refs.get("refs/heads/feat"), next);
            const c = await freshClone(e, remote);
            assertEquals((await git(e, c, "rev-parse", "HEAD")).trim(), next);
            assertEquals((await git(e, c, "rev-parse", "origin/feat")).trim(), next);
            await git(e, a, "fsck", "--strict", "--no-dangling");
            if (fresh) {
              // HEAD was never recorded; clones show main. A later push of another
              // branch, from a repository on that branch, must not move what clones see.
              await git(e, a, "checkout", "-q", "-b", "zz-topic");
              await commitFile(e, a, "t.txt", "topic\n");
              await git(e, a, "push", "-q", remote, "zz-topic");
              const c2 = await freshClone(e, remote);
              assertEquals(
                (await git(e, c2, "symbolic-ref", "HEAD")).trim(),
                "refs/heads/main",
                "HEAD stays what clones already saw",
              );
            }
          } finally {
            await store.close();
          }
        });
      }
    },
  });

  Deno.test({
    name: `crash ${b.name}: kill -9 at every fetch point; nothing half-installed, retry completes`,
    ...opts,
    fn: async (t) => {
      for (const point of Object.keys(FAULT_POINTS).filter((p) => p.startsWith("fetch:"))) {
        await t.step(point, async () => {
          const e = await makeEnv(b.env);
          const url = await trunkUrl(b, "app");
          const remote = `trunks::${url}`;
          const a = await newRepo(e, "a");
          await git(e, a, "push", "-q", remote, "main");
          const bdir = `${await Deno.makeTempDir()}/b`;
          await ok(e, "git", ["clone", "-q", remote, bdir]);
          const before = (await git(e, bdir, "rev-parse", "origin/main")).trim();
          await commitFile(e, a, "f.txt", `${point}\n`);
          await git(e, a, "push", "-q", remote, "main");
          const next = (await git(e, a, "rev-parse", "main")).trim();

          const died = await run(e, "git", ["fetch", "origin"], {
            cwd: bdir,
            env: { TRUNKS_FAULT: point },
          });
          assert(died.code !== 0, `${point}: the fetch should have died:\n${died.stderr}`);
          covered.add(point);
          assertEquals((await git(e, bdir, "rev-parse", "origin/main")).trim(), before);
          assertNoHalfPacks(bdir);
          await git(e, bdir, "fsck", "--strict", "--no-dangling");

          await git(e, bdir, "fetch", "-q", "origin");
          assertEquals((await git(e, bdir, "rev-parse", "origin/main")).trim(), next);
          assertNoHalfPacks(bdir);
          await git(e, bdir, "fsck", "--strict", "--no-dangling");

          // A clone killed at the same point leaves nothing; cloning again works.
          const cdir = `${await Deno.makeTempDir()}/c`;
          const clone = await run(e, "git", ["clone", "-q", remote, cdir], {
            env: { TRUNKS_FAULT: point },
          });
          assert(clone.code !== 0, `${point}: the clone should have died`);
          await ok(e, "git", ["clone", "-q", remote, cdir]);
          assertEquals((await git(e, cdir, "rev-parse", "HEAD")).trim(), next);
          await git(e, cdir, "fsck", "--strict", "--no-dangling");
        });
      }
    },
  });
}

Deno.test({
  name: "crash: every fault point in src/trunk/faults.ts is exercised",
  ...opts,
  // Runs after the crash tests of this file (tests in a file run in order).
  fn: () => {
    if (allBackends().length === 0) return;
    assertEquals([...covered].sort(), Object.keys(FAULT_POINTS).sort());
  },
});
