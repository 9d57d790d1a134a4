/**
 * A list without times (an older client's clean) vouches for the segments stored before
 * its own sidecar. Carried nested by a newer sidecar once its own is deleted, it vouches
 * for none still stored: the carrier's time is later than the clean's, and a segment stored
 * again between the two (the same pack, holding objects the clean dropped) was taken as
 * covered. The same sequence with real git: tests/gc/old_sidecar_between_test.ts.
 */
import { assertEquals } from "../assert.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { encodeReplaces, planFetch } from "../../src/trunk/replaces.ts";

const id = (i: number) => i.toString(16).padStart(64, "0");
const tick = () => new Promise((r) => setTimeout(r, 5));

Deno.test("a fetch's plan: an older client's list carried nested, its sidecar deleted, covers no segment stored again", async () => {
  const store = MemoryStore.named(crypto.randomUUID());
  const b = (s: string) => new TextEncoder().encode(s);
  const seg = async (sid: string, sidecar?: Uint8Array) => {
    if (sidecar) await store.put(`segments/${sid}.replaces`, sidecar);
    await store.put(`segments/${sid}.pack`, b(`pack ${sid}`));
    await store.put(`segments/${sid}.idx`, b("idx"));
  };
  const [x, c, m] = [id(1), id(2), id(3)];
  await seg(x);
  await tick();
  await seg(c, encodeReplaces([x])); // an older client's clean: no times
  const listed = await store.list("segments/");
  const cAt = listed.find((e) => e.key === `segments/${c}.pack`)!.modified.getTime();
  await tick();
  await seg(x); // stored again since the clean (the same id)
  await tick();
  // A merge of c (not x), carrying c's list as it was: without times.
  await seg(m, encodeReplaces([c], new Map([[c, [x]]]), new Map([[c, cAt]]), { whole: true }));
  const planned = async () =>
    (await planFetch(store, new Set())).download.map((d) => [d.segment.id, d.covers]);
  // c's own sidecar is listed: judged by its time, x is not covered.
  assertEquals(await planned(), [[m, [c]], [x, []]]);
  for (const ext of ["idx", "pack", "replaces"]) await store.delete(`segments/${c}.${ext}`);
  // Deleted with its segment: its carried list covers no segment still stored.
  assertEquals(await planned(), [[m, [c]], [x, []]]);
});
