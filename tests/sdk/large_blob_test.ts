/**
 * A blob kept outside packs (`blobs/<oid>` + `chunks/<sha256>`, as large-file pushes
 * store it) is reassembled by the library and verified per chunk and as a whole.
 */
import { createHash } from "node:crypto";
import { assertEquals, assertRejects } from "../assert.ts";
import { Trunk, TrunkError } from "../../mod.ts";
import { openStore } from "../../src/storage/registry.ts";
import { encodeBlobManifest } from "../../src/trunk/blob_manifest.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { blobKey, chunkKey } from "../../src/trunk/layout.ts";
import { Trunk as CoreTrunk } from "../../src/trunk/trunk.ts";
import { concat } from "../../src/pack/bytes.ts";
import { encodeCommit, encodeTree, objectId } from "../../src/pack/objects.ts";

import { buildSegment } from "../../src/pack/pack_format.ts";

const sig = { name: "T", email: "t@x", timestamp: 1700000000, timezoneOffset: 0 };

/** A trunk whose main has `big.bin` stored only as chunks; returns the blob and chunk keys. */
async function largeBlobTrunk(url: string, data: Uint8Array) {
  const store = await openStore(url);
  const core = await CoreTrunk.openOrCreate(store, new MemoryCache(), "test", "sha1");
  const oid = objectId("sha1", "blob", data);
  const cuts = [0, 1_000_000, 2_500_000, data.byteLength];
  const chunks = [];
  for (let i = 0; i + 1 < cuts.length; i++) {
    const bytes = data.subarray(cuts[i], cuts[i + 1]);
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    await store.put(chunkKey(sha256), bytes);
    chunks.push({ sha256, size: bytes.byteLength });
  }
  await store.put(blobKey(oid), encodeBlobManifest({ oid, size: data.byteLength, chunks }));
  const tree = encodeTree([{ mode: "100644", name: "big.bin", oid, type: "blob" }]);
  const treeOid = objectId("sha1", "tree", tree);
  const commit = encodeCommit({
    tree: treeOid,
    parents: [],
    author: sig,
    committer: sig,
    message: "large",
  });
  const seg = buildSegment(
    [{ type: "commit", data: commit }, { type: "tree", data: tree }],
    "sha1",
  );
  await core.putSegment(seg.id, seg.pack, seg.idx);
  const r = await core.updateRef({
    ref: "refs/heads/main",
    new: objectId("sha1", "commit", commit),
    base: null,
    segments: [seg.id],
  });
  if (!r.ok) throw new Error("ref update failed");
  return { store, oid, chunks };
}

Deno.test("sdk: a blob in no segment is read from its manifest and chunks, verified", async () => {
  const url = `memory://sdk-large-${crypto.randomUUID()}/trunks/big.trunk`;
  const data = new Uint8Array(3_300_000).map((_, i) => (i * 2654435761) >>> 24);
  const { store, chunks } = await largeBlobTrunk(url, data);
  {
    await using t = await Trunk.open({ url });
    assertEquals(await t.read("big.bin"), data);
    assertEquals((await t.list())[0].oid, objectId("sha1", "blob", data));
  }
  {
    // Streamed chunk by chunk (a fresh instance: nothing cached): the same bytes.
    await using t = await Trunk.open({ url });
    const parts: Uint8Array[] = [];
    for await (const p of await t.readStream("big.bin")) parts.push(p);
    assertEquals(parts.length, 3);
    assertEquals(concat(parts), data);
  }
  // A damaged chunk is an error naming its key, never wrong bytes.
  const bad = chunks[1];
  await store.delete(chunkKey(bad.sha256));
  await store.put(chunkKey(bad.sha256), new Uint8Array(bad.size));
  {
    await using t = await Trunk.open({ url });
    const err = await assertRejects(() => t.read("big.bin"), TrunkError, chunkKey(bad.sha256));
    assertEquals((err as TrunkError).code, "corrupt");
  }
  {
    await using t = await Trunk.open({ url });
    // The stream delivers the good first chunk, then errors before the damaged one.
    const got: Uint8Array[] = [];
    const streamErr = await assertRejects(async () => {
      for await (const p of await t.readStream("big.bin")) got.push(p);
    }, TrunkError);
    assertEquals((streamErr as TrunkError).code, "corrupt");
    assertEquals(got.length, 1);
  }
  await store.delete(chunkKey(bad.sha256));
  {
    await using t = await Trunk.open({ url });
    const err = await assertRejects(() => t.read("big.bin"), TrunkError, "is missing");
    assertEquals((err as TrunkError).code, "missing-object");
  }
});

Deno.test("sdk: a blob with neither a segment nor a manifest is a missing-object error", async () => {
  const url = `memory://sdk-large-${crypto.randomUUID()}/trunks/big.trunk`;
  const data = new Uint8Array(10).fill(7);
  const { store, oid } = await largeBlobTrunk(url, data);
  await store.delete(blobKey(oid));
  await using t = await Trunk.open({ url });
  const err = await assertRejects(() => t.read("big.bin"), TrunkError, `object ${oid}`);
  assertEquals((err as TrunkError).code, "missing-object");
});
