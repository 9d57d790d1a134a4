/**
 * The handshake between a push reusing stored chunks and a clean deleting garbage
 * (src/trunk/reuse_guard.ts), step by step on a memory store: whichever side comes
 * second learns of the other.
 */
import { assert, assertEquals } from "../assert.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { beginCleaning, claimReused } from "../../src/trunk/reuse_guard.ts";
import { blobKey, chunkKey } from "../../src/trunk/layout.ts";
import { moment } from "../../src/trunk/lease.ts";

const X = "a".repeat(64);
const Y = "b".repeat(64);
const OID = "c".repeat(40);
const all = () => true; // every entry "older than the grace period"
const none = () => false;

async function stored() {
  const s = MemoryStore.named(`guard-${crypto.randomUUID()}`);
  for (const c of [X, Y]) await s.put(chunkKey(c), new Uint8Array([1]));
  await s.put(blobKey(OID), new Uint8Array([1]));
  return s;
}

Deno.test("reuse guard: a clean that starts after the claim spares what it names", async () => {
  const s = await stored();
  const lost = await claimReused(
    s,
    { chunks: new Set([X]), manifests: new Set([OID]) },
    moment(),
  );
  assertEquals(lost.chunks.size + lost.manifests.size, 0);
  const claim = await beginCleaning(s, none);
  assert(claim.touched.chunks.has(X) && claim.touched.manifests.has(OID));
  assert(!claim.touched.chunks.has(Y));
  await claim.finish(false);
  // Once older than the grace period the touch no longer counts, and is removed.
  const later = await beginCleaning(s, all);
  assertEquals(later.touched.chunks.size, 0);
  await later.finish(false);
  assertEquals((await s.list("gc/")).length, 0);
});

Deno.test("reuse guard: a push listed, then a clean deleted: the claim names what to upload again", async () => {
  const s = await stored();
  const listedAt = moment();
  const claim = await beginCleaning(s, all);
  assertEquals(claim.touched.chunks.size, 0);
  await s.delete(chunkKey(X));
  await s.delete(blobKey(OID));
  await claim.finish(true);
  const lost = await claimReused(
    s,
    { chunks: new Set([X, Y]), manifests: new Set([OID]) },
    listedAt,
  );
  assertEquals([...lost.chunks], [X]);
  assertEquals([...lost.manifests], [OID]);
});

Deno.test("reuse guard: a claim waits for a clean still deleting, then checks", async () => {
  const s = await stored();
  const claim = await beginCleaning(s, all);
  let waited = false;
  const pending = claimReused(
    s,
    { chunks: new Set([X]), manifests: new Set() },
    moment(),
    {
      pollMs: 20,
      onWait: () => waited = true,
    },
  );
  await new Promise((r) => setTimeout(r, 150));
  assert(waited, "the claim waits while the clean's marker is there");
  // The clean did not see the touch (it listed before): it deletes X, then finishes.
  await s.delete(chunkKey(X));
  await claim.finish(true);
  const lost = await pending;
  assertEquals([...lost.chunks], [X]);
});

Deno.test("reuse guard: nothing reused, or no clean since the listing: one put and one list", async () => {
  const s = await stored();
  const empty = await claimReused(
    s,
    { chunks: new Set(), manifests: new Set() },
    moment(),
  );
  assertEquals(empty.chunks.size, 0);
  assertEquals((await s.list("gc/")).length, 0, "nothing written when nothing is reused");
  const lost = await claimReused(
    s,
    { chunks: new Set([X]), manifests: new Set() },
    moment(),
  );
  assertEquals(lost.chunks.size, 0);
});
