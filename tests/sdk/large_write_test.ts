/**
 * Large files written through the library (`writeFile`): stored as chunks and a manifest
 * by the push engine's `uploadLargeBlobs`, exactly as `git push` stores them, so plain
 * git clones them byte-identically and content pushed either way is stored once.
 * Compressible content is stored compressed; a stream that fails stages nothing; the
 * temporary files of spooled streams are gone once pushed, discarded or closed.
 * The threshold is lowered to 256 KiB (TRUNKS_LARGE_BLOB_THRESHOLD) to keep files small.
 */
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { e2eBackends, git, makeEnv, newRepo, ok, trunkUrl } from "../e2e/harness.ts";
import { Trunk, TrunkError } from "../../mod.ts";
import { openStore } from "../../src/storage/registry.ts";
import type { Store } from "../../src/storage/store.ts";
import { knownChunks, readManifest, storedBlobs } from "../../src/trunk/chunks.ts";
import { CHUNKS_PREFIX } from "../../src/trunk/layout.ts";
import { listSegments } from "../../src/trunk/segments.ts";
import { objectId } from "../../src/pack/objects.ts";
import { LargeContents } from "../../src/trunk/large_content.ts";
import { concat } from "../../src/pack/bytes.ts";
import { pseudoRandom, textLike } from "../largefiles/data.ts";
import { withProcessEnv } from "../../harness/process_env.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const MiB = 1024 * 1024;
const THRESHOLD = "256k";

/** Run `f` with the lowered threshold in this process (and the git it starts). */
function lowered<T>(f: () => Promise<T>): Promise<T> {
  return withProcessEnv({ TRUNKS_LARGE_BLOB_THRESHOLD: THRESHOLD }, f);
}

/** `data` as a stream of 64 KiB pieces, erroring after `failAfter` bytes when given. */
function streamOf(data: Uint8Array, failAfter?: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(ctl) {
      if (failAfter !== undefined && at >= failAfter) {
        ctl.error(new Error("the network went away"));
        return;
      }
      if (at >= data.byteLength) return ctl.close();
      ctl.enqueue(data.slice(at, at + 64 * 1024));
      at += 64 * 1024;
    },
  });
}

/** A store that records the keys of every write. */
function counting(store: Store): { store: Store; puts: string[] } {
  const puts: string[] = [];
  const wrapped = new Proxy(store, {
    get(t, p) {
      const v = Reflect.get(t, p, t);
      if (p === "put" || p === "create") {
        return (key: string, ...rest: unknown[]) => {
          puts.push(key);
          return (v as (...a: unknown[]) => unknown).call(t, key, ...rest);
        };
      }
      return typeof v === "function" ? v.bind(t) : v;
    },
  });
  return { store: wrapped, puts };
}

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) out.push(...(await files(`${dir}/${e.name}`)).map((f) => `${e.name}/${f}`));
    else out.push(e.name);
  }
  return out;
}

for (const backend of e2eBackends()) {
  Deno.test({
    name:
      `sdk large write ${backend.name}: a file and a sizeless stream go as chunks; git clones them byte-identical`,
    ...opts,
    fn: () =>
      lowered(async () => {
        const e = await makeEnv({ ...backend.env, TRUNKS_LARGE_BLOB_THRESHOLD: THRESHOLD });
        const url = await trunkUrl(backend, "libbig");
        const tmp = await Deno.makeTempDir();
        const spool = await Deno.makeTempDir();
        const random = pseudoRandom(3 * MiB + 12345, 5);
        const text = textLike(3 * MiB, 9);
        await Deno.writeFile(`${tmp}/random.bin`, random);
        {
          await using t = await Trunk.open({
            url,
            settings: backend.settings,
            create: true,
            tempDir: spool,
          });
          const fromFile = await t.writeFile("data/random.bin", `${tmp}/random.bin`);
          assertEquals(fromFile, {
            oid: objectId("sha1", "blob", random),
            size: random.byteLength,
            large: true,
          });
          const fromStream = await t.writeFile("data/log.txt", streamOf(text));
          assertEquals(fromStream.oid, objectId("sha1", "blob", text));
          assert(fromStream.large);
          // The sizeless stream was spooled to disk, and only there.
          assertEquals((await files(spool)).length, 1);
          t.write("README.md", "small files stay in the segment\n");
          await t.commit({ message: "large files through the library", branch: "main" });
          // Unpushed: read back from what was staged.
          assertEquals(await t.read("data/log.txt"), text);
          await t.push();
          assertEquals(await files(spool), [], "spooled files removed once pushed");
          // Pushed: read back from the trunk, streamed chunk by chunk.
          const parts: Uint8Array[] = [];
          for await (const p of await t.readStream("data/random.bin")) parts.push(p);
          assert(parts.length > 1, "streamed in chunks");
          assertEquals(concat(parts), random);
        }
        const s = await openStore(url, backend.settings);
        try {
          const blobs = await storedBlobs(s);
          assertEquals(
            blobs,
            new Set([objectId("sha1", "blob", random), objectId("sha1", "blob", text)]),
          );
          assertEquals((await readManifest(s, objectId("sha1", "blob", text)))?.size, text.length);
          const segs = await listSegments(s);
          assertEquals(segs.length, 1);
          assert(
            segs[0].packSize < 16 * 1024,
            `the segment holds no large blob: ${segs[0].packSize}`,
          );
        } finally {
          await s.close();
        }
        const b = `${tmp}/clone`;
        await ok(e, "git", ["clone", "-q", `trunks::${url}`, b]);
        assertEquals(await Deno.readFile(`${b}/data/random.bin`), random);
        assertEquals(await Deno.readFile(`${b}/data/log.txt`), text);
        await git(e, b, "fsck", "--strict", "--no-dangling");
      }),
  });
}

Deno.test({
  name: "sdk large write: content git pushed first is not uploaded again by the library",
  ...opts,
  fn: () =>
    lowered(async () => {
      const e = await makeEnv({ TRUNKS_LARGE_BLOB_THRESHOLD: THRESHOLD });
      const url = `local://${await Deno.makeTempDir()}/trunks/dedup.trunk`;
      const data = pseudoRandom(2 * MiB, 33);
      const a = await newRepo(e, "a");
      await Deno.writeFile(`${a}/big.bin`, data);
      await git(e, a, "add", "big.bin");
      await git(e, a, "commit", "-qm", "big file");
      await git(e, a, "push", "-q", `trunks::${url}`, "main");
      const plain = await openStore(url);
      const before = await knownChunks(plain);
      assert(before.size > 1);
      const { store, puts } = counting(plain);
      {
        await using t = await Trunk.open({ store });
        await t.writeFile("copy.bin", new Blob([data as Uint8Array<ArrayBuffer>]));
        await t.commit({ message: "the same content, by the library", branch: "copy" });
        await t.push();
      }
      assertEquals(puts.filter((k) => k.startsWith(CHUNKS_PREFIX)), [], puts.join(" "));
      assertEquals(puts.filter((k) => k.startsWith("blobs/")), []);
      assertEquals(await knownChunks(plain), before);
      await plain.close();
      // And the other way: what the library stored, git pushes without a chunk.
      const other = pseudoRandom(2 * MiB, 34);
      {
        await using t = await Trunk.open({ url });
        await t.writeFile("lib.bin", streamOf(other), { size: other.byteLength });
        await t.commit({ message: "library first", branch: "lib" });
        await t.push();
      }
      const s2 = await openStore(url);
      const mid = await knownChunks(s2);
      await s2.close();
      await Deno.writeFile(`${a}/lib.bin`, other);
      await git(e, a, "add", "lib.bin");
      await git(e, a, "commit", "-qm", "git second");
      await git(e, a, "push", "-q", `trunks::${url}`, "main");
      const s3 = await openStore(url);
      assertEquals(await knownChunks(s3), mid);
      await s3.close();
    }),
});

Deno.test({
  name: "sdk large write: compressible content is stored compressed, random content raw",
  ...opts,
  fn: () =>
    lowered(async () => {
      const url = `local://${await Deno.makeTempDir()}/trunks/zip.trunk`;
      const text = textLike(4 * MiB, 3);
      const random = pseudoRandom(4 * MiB, 4);
      {
        await using t = await Trunk.open({ url, create: true });
        await t.writeFile("text.log", new Blob([text as Uint8Array<ArrayBuffer>]));
        await t.commit({ message: "text", branch: "main" });
        await t.push();
      }
      const s = await openStore(url);
      const storedText = (await s.list(CHUNKS_PREFIX)).reduce((n, e) => n + e.size, 0);
      assert(storedText <= 0.35 * text.length, `text stored as ${storedText} of ${text.length}`);
      {
        await using t = await Trunk.open({ url });
        // write() of bytes above the threshold takes the same path.
        t.write("random.bin", random);
        await t.commit({ message: "random", branch: "main" });
        await t.push();
        assertEquals(await t.read("random.bin"), random);
        assertEquals(await t.read("text.log"), text);
      }
      const storedAll = (await s.list(CHUNKS_PREFIX)).reduce((n, e) => n + e.size, 0);
      const storedRandom = storedAll - storedText;
      assert(
        storedRandom >= random.length && storedRandom <= 1.01 * random.length,
        `random stored as ${storedRandom} of ${random.length}`,
      );
      assertEquals((await storedBlobs(s)).size, 2);
      await s.close();
    }),
});

Deno.test({
  name:
    "sdk large write: a failing stream stages nothing and moves no ref; a changed file fails the push; temp files go",
  ...opts,
  fn: () =>
    lowered(async () => {
      const url = `local://${await Deno.makeTempDir()}/trunks/fail.trunk`;
      const spool = await Deno.makeTempDir();
      const tmp = await Deno.makeTempDir();
      const data = pseudoRandom(3 * MiB, 8);
      await using t = await Trunk.open({ url, create: true, tempDir: spool });
      t.write("a.txt", "first\n");
      const first = await t.commit({ message: "first", branch: "main" });
      await t.push();

      // Errors after 2 MiB, past the threshold: it was being spooled.
      await assertRejects(
        () => t.writeFile("big.bin", streamOf(data, 2 * MiB)),
        Error,
        "the network went away",
      );
      assertEquals(t.staged(), []);
      assertEquals(await files(spool), [], "the partial spool is removed");
      // A stream that does not match the size it was given.
      await assertRejects(
        () => t.writeFile("big.bin", streamOf(data), { size: data.byteLength + 1 }),
        TrunkError,
        "ended after",
      );
      assertEquals(t.staged(), []);
      assertEquals(await files(spool), []);
      await assertRejects(
        () => t.commit({ message: "nothing", branch: "main" }),
        TrunkError,
        "nothing to commit",
      );
      assertEquals(await t.push(), []);

      // A file changed between staging and push: the push fails naming it; nothing moved.
      await Deno.writeFile(`${tmp}/big.bin`, data);
      await t.writeFile("big.bin", `${tmp}/big.bin`);
      await t.commit({ message: "big", branch: "main" });
      const f = await Deno.open(`${tmp}/big.bin`, { append: true });
      await f.write(new Uint8Array([1, 2, 3]));
      f.close();
      await assertRejects(() => t.push(), TrunkError, "big.bin (staged from ");
      const s = await openStore(url);
      assertEquals((await storedBlobs(s)).size, 0, "no manifest written");
      await s.close();
      {
        await using other = await Trunk.open({ url });
        assertEquals(await other.resolve("main"), first.oid, "the ref did not move");
      }
      t.discard();

      // Spooled, committed, never pushed: close() removes the temporary files.
      await t.writeFile("big.bin", streamOf(data));
      await t.commit({ message: "never pushed", branch: "main" });
      assertEquals((await files(spool)).length, 1);
      await t.close();
      assertEquals(await files(spool), []);
    }),
});

Deno.test({
  name: "sdk large write: concurrent writeFile calls keep each other's spooled files",
  ...opts,
  fn: () =>
    lowered(async () => {
      const url = `local://${await Deno.makeTempDir()}/trunks/together.trunk`;
      const spool = await Deno.makeTempDir();
      const a = pseudoRandom(MiB, 51);
      const b = pseudoRandom(MiB, 52);
      await using t = await Trunk.open({ url, create: true, tempDir: spool });
      const both = Promise.all([
        t.writeFile("a.bin", streamOf(a)),
        t.writeFile("b.bin", streamOf(b)),
      ]);
      // A write meanwhile sweeps what nothing refers to: not what is still being staged.
      t.write("small.txt", "meanwhile\n");
      await both;
      t.write("small.txt", "again\n");
      assertEquals((await files(spool)).length, 2);
      await t.commit({ message: "two at once", branch: "main" });
      await t.push();
      assertEquals(await t.read("a.bin"), a);
      assertEquals(await t.read("b.bin"), b);
      assertEquals(await files(spool), []);
    }),
});

Deno.test("large contents: a sweep spares what is staged but not yet referred to", async () => {
  const dir = await Deno.makeTempDir();
  const large = new LargeContents("sha1", 1024, dir);
  const data = pseudoRandom(64 * 1024, 3);
  const staged = await large.stage(streamOf(data));
  assert("large" in staged);
  // Another write's sweep between staging and the caller recording the path.
  await large.keepOnly(new Set());
  assertEquals((await files(dir)).length, 1, "the spooled file survives");
  assertEquals(await readAllOf(staged.large.open()), data);
  large.settle(staged.large.oid);
  await large.keepOnly(new Set());
  assertEquals(large.get(staged.large.oid), undefined);
  assertEquals(await files(dir), []);
  await large.close();
});

async function readAllOf(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of s) parts.push(p);
  return concat(parts);
}

Deno.test({
  name:
    "sdk large write: a file and a stream of the same bytes; the file removed and deleted still pushes",
  ...opts,
  fn: () =>
    lowered(async () => {
      const url = `local://${await Deno.makeTempDir()}/trunks/same.trunk`;
      const tmp = await Deno.makeTempDir();
      const data = pseudoRandom(MiB, 61);
      await Deno.writeFile(`${tmp}/src.bin`, data);
      await using t = await Trunk.open({ url, create: true, tempDir: await Deno.makeTempDir() });
      await t.writeFile("from-file.bin", `${tmp}/src.bin`);
      await t.writeFile("from-stream.bin", streamOf(data));
      t.remove("from-file.bin");
      await Deno.remove(`${tmp}/src.bin`);
      await t.commit({ message: "the stream's copy", branch: "main" });
      await t.push();
      assertEquals(await t.read("from-stream.bin"), data);
      // Staged again from a stream after the file is gone: it stages and pushes.
      await t.writeFile("again.bin", streamOf(data));
      await t.commit({ message: "again", branch: "main" });
      await t.push();
      assertEquals(await t.read("again.bin"), data);
    }),
});

Deno.test("large contents: of two user files with the same bytes, the readable one is read", async () => {
  const dir = await Deno.makeTempDir();
  const large = new LargeContents("sha1", 1024, dir);
  const data = pseudoRandom(64 * 1024, 4);
  await Deno.writeFile(`${dir}/a`, data);
  await Deno.writeFile(`${dir}/b`, data);
  const a = await large.stage(`${dir}/a`, undefined, "a.bin");
  await large.stage(`${dir}/b`, undefined, "b.bin");
  assert("large" in a);
  await Deno.remove(`${dir}/a`);
  assertEquals(await readAllOf(large.get(a.large.oid)!.open()), data);
  await Deno.remove(`${dir}/b`);
  await assertRejects(
    () => readAllOf(large.get(a.large.oid)!.open()),
    TrunkError,
    "vanished since writeFile",
  );
  await large.close();
});

Deno.test({
  name: "sdk large write: chunks that are not Uint8Array and bad sizes reject, staging nothing",
  ...opts,
  fn: () =>
    lowered(async () => {
      const url = `local://${await Deno.makeTempDir()}/trunks/chunks.trunk`;
      await using t = await Trunk.open({ url, create: true });
      const of = (chunks: unknown[]) =>
        new ReadableStream<Uint8Array>({
          start(ctl) {
            for (const c of chunks) ctl.enqueue(c as Uint8Array);
            ctl.close();
          },
        });
      for (
        const [chunk, kind] of [
          [new ArrayBuffer(8), "ArrayBuffer"],
          ["text", "string"],
          [new DataView(new ArrayBuffer(8)), "DataView"],
        ] as const
      ) {
        await assertRejects(
          () => t.writeFile("bad.bin", of([new Uint8Array(4), chunk])),
          TrunkError,
          `writeFile: stream chunks must be Uint8Array, got ${kind}`,
        );
        assertEquals(t.staged(), []);
      }
      for (const size of [-1, NaN, 1.5]) {
        await assertRejects(
          () => t.writeFile("bad.bin", of([new Uint8Array(4)]), { size }),
          TrunkError,
          "size must be a whole number",
        );
      }
      assertEquals(t.staged(), []);
      t.write("ok.txt", "fine\n");
      await t.commit({ message: "still commits", branch: "main" });
    }),
});

Deno.test({
  name:
    "sdk large write: a source file deleted, or changed keeping size and mtime, fails the push in one line; no ref moves",
  ...opts,
  fn: () =>
    lowered(async () => {
      const url = `local://${await Deno.makeTempDir()}/trunks/gone.trunk`;
      const tmp = await Deno.makeTempDir();
      const data = pseudoRandom(MiB, 71);
      await using t = await Trunk.open({ url, create: true });
      t.write("a.txt", "first\n");
      const first = await t.commit({ message: "first", branch: "main" });
      await t.push();
      await Deno.writeFile(`${tmp}/src.bin`, data);
      await t.writeFile("big/src.bin", `${tmp}/src.bin`);
      await t.commit({ message: "big", branch: "main" });
      await Deno.remove(`${tmp}/src.bin`);
      const gone = await assertRejects(() => t.push(), TrunkError);
      assertEquals(
        gone.message,
        `big/src.bin (staged from ${tmp}/src.bin) vanished since writeFile; writeFile it again, then commit and push`,
      );
      // Same size and mtime, other bytes.
      await Deno.writeFile(`${tmp}/src.bin`, data);
      const info = await Deno.stat(`${tmp}/src.bin`);
      t.discard();
      await t.writeFile("big/src.bin", `${tmp}/src.bin`);
      await t.commit({ message: "big again", branch: "main" });
      const other = data.slice();
      other[1000] ^= 0xff;
      await Deno.writeFile(`${tmp}/src.bin`, other);
      await Deno.utime(`${tmp}/src.bin`, info.atime!, info.mtime!);
      for (let i = 0; i < 2; i++) {
        await assertRejects(
          () => t.push(),
          TrunkError,
          `big/src.bin (staged from ${tmp}/src.bin) changed since writeFile; writeFile it again`,
        );
      }
      {
        await using o = await Trunk.open({ url });
        assertEquals(await o.resolve("main"), first.oid, "the ref did not move");
      }
    }),
});

Deno.test({
  name: "sdk write: within one staging the later of a file and a directory at one path wins",
  ...opts,
  fn: async () => {
    const url = `local://${await Deno.makeTempDir()}/trunks/conflict.trunk`;
    await using t = await Trunk.open({ url, create: true });
    t.write("p/q", "child\n");
    t.write("p", "file\n");
    await t.commit({ message: "file wins", branch: "main" });
    assertEquals(new TextDecoder().decode(await t.read("p")), "file\n");
    t.write("r", "file\n");
    t.write("r/s", "child\n");
    await t.commit({ message: "directory wins", branch: "main" });
    assertEquals(new TextDecoder().decode(await t.read("r/s")), "child\n");
    // A committed directory replaced by a file, then a file below it: only that file.
    t.write("d/x", "x\n");
    t.write("d/y", "y\n");
    await t.commit({ message: "dir", branch: "main" });
    t.write("d", "file\n");
    t.write("d/z", "z\n");
    t.remove("e/f");
    await t.commit({ message: "replace", branch: "main" });
    assertEquals(new TextDecoder().decode(await t.read("d/z")), "z\n");
    await assertRejects(() => t.read("d/x"));
    await assertRejects(() => t.read("p/q"));
  },
});
