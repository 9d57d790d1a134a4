/**
 * A clean deletes half an upload (a pack without its index, or the reverse) only when it
 * was old as the check listed it, and only while it is still half of one: a push's pack
 * and index are uploaded side by side, so a listing can show one alone, and the push may
 * be acknowledged before a slow clean gets to its deletes. A stress run of the lease race
 * (tests/gc/lease_test.ts) lost acknowledged pushes this way.
 */
import { assert, assertEquals } from "../assert.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { getBytes } from "../../src/storage/store.ts";
import { checkTrunk } from "../../src/trunk/check.ts";
import { cleanTrunk } from "../../src/trunk/gc.ts";
import { segmentIdxKey, segmentPackKey } from "../../src/trunk/layout.ts";
import { ensureMeta } from "../../src/trunk/meta.ts";

const GRACE_MS = 300;
const id = "ab".repeat(32);
const half = new Uint8Array([1]);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A trunk with a lease of 0: any grace is allowed. */
async function trunk(name: string) {
  const store = new MemoryStore(`memory://${name}`);
  await ensureMeta(store, "sha1", { leaseSeconds: 0 });
  return store;
}

async function checkThenClean(store: MemoryStore, meanwhile: () => Promise<void>) {
  const workDir = await Deno.makeTempDir();
  try {
    const { report, inventory } = await checkTrunk(store, { workDir });
    assert(report.ok, JSON.stringify(report.problems));
    await meanwhile();
    return await cleanTrunk(store, inventory!, { graceMs: GRACE_MS, workDir });
  } finally {
    await Deno.remove(workDir, { recursive: true });
  }
}

Deno.test("clean: a pack listed young without its index survives a slow clean; its push completed", async () => {
  const store = await trunk("completed");
  await store.put(segmentPackKey(id), half);
  const r = await checkThenClean(store, async () => {
    await store.put(segmentIdxKey(id), half); // the push's index lands, the push is acked
    await sleep(GRACE_MS + 100); // the clean is slow: the pack is old by now
  });
  assertEquals(r.deleted.strays, 0);
  assert(await getBytes(store, segmentPackKey(id)), "the acknowledged push's pack is gone");
  assert(await getBytes(store, segmentIdxKey(id)));
});

Deno.test("clean: half an upload listed young waits, however long the clean took", async () => {
  const store = await trunk("young");
  await store.put(segmentPackKey(id), half);
  const r = await checkThenClean(store, () => sleep(GRACE_MS + 100));
  assertEquals([r.deleted.strays, r.waiting.strays], [0, 1]);
  assert(await getBytes(store, segmentPackKey(id)));
});

Deno.test("clean: an old half uploaded again (the push run again) is not deleted", async () => {
  const store = await trunk("again");
  await store.put(segmentPackKey(id), half);
  await sleep(GRACE_MS + 100);
  const r = await checkThenClean(store, async () => {
    await sleep(5);
    await store.put(segmentPackKey(id), half);
    await store.put(segmentIdxKey(id), half);
  });
  assertEquals(r.deleted.strays, 0);
  assert(await getBytes(store, segmentPackKey(id)));
});

Deno.test("clean: an old half still alone is deleted", async () => {
  const store = await trunk("garbage");
  await store.put(segmentIdxKey(id), half);
  await sleep(GRACE_MS + 100);
  const r = await checkThenClean(store, () => Promise.resolve());
  assertEquals(r.deleted.strays, 1);
  assertEquals(await getBytes(store, segmentIdxKey(id)), null);
});
