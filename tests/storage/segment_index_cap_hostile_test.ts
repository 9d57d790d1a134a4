/**
 * A segment's index is read whole into memory, and the store is untrusted: a small pack
 * listed with an index of gigabytes would be read to the end. The read is refused, in one
 * line naming the segment, past what any index of the pack at its listed size can be, and
 * the store is asked for no more than that; real indexes (many tiny objects, sha1 and
 * sha256) stay under it.
 */
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import type { Range, Store } from "../../src/storage/store.ts";
import { TrunkError } from "../../src/trunk/errors.ts";
import { segmentIdxKey, segmentPackKey } from "../../src/trunk/layout.ts";
import { maxIndexSize, readSegmentIndex } from "../../src/trunk/segments.ts";

/** `store`, counting the bytes its reads hand over. */
function counted(store: Store): { store: Store; read: () => number } {
  let read = 0;
  const watched: Store = Object.assign(Object.create(store), {
    get: async (key: string, range?: Range) => {
      const body = await store.get(key, range);
      return body?.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(piece, c) {
            read += piece.byteLength;
            c.enqueue(piece);
          },
        }),
      ) ?? null;
    },
  });
  return { store: watched, read: () => read };
}

Deno.test("segment index: one larger than its pack allows is refused before it is read", async () => {
  const root = await Deno.makeTempDir({ prefix: "trunks-idxcap-" });
  try {
    const local = await openStore(`local://${root}/trunks/app.trunk`);
    const id = "c".repeat(64);
    const pack = crypto.getRandomValues(new Uint8Array(300));
    await local.put(segmentPackKey(id), pack);
    await local.put(segmentIdxKey(id), new Uint8Array(12 << 20));
    const { store, read } = counted(local);
    const err = await assertRejects(
      () => readSegmentIndex(store, id, pack.byteLength),
      TrunkError,
    ) as TrunkError;
    assertEquals(err.code, "corrupt");
    assert(err.message.includes(segmentIdxKey(id)) && !err.message.includes("\n"), err.message);
    const max = maxIndexSize(pack.byteLength);
    assert(read() <= max + 1, `${read()} bytes read for an index of at most ${max}`);
    // A listing with no size for the pack bounds nothing (it could list a huge one): the
    // index is read as before.
    assertEquals((await readSegmentIndex(local, id, NaN)).byteLength, 12 << 20);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

async function git(dir: string, args: string[], stdin?: string): Promise<string> {
  const child = new Deno.Command("git", {
    args,
    cwd: dir,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  if (!out.success) throw new Error(`git ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

Deno.test("segment index: real indexes of packs of tiny objects are under the bound", async () => {
  for (const format of ["sha1", "sha256"]) {
    const dir = await Deno.makeTempDir({ prefix: "trunks-idxbound-" });
    try {
      await git(dir, ["init", "-q", `--object-format=${format}`]);
      // Distinct one- and two-byte blobs, and an empty one: the smallest objects a pack holds.
      const paths: string[] = [];
      for (let i = 0; i < 100; i++) {
        paths.push(`${dir}/f${i}`);
        await Deno.writeTextFile(paths[i], i === 0 ? "" : String(i - 1));
      }
      const oids = await git(dir, ["hash-object", "-w", "--stdin-paths"], paths.join("\n") + "\n");
      const packs = [
        await git(dir, ["pack-objects", "-q", "--window=0", "p"], oids),
        // A single empty blob.
        await git(dir, ["pack-objects", "-q", "p"], oids.split("\n")[0] + "\n"),
      ];
      for (const hash of packs.map((h) => h.trim())) {
        const packSize = (await Deno.stat(`${dir}/p-${hash}.pack`)).size;
        const idxSize = (await Deno.stat(`${dir}/p-${hash}.idx`)).size;
        assert(
          idxSize <= maxIndexSize(packSize),
          `${format}: an index of ${idxSize} bytes for a ${packSize}-byte pack`,
        );
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});
