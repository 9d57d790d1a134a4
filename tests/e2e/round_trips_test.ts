/**
 * Issue 19's budget for a one-commit push through git and the remote helper, on every
 * backend under test: at most 5 store operations in at most 3 sequential round trips
 * (`TRUNKS_DEBUG_REQUESTS=1`: the helper's own count of Store operations and their rounds).
 * The 5: the storage map's LIST and the refs' LIST (at once), the segment's pack and index
 * (at once), the entry. No GET of the base entry (the listing vouches for the cached copy:
 * the stamp this client recorded when it created or read it) and no GC guard LIST (the
 * push is well within half the lease of its listing). SFTP's create cannot report the stamp
 * (one more request would): there the base entry is read again. The library's count, on a store
 * that delays every operation, is tests/unit/round_trips_test.ts.
 */
import { assert, assertEquals } from "../assert.ts";
import { commitFile, e2eBackends, git, makeEnv, newRepo, ok, run, trunkUrl } from "./harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

interface Counted {
  ops: Record<string, number>;
  total: number;
  rounds: number;
}

/** The store operations and rounds every `trunks-requests` line of a command reported. */
function storeOps(stderr: string): Counted {
  const out: Counted = { ops: {}, total: 0, rounds: 0 };
  let found = false;
  for (const m of stderr.matchAll(/^trunks-requests \S+ (.*)$/gm)) {
    found = true;
    const j = JSON.parse(m[1]) as { requests: Record<string, number>; rounds?: number };
    out.rounds += j.rounds ?? 0;
    for (const [k, v] of Object.entries(j.requests)) {
      if (!k.startsWith("store.")) continue;
      out.ops[k.slice(6)] = (out.ops[k.slice(6)] ?? 0) + v;
      out.total += v;
    }
  }
  assert(found, `no trunks-requests line:\n${stderr}`);
  return out;
}

for (const backend of e2eBackends()) {
  Deno.test({
    name: `e2e ${backend.name}: a one-commit push is ≤ 5 store operations in ≤ 3 round trips`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(backend.env);
      const remote = `trunks::${await trunkUrl(backend, "rt")}`;
      const unstamped = backend.name === "sftp";
      const a = await newRepo(e, "a");
      await git(e, a, "push", "-q", remote, "main");
      const counted = async (dir: string, what: string) => {
        const r = await run(e, "git", ["push", "-q", remote, "main"], {
          cwd: dir,
          env: { TRUNKS_DEBUG_REQUESTS: "1" },
        });
        assertEquals(r.code, 0, r.stderr);
        const c = storeOps(r.stderr);
        const seen = `${what}: ${JSON.stringify(c)}`;
        if (unstamped) {
          // SFTP's create reports no stamp and its listed times are whole seconds: the
          // entries it created (the base, HEAD's) or cannot vouch for are read again.
          const { get, ...rest } = c.ops;
          assertEquals(rest, { create: 1, list: 2, put: 2 }, seen);
          assert(get >= 1 && get <= 2, seen);
          return;
        }
        assertEquals(c.ops, { create: 1, list: 2, put: 2 }, seen);
        assert(c.total <= 5 && c.rounds <= 3, seen);
      };
      // Building on the entry this client created (its stamp came with the create).
      await commitFile(e, a, "a.txt", "one\n");
      await counted(a, "push after a push");
      await commitFile(e, a, "a.txt", "two\n");
      await counted(a, "second push after a push");
      // Building on entries a clone read (their stamps came with its listing).
      const b = `${await Deno.makeTempDir()}/b`;
      await ok(e, "git", ["clone", "-q", remote, b]);
      await commitFile(e, b, "b.txt", "from b\n");
      await counted(b, "push after a clone");
      // And the first client, whose cached base is now another writer's: read once.
      await git(e, a, "pull", "-q", "--no-rebase", remote, "main");
      await commitFile(e, a, "a.txt", "three\n");
      await counted(a, "push after a pull");
    },
  });
}

// A fresh clone (a new sandbox picking up the work) sends trunk.json's read and its plan's
// listings (segments/, blobs/) beside its first listings: the listings, then the entries and
// the segment at once, 2 rounds where each request waits on the network
// (clone_plan_listing_test.ts, MinIO at 40 ms a request). On loopback an entry's read can be
// answered before the segment's is sent, which chains them: at most 3 here. (Local disk
// answers within the call: its operations chain without waiting on anything.)
for (const backend of e2eBackends().filter((b) => b.name !== "local")) {
  Deno.test({
    name:
      `e2e ${backend.name}: a fresh clone is ≤ 3 round trips on loopback (its reads beside the listings)`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(backend.env);
      const remote = `trunks::${await trunkUrl(backend, "fresh")}`;
      const a = await newRepo(e, "a");
      await git(e, a, "push", "-q", remote, "main");
      const b = `${await Deno.makeTempDir()}/b`;
      const r = await run(e, "git", ["clone", "-q", remote, b], {
        env: { TRUNKS_DEBUG_REQUESTS: "1" },
      });
      assertEquals(r.code, 0, r.stderr);
      const c = storeOps(r.stderr);
      assert(c.rounds <= 3, `fresh clone: ${JSON.stringify(c)}`);
      assertEquals(await Deno.readTextFile(`${b}/README.md`), "hello\n");
    },
  });
}

// The first push, which creates the trunk: trunk.json is read once (beside the first
// listings: its absence is not asked again before the create), the create-exclusive probe
// is two creates and a DELETE that goes out beside trunk.json's create, and a trunk this
// push created exclusively is not listed or read again before its entries (each created
// exclusively all the same). Then the segment's pack and index, HEAD's entry and main's:
// 11 operations in 7 rounds (the entries chain: HEAD's names main's).
for (const backend of e2eBackends()) {
  Deno.test({
    name: `e2e ${backend.name}: a first push reads trunk.json once and lists refs/ once`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(backend.env);
      const remote = `trunks::${await trunkUrl(backend, "first")}`;
      const a = await newRepo(e, "a");
      const r = await run(e, "git", ["push", "-q", remote, "main"], {
        cwd: a,
        env: { TRUNKS_DEBUG_REQUESTS: "1" },
      });
      assertEquals(r.code, 0, r.stderr);
      const c = storeOps(r.stderr);
      const seen = JSON.stringify(c);
      // Before: 3 GETs of trunk.json, 3 LISTs, 11 rounds.
      assertEquals(c.ops, { create: 5, delete: 1, get: 1, list: 2, put: 2 }, seen);
      assert(c.rounds <= 7, seen);
    },
  });
}
