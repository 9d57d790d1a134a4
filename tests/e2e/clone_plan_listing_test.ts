/**
 * A fresh clone from a distant store sends its plan's listings (segments/, blobs/) beside
 * its first ones (refs/, trunk.json, the storage map): src/trunk/plan_listing.ts. On MinIO
 * behind a proxy that delays every request, so each round trip shows as one (loopback
 * answers an entry's read before a segment's is even sent, and chains them).
 *
 * Listed before the refs, the segments can miss a push that lands between the two listings:
 * the refs' listing then names a commit no listed segment holds. The clone must list the
 * segments again and get that push's segment, not call the trunk damaged nor download
 * again what it already has (distrusting its own marks: every segment twice).
 */
import { assert, assertEquals } from "../assert.ts";
import { startProxy } from "../../bench/proxy.ts";
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
} from "./harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** The store operations and rounds the helper reported (`TRUNKS_DEBUG_REQUESTS`). */
function rounds(stderr: string): number {
  let n = 0;
  for (const m of stderr.matchAll(/^trunks-requests \S+ (.*)$/gm)) n += JSON.parse(m[1]).rounds;
  return n;
}

/** The trunk URL with its endpoint moved to `endpoint`. */
function through(url: string, endpoint: string): string {
  const u = new URL(url);
  u.searchParams.set("endpoint", endpoint);
  return u.toString();
}

/** A trunk on `backend` holding one push of a new repository `a`. */
async function pushedTrunk(backend: Backend): Promise<{ e: Env; url: string; a: string }> {
  const e = await makeEnv(backend.env);
  const url = await trunkUrl(backend, "t");
  const a = await newRepo(e, "a");
  await git(e, a, "push", "-q", `trunks::${url}`, "main");
  return { e, url, a };
}

const isListing = (what: string, prefix: string) =>
  what.includes("list-type=2") && decodeURIComponent(what).includes(`/t.trunk/${prefix}`);

for (const backend of e2eBackends().filter((b) => b.name === "minio")) {
  const upstream = new URL(new URL(await backend.root()).searchParams.get("endpoint")!).origin;

  Deno.test({
    name: `e2e ${backend.name}: a fresh clone at 40 ms a request is 2 round trips`,
    ...opts,
    fn: async () => {
      const proxy = startProxy(upstream, { latencyMs: 40 });
      try {
        const { e, url } = await pushedTrunk(backend);
        const b = `${await Deno.makeTempDir()}/b`;
        const r = await run(
          e,
          "git",
          ["clone", "-q", `trunks::${through(url, proxy.endpoint)}`, b],
          {
            env: { TRUNKS_DEBUG_REQUESTS: "1" },
          },
        );
        assertEquals(r.code, 0, r.stderr);
        assertEquals(rounds(r.stderr), 2, r.stderr);
        assertEquals(await Deno.readTextFile(`${b}/README.md`), "hello\n");
      } finally {
        await proxy.close();
      }
    },
  });

  Deno.test({
    name:
      `e2e ${backend.name}: a first fetch into a repository already holding objects lists the segments once`,
    ...opts,
    fn: async () => {
      const proxy = startProxy(upstream);
      try {
        const e = await makeEnv(backend.env);
        const url = await trunkUrl(backend, "t");
        const a = await newRepo(e, "a");
        await commitFile(e, a, "from-a.txt", "a\n");
        await git(e, a, "push", "-q", `trunks::${url}`, "main");
        // A clone of another remote (a GitHub mirror) that then fetches from the trunk: no
        // prefetch, so the plan lists when the fetch runs; listed early too, it was twice.
        const c = await newRepo(e, "c");
        await git(e, c, "fetch", "-q", `trunks::${through(url, proxy.endpoint)}`, "main");
        assertEquals(
          (await git(e, c, "rev-parse", "FETCH_HEAD")).trim(),
          (await git(e, a, "rev-parse", "HEAD")).trim(),
        );
        const listings = proxy.trace().map((t) => t.what).filter((w) => isListing(w, "segments/"));
        assertEquals(listings.length, 1, listings.join("\n"));
      } finally {
        await proxy.close();
      }
    },
  });

  Deno.test({
    name:
      `e2e ${backend.name}: a push landing between a clone's segment listing and its refs' is cloned whole`,
    ...opts,
    fn: async () => {
      const { e, url, a } = await pushedTrunk(backend);
      const segmentsListed = Promise.withResolvers<void>();
      let held = false;
      let pushed = "";
      const proxy = startProxy(upstream, {
        answered: (what) => {
          if (isListing(what, "segments/")) segmentsListed.resolve();
        },
        // The clone's first listing of refs/ waits until its segments are listed and a push
        // from elsewhere (straight to MinIO) has landed: its entry is then in the refs'
        // listing, its segment in no listing the clone's plan started from.
        before: async (what) => {
          if (held || !isListing(what, "refs/")) return;
          held = true;
          let timer: ReturnType<typeof setTimeout> | undefined;
          await Promise.race([
            segmentsListed.promise,
            new Promise((_, no) =>
              timer = setTimeout(
                () => no(new Error("the clone did not list segments/ before refs/ answered")),
                10_000,
              )
            ),
          ]).finally(() => clearTimeout(timer));
          await commitFile(e, a, "late.txt", "pushed during the clone\n");
          await git(e, a, "push", "-q", `trunks::${url}`, "main");
          pushed = (await git(e, a, "rev-parse", "HEAD")).trim();
        },
      });
      try {
        const b = `${await Deno.makeTempDir()}/b`;
        await ok(e, "git", ["clone", "-q", `trunks::${through(url, proxy.endpoint)}`, b]);
        assert(held && pushed, "the refs' listing was not held");
        const packs = proxy.trace().map((t) => t.what).filter((w) =>
          /^GET \S*\/segments\/[0-9a-f]{64}\.pack/.test(w)
        );
        assertEquals(packs.length, 2, `each segment downloaded once: ${packs.join("\n")}`);
        assertEquals(new Set(packs).size, 2, packs.join("\n"));
        assertEquals((await git(e, b, "rev-parse", "HEAD")).trim(), pushed);
        assertEquals(await Deno.readTextFile(`${b}/late.txt`), "pushed during the clone\n");
        await git(e, b, "fsck", "--strict");
      } finally {
        await proxy.close();
      }
    },
  });

  Deno.test({
    name:
      `e2e ${backend.name}: a large file pushed after a clone's blobs listing, before its segments', is cloned whole`,
    ...opts,
    fn: async () => {
      const { e, url, a } = await pushedTrunk(backend);
      const big = new Uint8Array(200_000);
      crypto.getRandomValues(big.subarray(0, 65536));
      big.set(big.subarray(0, 65536), 65536);
      const blobsListed = Promise.withResolvers<void>();
      let pushed: Promise<void> | undefined;
      const proxy = startProxy(upstream, {
        answered: (what) => {
          if (isListing(what, "blobs/")) blobsListed.resolve();
        },
        // The clone's listings of refs/ and segments/ wait until its blobs/ listing has
        // been answered and a push of a large file (its chunks and list stored before its
        // segment, the segment before its ref) has landed: both then show that push, the
        // blobs' listing does not.
        before: async (what) => {
          if (!isListing(what, "refs/") && !isListing(what, "segments/")) return;
          pushed ??= (async () => {
            let timer: ReturnType<typeof setTimeout> | undefined;
            await Promise.race([
              blobsListed.promise,
              new Promise((_, no) =>
                timer = setTimeout(() => no(new Error("the clone did not list blobs/")), 10_000)
              ),
            ]).finally(() => clearTimeout(timer));
            await Deno.writeFile(`${a}/big.bin`, big);
            await git(e, a, "add", "big.bin");
            await git(e, a, "commit", "-qm", "a large file");
            await ok(e, "git", ["push", "-q", `trunks::${url}`, "main"], {
              cwd: a,
              env: { TRUNKS_LARGE_BLOB_THRESHOLD: "64k" },
            });
          })();
          await pushed;
        },
      });
      try {
        const b = `${await Deno.makeTempDir()}/b`;
        await ok(e, "git", ["clone", "-q", `trunks::${through(url, proxy.endpoint)}`, b]);
        assert(pushed, "the listings were not held");
        assertEquals(
          (await git(e, b, "rev-parse", "HEAD")).trim(),
          (await git(e, a, "rev-parse", "HEAD")).trim(),
        );
        assertEquals(await Deno.readFile(`${b}/big.bin`), big);
        await git(e, b, "fsck", "--strict");
      } finally {
        await proxy.close();
      }
    },
  });
}

// Local disk answers within the call: a fresh clone lists the segments, plans and starts
// its pack's index-pack, and only then lists the refs (src/helper/helper.ts, `refsLater`).
// The push lands in that pause: the clone gets its commit (the refs were listed after it)
// and the segment holding it (listed again once a wanted object was not in the first).
Deno.test({
  name:
    "e2e local: a push landing after a clone's segment listing, before its refs', is cloned whole",
  ...opts,
  fn: async () => {
    const { e, url, a } = await pushedTrunk(e2eBackends()[0]);
    const work = await Deno.makeTempDir({ prefix: "trunks-clone-order-" });
    const debug = { TRUNKS_DEBUG_REQUESTS: "1" };
    const gets = (stderr: string) =>
      JSON.parse(/^trunks-requests helper (.*)$/m.exec(stderr)![1]).requests["store.get"];
    // The reads of an undisturbed clone.
    const calm = await run(e, "git", ["clone", "-q", `trunks::${url}`, `${work}/calm`], {
      env: debug,
    });
    assertEquals(calm.code, 0, calm.stderr);
    const signal = `${work}/held`;
    const b = `${work}/b`;
    const clone = run(e, "git", ["clone", "-q", `trunks::${url}`, b], {
      env: {
        TRUNKS_FAULT_DELAY: "clone:before-refs:4000",
        TRUNKS_FAULT_SIGNAL: signal,
        ...debug,
      },
    });
    let held = false;
    for (let i = 0; i < 400 && !held; i++) {
      held = await Deno.stat(signal).then(() => true, () => false);
      if (!held) await new Promise((r) => setTimeout(r, 10));
    }
    await commitFile(e, a, "late.txt", "pushed during the clone\n");
    await git(e, a, "push", "-q", `trunks::${url}`, "main");
    const pushed = (await git(e, a, "rev-parse", "HEAD")).trim();
    const r = await clone;
    assertEquals(r.code, 0, r.stderr);
    assert(held, "the clone never paused before listing its refs");
    assertEquals((await git(e, b, "rev-parse", "HEAD")).trim(), pushed);
    assertEquals(await Deno.readTextFile(`${b}/late.txt`), "pushed during the clone\n");
    // Only the late segment is read besides (its pack and index at most): not every
    // segment again.
    assert(gets(r.stderr) <= gets(calm.stderr) + 2, `${calm.stderr}\n${r.stderr}`);
    await git(e, b, "fsck", "--strict");
    await Deno.remove(work, { recursive: true });
  },
});
