/**
 * A fetch's plan reads the sidecars of merged segments newest first (`readSidecars` with
 * `trustNested`): after a burst of pushes the newest merge's sidecar carries the chain, and
 * one that a newer sidecar carries is neither read nor, when read in the same wave,
 * decoded (a chain's sidecars run to hundreds of KB).
 */
import { assertEquals, assertRejects } from "../assert.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import type { Store } from "../../src/storage/store.ts";
import { segmentIdxKey, segmentPackKey, segmentReplacesKey } from "../../src/trunk/layout.ts";
import {
  decodeReplaces,
  encodeReplaces,
  listSegmentKeys,
  readSidecars,
} from "../../src/trunk/replaces.ts";
import { TrunkError } from "../../src/trunk/errors.ts";

const id = (c: string) => c.repeat(64);
const tick = () => new Promise((r) => setTimeout(r, 5));

async function segment(store: Store, sid: string, sidecar?: Uint8Array) {
  if (sidecar) await store.put(segmentReplacesKey(sid), sidecar);
  await store.put(segmentPackKey(sid), new Uint8Array([1]));
  await store.put(segmentIdxKey(sid), new Uint8Array([1]));
  await tick();
}

Deno.test("sidecars: one that a newer sidecar of the same wave carries is not decoded", async () => {
  const store = MemoryStore.named(crypto.randomUUID());
  // Oldest first: 1 (its sidecar damaged), then 2 carrying 1's list, then 3, the newest.
  // Newest first in waves of 1, 2, 4...: 3 alone, then 2 and 1 together.
  await segment(store, id("1"), new TextEncoder().encode("{"));
  await segment(
    store,
    id("2"),
    encodeReplaces([id("1"), id("a")], new Map([[id("1"), [id("b")]]])),
  );
  await segment(store, id("3"), encodeReplaces([id("c")]));
  const listing = await listSegmentKeys(store);
  assertEquals(listing.complete.length, 3);
  const bad: string[] = [];
  const got = await readSidecars(store, listing, (k) => bad.push(k), { trustNested: true });
  assertEquals(bad, []);
  assertEquals([...got.get(id("1"))!], [id("b")]);
  assertEquals([...got.get(id("2"))!], [id("1"), id("a")]);
  assertEquals([...got.get(id("3"))!], [id("c")]);
  // Read without that trust (check, clean), every sidecar is decoded: the damage is seen.
  await readSidecars(store, listing, (k) => bad.push(k));
  assertEquals(bad, [segmentReplacesKey(id("1"))]);
});

Deno.test("sidecars: a malformed list, nested list or time is refused", async () => {
  const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
  const ok = { v: 1, replaces: [id("a")] };
  const cases: [unknown, string][] = [
    [{ v: 1, replaces: [id("a"), "A".repeat(64)] }, "is not a segment list"],
    [{ v: 1, replaces: [id("a"), 7] }, "is not a segment list"],
    [{ v: 1, replaces: id("a") }, "is not a segment list"],
    [{ v: 2, replaces: [] }, "is not a segment list"],
    [{ ...ok, nested: null }, "has a malformed nested list"],
    [{ ...ok, nested: { [id("b")]: [id("c"), "x"] } }, "has a malformed nested list"],
    [{ ...ok, nested: { [id("b")]: id("c") } }, "has a malformed nested list"],
    [{ ...ok, nested: { nope: [id("c")] } }, "has a malformed nested list"],
    [{ ...ok, listed: { [id("a")]: "1" } }, "has malformed listed times"],
    [{ ...ok, listed: [1] }, "has malformed listed times"],
    [{ ...ok, listed: { nope: 1 } }, "has malformed listed times"],
    [{ ...ok, nestedListed: { [id("b")]: { [id("c")]: null } } }, "has malformed listed times"],
    [{ ...ok, nestedListed: { nope: {} } }, "has malformed listed times"],
    [{ ...ok, nestedListed: [] }, "has malformed listed times"],
  ];
  for (const [o, msg] of cases) {
    await assertRejects(
      () => Promise.resolve().then(() => decodeReplaces(enc(o), "segments/s.replaces")),
      TrunkError,
      `segments/s.replaces ${msg}`,
    );
  }
  const full = decodeReplaces(
    enc({
      ...ok,
      nested: { [id("b")]: [id("c"), id("d")] },
      listed: { [id("a")]: 5 },
      nestedListed: { [id("b")]: { [id("c")]: 6 } },
    }),
    "segments/s.replaces",
  );
  assertEquals([...full.replaces], [id("a")]);
  assertEquals(full.replaces.listed, new Map([[id("a"), 5]]));
  assertEquals([...full.nested.get(id("b"))!], [id("c"), id("d")]);
  assertEquals(full.nested.get(id("b"))!.listed, new Map([[id("c"), 6]]));
});

Deno.test("sidecars: a merge's whole mark (its nested lists' too) round-trips; a clean's and an older one's are not whole; a malformed one is refused", async () => {
  const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
  const key = "segments/s.replaces";
  const whole = Object.assign([id("c")], { whole: true as const });
  const nested = new Map([[id("b"), whole], [id("d"), [id("e")]]]);
  const merged = decodeReplaces(encodeReplaces([id("a")], nested, new Map(), { whole: true }), key);
  assertEquals(merged.replaces.whole, true);
  assertEquals(merged.nested.get(id("b"))!.whole, true);
  assertEquals(merged.nested.get(id("d"))!.whole, undefined);
  // A clean's (no mark asked for) carries no mark, not even its nested whole lists'.
  const clean = decodeReplaces(encodeReplaces([id("a")], nested), key);
  assertEquals(clean.replaces.whole, undefined);
  assertEquals(clean.nested.get(id("b"))!.whole, undefined);
  // Written before the mark: not whole.
  const old = decodeReplaces(enc({ v: 1, replaces: [id("a")], nested: { [id("b")]: [] } }), key);
  assertEquals([old.replaces.whole, old.nested.get(id("b"))!.whole], [undefined, undefined]);
  const ok = { v: 1, replaces: [id("a")] };
  for (
    const o of [{ ...ok, whole: "yes" }, { ...ok, whole: 1 }, { ...ok, nestedWhole: id("b") }, {
      ...ok,
      nestedWhole: ["nope"],
    }]
  ) {
    await assertRejects(
      () => Promise.resolve().then(() => decodeReplaces(enc(o), key)),
      TrunkError,
      `${key} has a malformed whole mark`,
    );
  }
});
