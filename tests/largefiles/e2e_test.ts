/**
 * Large files driven by plain git on every backend under test: a file of tens of MiB
 * round-trips byte-exactly through clone, a middle edit re-uploads a few chunks, the
 * same blob on another branch uploads none, text-like chunks are stored compressed (and
 * raw ones, as older writers stored them, still read), a corrupted chunk fails the fetch naming
 * its key and writes nothing, an interrupted push resumes, and a SHA-256 repository
 * round-trips.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../assert.ts";
import {
  type Backend,
  e2eBackends,
  type Env,
  git,
  makeEnv,
  newRepo,
  ok,
  type Run,
  run,
  trunkUrl,
} from "../e2e/harness.ts";
import { openStore } from "../../src/storage/registry.ts";
import { readAll } from "../../src/storage/store.ts";
import { knownChunks, readManifest, storedBlobs } from "../../src/trunk/chunks.ts";
import { chunkKey } from "../../src/trunk/layout.ts";
import { listSegments } from "../../src/trunk/segments.ts";
import { pseudoRandom, textLike } from "./data.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const MiB = 1024 * 1024;

async function withStore<T>(
  url: string,
  settings: Record<string, string>,
  f: (s: Awaited<ReturnType<typeof openStore>>) => Promise<T>,
): Promise<T> {
  const s = await openStore(url, settings);
  try {
    return await f(s);
  } finally {
    await s.close();
  }
}

/** Store operations of the helper run by one git command (TRUNKS_DEBUG_REQUESTS). */
function storeOps(r: Run): Record<string, number> {
  const m = /trunks-requests helper (.*)/.exec(r.stderr);
  assert(m, r.stderr);
  const counts = JSON.parse(m[1]) as { requests: Record<string, number> };
  return Object.fromEntries(
    Object.entries(counts.requests).filter(([k]) => k.startsWith("store.")).map((
      [k, v],
    ) => [k.slice(6), v]),
  );
}

async function counted(e: Env, cwd: string, ...args: string[]): Promise<Run> {
  const r = await run(e, "git", args, { cwd, env: { TRUNKS_DEBUG_REQUESTS: "1" } });
  assertEquals(r.code, 0, r.stderr);
  return r;
}

async function sameFile(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([Deno.readFile(a), Deno.readFile(b)]);
  return x.byteLength === y.byteLength && x.every((v, i) => v === y[i]);
}

for (const backend of e2eBackends()) {
  Deno.test({
    name:
      `largefiles ${backend.name}: 40 MiB file round-trips; middle edit re-uploads a few chunks; another branch none`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(backend.env);
      const a = await newRepo(e, "a");
      await Deno.writeFile(`${a}/big.bin`, pseudoRandom(40 * MiB, 21));
      await git(e, a, "add", "big.bin");
      await git(e, a, "commit", "-qm", "big file");
      const url = await trunkUrl(backend, "large");
      await git(e, a, "remote", "add", "origin", `trunks::${url}`);
      await git(e, a, "push", "-q", "-u", "origin", "main");

      const oid = (await git(e, a, "rev-parse", "HEAD:big.bin")).trim();
      const chunks = await withStore(url, backend.settings, async (s) => {
        assertEquals(await storedBlobs(s), new Set([oid]));
        const m = await readManifest(s, oid);
        assertEquals(m?.size, 40 * MiB);
        // The segment holds the commit, trees and small blobs, not the big one.
        const segs = await listSegments(s);
        assertEquals(segs.length, 1);
        assert(segs[0].packSize < 64 * 1024, `segment of ${segs[0].packSize} bytes`);
        return (await knownChunks(s)).size;
      });
      assert(chunks >= 20 && chunks <= 80, `${chunks} chunks`);

      const b = `${await Deno.makeTempDir()}/b`;
      await ok(e, "git", ["clone", "-q", `trunks::${url}`, b]);
      assert(await sameFile(`${a}/big.bin`, `${b}/big.bin`), "clone has the same bytes");
      await git(e, b, "fsck", "--strict", "--no-dangling");

      // Overwrite 64 KiB in the middle.
      const f = await Deno.open(`${a}/big.bin`, { write: true });
      await f.seek(20 * MiB + 12345, Deno.SeekMode.Start);
      await f.write(pseudoRandom(64 * 1024, 77));
      f.close();
      await git(e, a, "commit", "-qam", "edit the middle");
      const push = await counted(e, a, "push", "origin", "main");
      const ops = storeOps(push);
      // Two segment files, one manifest, the chunks around the edit, and the claim on
      // the chunks it reuses (reuse_guard.ts).
      assert(ops.put >= 5 && ops.put <= 7, JSON.stringify(ops));
      const after = await withStore(
        url,
        backend.settings,
        async (s) => (await knownChunks(s)).size,
      );
      assert(after - chunks >= 1 && after - chunks <= 3, `${after - chunks} new chunks`);

      await git(e, b, "pull", "-q", "--ff-only");
      assert(await sameFile(`${a}/big.bin`, `${b}/big.bin`), "fetch brings the edit");
      await git(e, b, "fsck", "--strict", "--no-dangling");

      // The same content under another name on a new branch: no chunk goes up.
      await git(e, a, "checkout", "-q", "-b", "copy");
      await Deno.copyFile(`${a}/big.bin`, `${a}/copy.bin`);
      await git(e, a, "add", "copy.bin");
      await git(e, a, "commit", "-qm", "copy");
      const copy = storeOps(await counted(e, a, "push", "origin", "copy"));
      assert((copy.put ?? 0) <= 2, `only the segment: ${JSON.stringify(copy)}`);
      assertEquals(
        await withStore(url, backend.settings, async (s) => (await knownChunks(s)).size),
        after,
      );
    },
  });

  Deno.test({
    name:
      `largefiles ${backend.name}: text-like chunks are stored compressed, random ones raw; raw-stored chunks still read`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(backend.env);
      const a = await newRepo(e, "a");
      const text = textLike(12 * MiB, 31);
      await Deno.writeFile(`${a}/app.log`, text);
      await Deno.writeFile(`${a}/noise.bin`, pseudoRandom(6 * MiB, 32));
      await git(e, a, "add", ".");
      await git(e, a, "commit", "-qm", "log and noise");
      const url = await trunkUrl(backend, "codec");
      await git(e, a, "remote", "add", "origin", `trunks::${url}`);
      await git(e, a, "push", "-q", "-u", "origin", "main");
      const logOid = (await git(e, a, "rev-parse", "HEAD:app.log")).trim();
      const noiseOid = (await git(e, a, "rev-parse", "HEAD:noise.bin")).trim();

      const first = await withStore(url, backend.settings, async (s) => {
        const sizes = new Map((await s.list("chunks/")).map((x) => [x.key, x.size]));
        const stored = async (oid: string) => {
          const m = (await readManifest(s, oid))!;
          return { m, sizes: m.chunks.map((c) => sizes.get(chunkKey(c.sha256))!) };
        };
        const log = await stored(logOid);
        const total = log.sizes.reduce((x, y) => x + y, 0);
        assert(total <= 0.35 * text.byteLength, `log stored in ${total} bytes`);
        const noise = await stored(noiseOid);
        assertEquals(noise.sizes, noise.m.chunks.map((c) => c.size), "random stays raw");
        return log.m.chunks[0];
      });

      const b = `${await Deno.makeTempDir()}/b`;
      await ok(e, "git", ["clone", "-q", `trunks::${url}`, b]);
      assert(await sameFile(`${a}/app.log`, `${b}/app.log`), "clone has the log");
      assert(await sameFile(`${a}/noise.bin`, `${b}/noise.bin`), "clone has the noise");

      // A trunk written before compression holds its chunks raw: still reads.
      await withStore(url, backend.settings, async (s) => {
        await s.put(chunkKey(first.sha256), text.slice(0, first.size));
        const listed = (await s.list(chunkKey(first.sha256)))[0];
        assertEquals(listed.size, first.size);
      });
      const c = `${await Deno.makeTempDir()}/c`;
      await ok(e, "git", ["clone", "-q", `trunks::${url}`, c]);
      assert(await sameFile(`${a}/app.log`, `${c}/app.log`), "raw chunk reads");
      await git(e, c, "fsck", "--strict", "--no-dangling");
      const check = await run(e, "trunks", ["check", url]);
      assertEquals(check.code, 0, check.stdout + check.stderr);
    },
  });

  Deno.test({
    name:
      `largefiles ${backend.name}: a corrupted chunk fails the fetch, names its key, writes nothing`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(backend.env);
      const a = await newRepo(e, "a");
      const url = await trunkUrl(backend, "corrupt");
      await git(e, a, "remote", "add", "origin", `trunks::${url}`);
      await git(e, a, "push", "-q", "-u", "origin", "main");
      const b = `${await Deno.makeTempDir()}/b`;
      await ok(e, "git", ["clone", "-q", `trunks::${url}`, b]);

      await Deno.writeFile(`${a}/big.bin`, pseudoRandom(12 * MiB, 31));
      await git(e, a, "add", "big.bin");
      await git(e, a, "commit", "-qm", "big");
      await git(e, a, "push", "-q");
      const oid = (await git(e, a, "rev-parse", "HEAD:big.bin")).trim();
      const key = await withStore(url, backend.settings, async (s) => {
        const m = await readManifest(s, oid);
        const k = chunkKey(m!.chunks[2].sha256);
        const bytes = await readAll((await s.get(k))!);
        bytes[1000] ^= 0xff;
        await s.put(k, bytes);
        return k;
      });

      const fetch = await run(e, "git", ["fetch", "origin"], { cwd: b });
      assert(fetch.code !== 0, "fetch must fail");
      assertStringIncludes(fetch.stderr, key);
      assertMatch(fetch.stderr, /corrupt/);
      const has = await run(e, "git", ["cat-file", "-e", oid], { cwd: b });
      assert(has.code !== 0, "the blob was not written");
      const pack = `${b}/.git/objects/pack`;
      for await (const f of Deno.readDir(pack)) assert(!f.name.startsWith("tmp_"), f.name);
      assertEquals(
        (await git(e, b, "rev-parse", "origin/main")).trim(),
        (await git(e, a, "rev-parse", "HEAD~1")).trim(),
        "the ref did not move",
      );
    },
  });

  Deno.test({
    name: `largefiles ${backend.name}: an interrupted push resumes without re-sending chunks`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(backend.env);
      const a = await newRepo(e, "a");
      await Deno.writeFile(`${a}/big.bin`, pseudoRandom(24 * MiB, 41));
      await git(e, a, "add", "big.bin");
      await git(e, a, "commit", "-qm", "big");
      const url = await trunkUrl(backend, "resume");
      const killed = await run(e, "git", ["push", `trunks::${url}`, "main"], {
        cwd: a,
        env: { TRUNKS_FAULT: "push:after-chunk:6" },
      });
      assert(killed.code !== 0, "the push was killed");
      const before = await withStore(url, backend.settings, async (s) => {
        assertEquals((await storedBlobs(s)).size, 0, "no manifest yet");
        return (await knownChunks(s)).size;
      });
      assert(before >= 6, `${before} chunks survived`);
      const again = storeOps(await counted(e, a, "push", `trunks::${url}`, "main"));
      const total = await withStore(
        url,
        backend.settings,
        async (s) => (await knownChunks(s)).size,
      );
      // Only missing chunks, the manifest, the segment's two files and the claim on the
      // chunks it reused. At most: uploads in flight when the pusher died may still land
      // on the server after it was listed.
      const sent = again.put - 4;
      assert(sent <= total - before && sent < total - 5, `${JSON.stringify(again)} of ${total}`);
      const b = `${await Deno.makeTempDir()}/b`;
      await ok(e, "git", ["clone", "-q", `trunks::${url}`, b]);
      assert(await sameFile(`${a}/big.bin`, `${b}/big.bin`));
    },
  });

  Deno.test({
    name: `largefiles ${backend.name}: a SHA-256 repository round-trips (small and large blobs)`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(backend.env);
      const a = `${await Deno.makeTempDir()}/a`;
      await ok(e, "git", ["init", "-q", "--object-format=sha256", "-b", "main", a]);
      await Deno.writeTextFile(`${a}/README.md`, "sha256\n");
      await Deno.writeFile(`${a}/big.bin`, pseudoRandom(6 * MiB, 51));
      await git(e, a, "add", ".");
      await git(e, a, "commit", "-qm", "first");
      const url = await trunkUrl(backend, "sha256");
      await git(e, a, "push", "-q", `trunks::${url}`, "main");
      const meta = await withStore(url, backend.settings, async (s) => {
        return JSON.parse(new TextDecoder().decode(await readAll((await s.get("trunk.json"))!)));
      });
      assertEquals(meta.objectFormat, "sha256");
      const b = `${await Deno.makeTempDir()}/b`;
      await ok(e, "git", ["clone", "-q", `trunks::${url}`, b]);
      assertEquals((await git(e, b, "rev-parse", "--show-object-format")).trim(), "sha256");
      assertEquals(await git(e, b, "rev-parse", "HEAD"), await git(e, a, "rev-parse", "HEAD"));
      assertEquals((await git(e, b, "rev-parse", "HEAD")).trim().length, 64);
      assert(await sameFile(`${a}/big.bin`, `${b}/big.bin`));
      await git(e, b, "fsck", "--strict", "--no-dangling");
      // And back: a commit from the clone.
      await Deno.writeTextFile(`${b}/more.txt`, "more\n");
      await git(e, b, "add", ".");
      await git(e, b, "commit", "-qm", "more");
      await git(e, b, "push", "-q");
      await git(e, a, "pull", "-q", `trunks::${url}`, "main");
      assertEquals(await Deno.readTextFile(`${a}/more.txt`), "more\n");
    },
  });
}

Deno.test({
  name: "largefiles: TRUNKS_LARGE_BLOB_THRESHOLD sets the size; a bad value fails before any write",
  ...opts,
  fn: async () => {
    const backend = {
      env: {},
      settings: {},
      root: async () => `local://${await Deno.makeTempDir()}`,
    } as Backend;
    const e = await makeEnv(backend.env);
    const a = await newRepo(e, "a");
    await Deno.writeFile(`${a}/mid.bin`, pseudoRandom(2 * MiB, 61));
    await git(e, a, "add", ".");
    await git(e, a, "commit", "-qm", "2 MiB");
    const url = await trunkUrl(backend, "threshold");
    const bad = await run(e, "git", ["push", `trunks::${url}`, "main"], {
      cwd: a,
      env: { TRUNKS_LARGE_BLOB_THRESHOLD: "lots" },
    });
    assert(bad.code !== 0);
    assertStringIncludes(bad.stderr, "TRUNKS_LARGE_BLOB_THRESHOLD");
    assertEquals(await withStore(url, backend.settings, (s) => s.list("")), [], "nothing written");
    // Default (4 MiB): the 2 MiB blob goes into the segment.
    await git(e, a, "push", "-q", `trunks::${url}`, "main");
    assertEquals(await withStore(url, backend.settings, storedBlobs), new Set());
    // 1m: it is chunked.
    const url2 = await trunkUrl(backend, "threshold2");
    await ok(e, "git", ["push", "-q", `trunks::${url2}`, "main"], {
      cwd: a,
      env: { TRUNKS_LARGE_BLOB_THRESHOLD: "1m" },
    });
    const oid = (await git(e, a, "rev-parse", "HEAD:mid.bin")).trim();
    assertEquals(await withStore(url2, backend.settings, storedBlobs), new Set([oid]));
    const b = `${await Deno.makeTempDir()}/b`;
    await ok(e, "git", ["clone", "-q", `trunks::${url2}`, b]);
    assert(await sameFile(`${a}/mid.bin`, `${b}/mid.bin`));
  },
});
