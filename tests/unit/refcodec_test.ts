import { assert, assertEquals } from "../assert.ts";
import { decodeRefSegment, encodeRef } from "../../src/trunk/refcodec.ts";
import { parseRefEntryKey, refEntryKey } from "../../src/trunk/layout.ts";
import { assertKey } from "../../src/storage/store.ts";

Deno.test("ref names round-trip through one key segment", () => {
  const names = [
    "HEAD",
    "refs/heads/main",
    "refs/heads/Feature/Auth",
    "refs/tags/v1.0.0-rc.1",
    "refs/heads/ünïcode/名前",
    "refs/heads/with space",
    "refs/heads/a=b_c~d%e",
  ];
  for (const n of names) {
    const seg = encodeRef(n);
    assert(!seg.includes("/"), seg);
    assertKey(`refs/${seg}/000000000001`);
    assertEquals(decodeRefSegment(seg), n);
  }
});

Deno.test("refs differing only in case never collide, even on case-folding file systems", () => {
  const a = encodeRef("refs/heads/main").toLowerCase();
  const b = encodeRef("refs/heads/Main").toLowerCase();
  const c = encodeRef("refs/heads/MAIN").toLowerCase();
  assertEquals(new Set([a, b, c]).size, 3);
});

Deno.test("very long ref names are hashed, stay unique and fit a file name", () => {
  const base = "refs/heads/" + "x".repeat(400);
  const one = encodeRef(base + "1");
  const two = encodeRef(base + "2");
  assert(one.length <= 180 && two.length <= 180);
  assert(one !== two);
  assertEquals(decodeRefSegment(one), null);
});

Deno.test("ref entry keys sort numerically by seq and parse back", () => {
  const k9 = refEntryKey("refs/heads/main", 9);
  const k10 = refEntryKey("refs/heads/main", 10);
  assert(k9 < k10);
  assertEquals(parseRefEntryKey(k10), {
    enc: "refs=2fheads=2fmain",
    ref: "refs/heads/main",
    seq: 10,
  });
  assertEquals(parseRefEntryKey("refs/x/12"), null);
});
