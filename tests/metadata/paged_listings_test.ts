/**
 * Metadata that stays small, on every real server, with listings that span several pages
 * (S3/MinIO, GCS and PostgreSQL: 1,000 keys a page; SFTP: OpenSSH's readdir answers ~100
 * names at a time). Until these tests it was checked on local disk and memory only.
 *
 * - Many refs: a push of 1,000 ref entries (200 on Azurite) puts the snapshot key (`~` sorts after every
 *   ref) first on the second page; moving every ref again and pruning puts the snapshots
 *   at the page edges once more. Clones and fetches see every ref at its commit, an
 *   up-to-date fetch is one LIST, `trunks log` keeps the pruned history, and a push racing
 *   maintenance is kept.
 * - Many pushes: 512 one-commit pushes by four library writers (no git) make `segments/`
 *   span two pages (MinIO, PostgreSQL; 60 pushes elsewhere) and each branch's log 128
 *   entries long; maintenance merges, snapshots and prunes them into an audit archive
 *   written after a page of older ones (1,005 archives on MinIO and PostgreSQL), and
 *   `trunks log` reads them all.
 * - Listings are in byte order, and `list(prefix, startAfter)` after the keys at a page
 *   edge, a marker between them, and the last key equals the full listing's tail.
 *
 * Azurite's page is 5,000 keys: its paging is checked with small pages in
 * tests/storage/azure_test.ts; here its listings fit one page.
 */
import { assert, assertEquals } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import { getBytes, type Store } from "../../src/storage/store.ts";
import { mapLimit } from "../../src/trunk/pool.ts";
import { seal } from "../../src/trunk/seal.ts";
import {
  parseReflogKey,
  parseSnapshotKey,
  REFLOG_PREFIX,
  reflogKey,
  REFS_PREFIX,
  SEGMENTS_PREFIX,
  TRUNK_JSON,
} from "../../src/trunk/layout.ts";
import { ConflictError, Trunk } from "../../mod.ts";
import {
  type Backend,
  e2eBackends,
  type Env,
  git,
  makeEnv,
  newRepo,
  ok,
  refList,
  run,
  trunkUrl,
} from "../e2e/harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const PAGE = 1000;
const ODD = ["refs/heads/A", "refs/heads/a-b", "refs/heads/a.b", "refs/heads/a_b", "refs/tags/Z"];
/**
 * Ref entries one push writes (branches, ODD, main, HEAD): one page. Azurite's page is
 * 5,000 (paged in tests/storage/azure_test.ts) and it is slow to write to: fewer there.
 */
const entriesOf = (b: Backend) => b.name === "azurite" ? 200 : PAGE;
const ALL = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/**
 * The many-refs test's lease: 1 s, short so that pruning comes soon. SFTP writes its 1,000
 * entries one round trip each, and on a loaded 2-core CI machine the push's last read of
 * the trunk was once more than 1 s old each time it came to create them: the push refused
 * itself (as it must past its lease), so SFTP gets 2 s.
 */
const leaseOf = (b: Backend) => b.name === "sftp" ? 2 : 1;
/**
 * Two leases and a little. Judged by the store's clock (prune.ts): one-second stamps
 * (SFTP, Azure) make the newest entries look up to a second older than the clock the
 * archive's stamp says, so they wait a second more.
 */
const twoLeases = (b: Backend, lease = 1) =>
  sleep(2000 * lease + (b.name === "sftp" || b.name === "azurite" ? 1100 : 100));

async function withStore<T>(b: Backend, url: string, fn: (s: Store) => Promise<T>): Promise<T> {
  const store = await openStore(url, b.settings);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** Request counts the helper printed (TRUNKS_DEBUG_REQUESTS=1), summed over its processes. */
function requests(stderr: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of stderr.split("\n")) {
    const m = /^trunks-requests \S+ (.*)$/.exec(l);
    if (!m) continue;
    for (const [k, n] of Object.entries(JSON.parse(m[1]).requests as Record<string, number>)) {
      out[k] = (out[k] ?? 0) + n;
    }
  }
  return out;
}

/**
 * The listing is in byte order (PostgreSQL: not its collation, which sorts `_` and `-`
 * elsewhere), and every listing after a key at the page edge, between two keys there, or
 * after the last is the full listing's tail: a marker misused, inclusive, or dropped with
 * the continuation token shows here.
 */
async function startAfterEdges(store: Store, prefix: string): Promise<string[]> {
  const all = (await store.list(prefix)).map((e) => e.key);
  assertEquals(all, [...all].sort((x, y) => x < y ? -1 : x > y ? 1 : 0), `${prefix} order`);
  const markers = [PAGE - 1, PAGE, all.length - 1].filter((i) => i >= 0 && i < all.length)
    .map((i) => ({ i, marker: all[i] }));
  if (all.length > PAGE) markers.push({ i: PAGE - 1, marker: all[PAGE - 1] + "-" });
  await Promise.all(markers.map(async ({ i, marker }) => {
    const after = (await store.list(prefix, marker)).map((e) => e.key);
    assertEquals(after, all.slice(i + 1), `${prefix} after #${i} ${marker}`);
  }));
  return all;
}

async function mirrorClone(e: Env, remote: string): Promise<string> {
  const dir = `${await Deno.makeTempDir()}/c`;
  await ok(e, "git", ["clone", "-q", "--mirror", remote, dir]);
  return dir;
}

for (const backend of e2eBackends()) {
  Deno.test({
    name: `${backend.name}: ${
      entriesOf(backend)
    } ref entries a push, snapshots at the page edges, prune, race`,
    ...opts,
    fn: async () => {
      const ENTRIES = entriesOf(backend);
      const BRANCHES = ENTRIES - 2 - ODD.length;
      const e = await makeEnv({
        ...backend.env,
        TRUNKS_AUTO_MAINTENANCE: "wait",
        TRUNKS_LEASE_SECONDS: String(leaseOf(backend)),
      });
      const url = await trunkUrl(backend, "paged");
      const remote = `trunks::${url}`;
      const a = await newRepo(e, "a");
      const moveAll = async (cmd: "create" | "update") => {
        const head = (await git(e, a, "rev-parse", "HEAD")).trim();
        const names = [
          ...Array.from(
            { length: BRANCHES },
            (_, i) => `refs/heads/p/${String(i).padStart(4, "0")}`,
          ),
          ...ODD,
        ];
        const lines = names.map((n) => `${cmd === "create" ? "create" : "update"} ${n} ${head}`);
        await run(e, "git", ["update-ref", "--stdin"], { cwd: a, stdin: lines.join("\n") + "\n" });
      };
      await moveAll("create");
      await ok(e, "git", ["push", "-q", remote, ...ALL], { cwd: a });
      const snapshots = (keys: string[]) =>
        keys.flatMap((k, i) => parseSnapshotKey(k) !== null ? [i] : []);
      await withStore(backend, url, async (store) => {
        const keys = (await store.list(REFS_PREFIX)).map((x) => x.key);
        // The snapshot is the second page's first key.
        assertEquals(keys.length, ENTRIES + 1, "entries plus the push's snapshot");
        assertEquals(snapshots(keys), [ENTRIES]);
        await startAfterEdges(store, REFS_PREFIX);
      });
      const c = await mirrorClone(e, remote);
      assertEquals(await refList(e, c), await refList(e, a), "clone of one page plus a snapshot");

      // Every ref moved, maintenance off: two entries each, and the newer entries the
      // snapshot lacks on the pages before it.
      await ok(e, "git", ["commit", "-q", "--allow-empty", "-m", "second"], { cwd: a });
      await moveAll("update");
      await ok(e, "git", ["push", "-q", remote, ...ALL], {
        cwd: a,
        env: { TRUNKS_AUTO_MAINTENANCE: "0" },
      });
      await withStore(backend, url, async (store) => {
        const keys = await startAfterEdges(store, REFS_PREFIX);
        // 999 refs moved (HEAD did not): the snapshot is the second page's last key.
        assertEquals(keys.length, 2 * ENTRIES);
        assertEquals(snapshots(keys), [2 * ENTRIES - 1]);
      });
      await ok(e, "git", ["fetch", "-q", "--prune", "origin"], { cwd: c });
      assertEquals(await refList(e, c), await refList(e, a), "fetch after every ref moved");
      const fresh = await mirrorClone(e, remote);
      assertEquals(
        await refList(e, fresh),
        await refList(e, a),
        "clone: old snapshot, new entries",
      );

      // Up to date: one LIST (however many pages it takes), no GET.
      const upToDate = await run(e, "git", ["fetch", "origin"], {
        cwd: c,
        env: { TRUNKS_DEBUG_REQUESTS: "1" },
      });
      assertEquals(upToDate.code, 0, upToDate.stderr);
      const counts = Object.entries(requests(upToDate.stderr)).filter(([k]) =>
        k.startsWith("store.")
      );
      assertEquals(counts, [["store.list", 1]], upToDate.stderr);

      // Two leases on, maintenance snapshots and prunes every first entry into the audit log.
      await twoLeases(backend, leaseOf(backend));
      const maint = await run(e, "trunks", ["maintenance", url]);
      assertEquals(maint.code, 0, maint.stderr);
      await withStore(backend, url, async (store) => {
        const keys = (await store.list(REFS_PREFIX)).map((x) => x.key);
        assertEquals(keys.length, ENTRIES + 2, `pruned: ${maint.stderr}`);
        assertEquals(snapshots(keys), [ENTRIES, ENTRIES + 1]);
        assert((await store.list(REFLOG_PREFIX)).some((x) => parseReflogKey(x.key) !== null));
      });
      const log = JSON.parse(await ok(e, "trunks", ["log", "--trunk", url, "--json"])) as {
        ref: string;
        seq: number;
        archived: boolean;
      }[];
      const byRef = new Map<string, [number, boolean][]>();
      for (const x of log) byRef.set(x.ref, [...byRef.get(x.ref) ?? [], [x.seq, x.archived]]);
      const moved = (await refList(e, a)).map((l) => l.split(" ")[1]);
      assertEquals(moved.length, ENTRIES - 1);
      for (const ref of moved) {
        assertEquals(byRef.get(ref), [[1, true], [2, false]], `trunks log of ${ref}`);
      }
      const afterPrune = await mirrorClone(e, remote);
      assertEquals(await refList(e, afterPrune), await refList(e, a), "clone after the prune");

      // A push of every ref racing maintenance: nothing it acknowledged is lost.
      await ok(e, "git", ["commit", "-q", "--allow-empty", "-m", "third"], { cwd: a });
      await moveAll("update");
      const [push, raced] = await Promise.all([
        run(e, "git", ["push", "-q", remote, ...ALL], {
          cwd: a,
          env: { TRUNKS_AUTO_MAINTENANCE: "0" },
        }),
        run(e, "trunks", ["maintenance", url]),
      ]);
      assertEquals(push.code, 0, push.stderr);
      assertEquals(raced.code, 0, raced.stderr);
      await ok(e, "git", ["fetch", "-q", "origin"], { cwd: c });
      assertEquals(await refList(e, c), await refList(e, a), "fetch after the race");
    },
  });

  // segments/ passes a 1,000-key page (two keys a segment) on S3 and PostgreSQL; the
  // trunk's side of a long segments/ listing is the same on every backend, and GCS's
  // paging is crossed by refs/ above. SFTP pages its readdir at ~100 names; Azurite's page
  // is 5,000: fewer pushes elsewhere, for time.
  const big = ["minio", "postgres"].includes(backend.name);
  const pushes = big ? 4 * 128 : 4 * 15;
  // Audit archives already there (a trunk pruned for years); each is read by `trunks log`
  // and `check`: past a page where segments/ is, a few elsewhere (none on slow Azurite).
  const archives = big ? PAGE + 5 : backend.name === "azurite" ? 0 : 105;
  Deno.test({
    name: `${backend.name}: ${pushes} pushes, segments/ over a page, merged, logs pruned`,
    ...opts,
    fn: async () => {
      const url = await trunkUrl(backend, "pushes");
      const was = Deno.env.get("TRUNKS_AUTO_MAINTENANCE");
      Deno.env.set("TRUNKS_AUTO_MAINTENANCE", "0");
      const branches = ["w0", "w1", "w2", "w3"];
      try {
        await using first = await Trunk.open({
          url,
          settings: backend.settings,
          create: true,
          leaseSeconds: 1,
        });
        first.write("README.md", "pushes\n");
        await first.commit({ message: "first", branch: "main" });
        await first.push();
        // Four writers of their own branches at once: a quarter of the time.
        await Promise.all(branches.map(async (branch) => {
          await using t = await Trunk.open({ url, settings: backend.settings });
          for (let i = 0; i < pushes / 4; i++) {
            t.write(`${branch}/${i}.txt`, `${i}\n`);
            await t.commit({ message: `${branch} ${i}`, branch });
            // A slow server (fake-gcs) under four writers can take past the 1 s lease
            // between upload and ref update: the push says so, and is pushed again.
            for (let tries = 1;; tries++) {
              try {
                await t.push();
                break;
              } catch (err) {
                if (!(err instanceof ConflictError) || tries === 5) throw err;
              }
            }
          }
        }));
      } finally {
        if (was === undefined) Deno.env.delete("TRUNKS_AUTO_MAINTENANCE");
        else Deno.env.set("TRUNKS_AUTO_MAINTENANCE", was);
      }
      const e = await makeEnv(backend.env);
      await withStore(backend, url, async (store) => {
        const segs = await startAfterEdges(store, SEGMENTS_PREFIX);
        assert(segs.length > 2 * pushes, `${segs.length} keys under segments/`);
        // The prune's archive takes the seq after the last page's last, and its stamp is
        // found past the page.
        const { id } = JSON.parse(new TextDecoder().decode((await getBytes(store, TRUNK_JSON))!));
        await mapLimit([...Array(archives).keys()], 32, async (i) => {
          const time = new Date().toISOString();
          const body = seal({ v: 1, trunk: id, seq: i + 1, time, entries: {} });
          const bytes = new TextEncoder().encode(JSON.stringify(body));
          assert(await store.create(reflogKey(i + 1), bytes));
        });
      });
      const remote = `trunks::${url}`;
      const before = await mirrorClone(e, remote);
      const want = await refList(e, before);
      assertEquals(want.length, 5);
      await twoLeases(backend);
      const maint = await run(e, "trunks", ["maintenance", url]);
      assertEquals(maint.code, 0, maint.stderr);
      assert(/merged \d+ segments/.test(maint.stderr), maint.stderr);
      const archive = reflogKey(archives + 1);
      assert(maint.stderr.includes(`ref entries into ${archive}`), maint.stderr);
      await withStore(backend, url, async (store) => {
        const keys = (await store.list(REFS_PREFIX)).map((x) => x.key);
        // Each branch's, main's and HEAD's latest entry, and the snapshot.
        assertEquals(keys.filter((k) => parseSnapshotKey(k) === null).length, 6, maint.stderr);
      });
      const log = JSON.parse(await ok(e, "trunks", ["log", "--trunk", url, "--json"])) as {
        ref: string;
        seq: number;
        archived: boolean;
      }[];
      for (const branch of branches) {
        const mine = log.filter((x) => x.ref === `refs/heads/${branch}`);
        assertEquals(mine.map((x) => x.seq), Array.from({ length: pushes / 4 }, (_, i) => i + 1));
        assertEquals(mine.filter((x) => !x.archived).map((x) => x.seq), [pushes / 4], branch);
      }
      const after = await mirrorClone(e, remote);
      assertEquals(await refList(e, after), want, "clone after merge and prune");
      await ok(e, "git", ["fsck", "--strict", "--no-dangling"], { cwd: after });
      const check = await run(e, "trunks", ["check", url, "--json"]);
      assertEquals(JSON.parse(check.stdout).problems, [], check.stderr);
    },
  });
}
