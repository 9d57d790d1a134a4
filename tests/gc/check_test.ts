/**
 * `trunks check` against real git and real pushes, on every backend under test: a
 * healthy trunk passes; a flipped byte, a dangling ref, a broken ref log, a missing or
 * damaged chunk of a large blob are each named by key, and the exit code says so.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { e2eBackends, git, ok, run } from "../e2e/harness.ts";
import { getBytes } from "../../src/storage/store.ts";
import { encodeBlobManifest } from "../../src/trunk/blob_manifest.ts";
import { blobKey, chunkKey, segmentIdxKey, segmentPackKey } from "../../src/trunk/layout.ts";
import { refEntryKey } from "../keys.ts";
import { sha256File } from "../../src/trunk/segments.ts";
import { check, opts, segmentIds, setup, smallPushes, withStore } from "./lib.ts";

for (const backend of e2eBackends().filter((b) => ["local", "minio"].includes(b.name))) {
  Deno.test({
    name: `check ${backend.name}: healthy passes; a flipped byte in a segment is named, exit 1`,
    ...opts,
    fn: async () => {
      const s = await setup(backend);
      await smallPushes(s, 2);
      const good = await check(s);
      assertEquals(good.code, 0, good.stderr);
      assertEquals(good.report.ok, true);
      assertEquals(good.report.problems, []);
      assertEquals(good.report.stats.segments, 3);
      assertEquals(good.report.stats.refs, 1);

      const [victim] = await segmentIds(s);
      await withStore(s, async (st) => {
        const bytes = (await getBytes(st, segmentPackKey(victim)))!.slice();
        bytes[bytes.length >> 1] ^= 0x01;
        await st.put(segmentPackKey(victim), bytes);
      });
      const bad = await check(s);
      assertEquals(bad.code, 1);
      assertEquals(bad.report.ok, false);
      const p = bad.report.problems.find((x) => x.key === segmentPackKey(victim));
      assert(p, JSON.stringify(bad.report.problems));
      assertEquals(p.kind, "corrupt-segment");
      assertMatch(p.message, /is corrupt: its SHA-256 is/);
      // The human form names the key too, and --clean refuses to touch a damaged trunk.
      const human = await run(s.e, "trunks", ["check", s.url, "--clean", "--grace", "0"]);
      assertEquals(human.code, 1);
      assertMatch(human.stdout, new RegExp(`problem: segments/${victim}\\.pack: `));
      assertMatch(human.stderr, /not cleaning: the trunk has problems/);
      assertEquals((await segmentIds(s)).length, 3);
    },
  });

  Deno.test({
    name: `check ${backend.name}: an index that does not match its pack is named`,
    ...opts,
    fn: async () => {
      const s = await setup(backend);
      await smallPushes(s, 1);
      const [x, y] = await segmentIds(s);
      await withStore(s, async (st) => {
        await st.put(segmentIdxKey(x), (await getBytes(st, segmentIdxKey(y)))!);
      });
      const r = await check(s);
      assertEquals(r.code, 1);
      assertEquals(r.report.problems.map((p) => `${p.kind} ${p.key}`), [
        `corrupt-index ${segmentIdxKey(x)}`,
      ]);
    },
  });

  Deno.test({
    name: `check ${backend.name}: a dangling ref and a broken ref log are named`,
    ...opts,
    fn: async () => {
      const s = await setup(backend);
      const tip = (await git(s.e, s.a, "rev-parse", "main")).trim();
      const ghost = "1234567890abcdef1234567890abcdef12345678";
      await withStore(s, async (st) => {
        const meta = JSON.parse(new TextDecoder().decode((await getBytes(st, "trunk.json"))!));
        const entry = (ref: string, seq: number, old: string, now: string) =>
          new TextEncoder().encode(JSON.stringify({
            trunk: meta.id,
            ref,
            seq,
            old,
            new: now,
            time: new Date().toISOString(),
            writer: "test",
            segments: [],
          }));
        const zero = "0".repeat(40);
        assert(
          await st.create(
            refEntryKey("refs/heads/ghost", 1),
            entry("refs/heads/ghost", 1, zero, ghost),
          ),
        );
        // main's seq 2 claims main was something else before: the log does not chain.
        assert(
          await st.create(
            refEntryKey("refs/heads/main", 2),
            entry("refs/heads/main", 2, ghost, tip),
          ),
        );
      });
      const r = await check(s);
      assertEquals(r.code, 1);
      const kinds = r.report.problems.map((p) => `${p.kind} ${p.key}`).sort();
      assertEquals(kinds, [
        `dangling-ref ${refEntryKey("refs/heads/ghost", 1)}`,
        `ref-log-chain ${refEntryKey("refs/heads/main", 2)}`,
      ]);
      assertMatch(
        r.report.problems.find((p) => p.kind === "dangling-ref")!.message,
        new RegExp(`refs/heads/ghost points at ${ghost}, which no segment holds`),
      );
    },
  });

  Deno.test({
    name: `check ${backend.name}: large blobs as chunks: valid passes, missing/damaged chunk named`,
    ...opts,
    fn: async () => {
      const s = await setup(backend);
      // A large file pushed the large-blob way: absent from the pack, a manifest and chunks.
      const big = new Uint8Array(300_000);
      for (let i = 0; i < big.length; i += 65536) {
        crypto.getRandomValues(big.subarray(i, Math.min(big.length, i + 65536)));
      }
      await Deno.writeFile(`${s.a}/big.bin`, big);
      await git(s.e, s.a, "add", "big.bin");
      await git(s.e, s.a, "commit", "-qm", "big");
      const blob = (await git(s.e, s.a, "rev-parse", "HEAD:big.bin")).trim();
      await git(s.e, s.a, "push", "-q", "origin", "main");
      await rewriteWithoutBlob(s, blob, big);
      const good = await check(s);
      assertEquals(good.code, 0, JSON.stringify(good.report.problems));
      assertEquals(good.report.stats.largeBlobs, 1);
      assertEquals(good.report.stats.segments, 1);

      // Without its manifest the blob is a missing object, named with the ref reaching it.
      const sizes = [100_000, 200_000];
      const chunkShas = await chunkShasOf(big, sizes);
      await withStore(s, async (st) => {
        await st.delete(chunkKey(chunkShas[1]));
      });
      const missing = await check(s);
      assertEquals(missing.code, 1);
      assertEquals(
        missing.report.problems.map((p) => `${p.kind} ${p.key}`),
        [`missing-chunk ${chunkKey(chunkShas[1])}`],
      );
      await withStore(s, async (st) => {
        const damaged = big.slice(100_000);
        damaged[5] ^= 0xff;
        await st.put(chunkKey(chunkShas[1]), damaged);
      });
      const corrupt = await check(s);
      assertEquals(
        corrupt.report.problems.map((p) => `${p.kind} ${p.key}`),
        [`corrupt-chunk ${chunkKey(chunkShas[1])}`],
      );
      await withStore(s, (st) => st.delete(blobKey(blob)));
      const gone = await check(s);
      assertEquals(gone.report.problems.map((p) => p.kind), ["missing-object"]);
      assertMatch(
        gone.report.problems[0].message,
        new RegExp(`object ${blob}, reachable from refs/heads/main`),
      );
    },
  });
}

async function chunkShasOf(big: Uint8Array, sizes: number[]): Promise<string[]> {
  const out: string[] = [];
  let at = 0;
  for (const n of sizes) {
    const d = await crypto.subtle.digest("SHA-256", big.slice(at, at + n));
    out.push([...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join(""));
    at += n;
  }
  return out;
}

/**
 * Store the newest segment again without `blob`, and the blob as two chunks and a
 * manifest: the layout large-file pushes produce.
 */
export async function rewriteWithoutBlob(
  s: Awaited<ReturnType<typeof setup>>,
  blob: string,
  content: Uint8Array,
): Promise<void> {
  const objects = (await git(s.e, s.a, "rev-list", "--objects", "main")).trim().split("\n")
    .filter((l) => !l.startsWith(blob));
  const dir = await Deno.makeTempDir();
  const hash = (await ok(s.e, "git", ["pack-objects", "-q", `${dir}/p`], {
    cwd: s.a,
    stdin: objects.join("\n") + "\n",
  })).trim();
  const pack = `${dir}/p-${hash}.pack`;
  const id = await sha256File(pack);
  const sizes = [100_000, content.length - 100_000];
  const shas = await chunkShasOf(content, sizes);
  await withStore(s, async (st) => {
    for (const old of (await st.list("segments/")).map((e) => e.key)) await st.delete(old);
    await st.put(chunkKey(shas[0]), content.slice(0, sizes[0]));
    await st.put(chunkKey(shas[1]), content.slice(sizes[0]));
    await st.put(
      blobKey(blob),
      encodeBlobManifest({
        oid: blob,
        size: content.length,
        chunks: shas.map((sha256, i) => ({ sha256, size: sizes[i] })),
      }),
    );
    await st.put(segmentPackKey(id), await Deno.readFile(pack));
    await st.put(`segments/${id}.idx`, await Deno.readFile(`${dir}/p-${hash}.idx`));
  });
}
