import { assert, assertEquals } from "../assert.ts";
import {
  foreignLayout,
  FORMAT,
  parseSegmentKey,
  refLayout,
  segmentPackKey,
  snapshotKey,
} from "../../src/trunk/layout.ts";
import { encodeRef } from "../../src/trunk/refcodec.ts";

const v1 = refLayout(1);
const v2 = refLayout(2);

Deno.test("layout: new trunks are format 2, flat; format 1 keeps its nested keys", () => {
  assertEquals(FORMAT, 2);
  assertEquals(v2.entryKey("refs/heads/main", 7), "refs/refs=2fheads=2fmain~000000000007");
  assertEquals(v1.entryKey("refs/heads/main", 7), "refs/refs=2fheads=2fmain/000000000007");
  for (const l of [v1, v2]) {
    const key = l.entryKey("refs/heads/Feature/ü", 12);
    assertEquals(l.parse(key), {
      enc: encodeRef("refs/heads/Feature/ü"),
      ref: "refs/heads/Feature/ü",
      seq: 12,
    });
    assertEquals(l.keyOf(encodeRef("refs/heads/Feature/ü"), 12), key);
  }
  let refused = "";
  try {
    refLayout(3);
  } catch (e) {
    refused = String(e);
  }
  assert(refused.includes("format 3"), refused);
});

Deno.test("layout: a key of the other format's shape is not an entry of a trunk", () => {
  const k1 = v1.entryKey("refs/heads/main", 1);
  const k2 = v2.entryKey("refs/heads/main", 1);
  assertEquals(v2.parts(k1), null);
  assertEquals(v1.parts(k2), null);
  assertEquals(foreignLayout(v2, k1), v1);
  assertEquals(foreignLayout(v1, k2), v2);
  assertEquals(foreignLayout(v2, k2), null);
  for (const l of [v1, v2]) {
    for (
      const bad of [
        snapshotKey(3),
        "refs/~snapshot/000000000001",
        "refs/~000000000001",
        "refs//000000000001",
        "refs/a/b~000000000001",
        "refs/a~b/000000000001",
        "refs/a~000000000001~000000000002",
        "refs/a/000000000001/000000000002",
        "refs/a~00000000001x",
        "refs/a/00000000001x",
        "refs/a~0000000000001",
        "other/a~000000000001",
      ]
    ) assertEquals(l.parts(bad), null, `${l.format}: ${bad}`);
  }
});

Deno.test("layout: format 2 keeps each ref's entries together and in seq order", () => {
  // Names that are prefixes of one another, and characters on both sides of `~`.
  const refs = [
    "refs/heads/a",
    "refs/heads/a-b",
    "refs/heads/a.b",
    "refs/heads/ab",
    "refs/heads/A",
  ];
  const keys = refs.flatMap((r) => [1, 2, 9, 10, 11].map((s) => v2.entryKey(r, s))).sort();
  for (const r of refs) {
    const at = keys.map((k, i) => v2.parse(k)!.ref === r ? i : -1).filter((i) => i >= 0);
    assertEquals(at[at.length - 1] - at[0], at.length - 1, `${r}'s entries are contiguous`);
    assertEquals(at.map((i) => v2.parts(keys[i])!.seq), [1, 2, 9, 10, 11]);
  }
  // Snapshots sort after every entry, as in format 1.
  assert(snapshotKey(1) > v2.entryKey("refs/heads/zzz", 999));
});

Deno.test("layout: a segment key parses to its id and part; any other key to null", () => {
  const hex = "0123456789abcdef".repeat(4);
  for (const part of ["pack", "idx", "replaces"] as const) {
    assertEquals(parseSegmentKey(`segments/${hex}.${part}`), { id: hex, part });
    assertEquals(parseSegmentKey(segmentPackKey(hex)), { id: hex, part: "pack" });
  }
  for (
    const bad of [
      `segments/${hex}.packs`,
      `segments/${hex}.pac`,
      `segments/${hex}.`,
      `segments/${hex}`,
      `segments/${hex}x.pack`,
      `segments/${hex.slice(1)}.pack`,
      `segments/${hex.slice(1)}A.pack`,
      `segments/${hex.slice(1)}/.pack`,
      `segments/${hex.slice(2)}.idx.pack`,
      `segments/${hex}.pack/x`,
      `segmentz/${hex}.pack`,
      `x/segments/${hex}.pack`,
      `chunks/${hex}.pack`,
      "",
    ]
  ) assertEquals(parseSegmentKey(bad), null, bad);
});
