import { canonicalJson, checkSeal, seal } from "../../src/trunk/seal.ts";
import { TrunkError } from "../../src/trunk/errors.ts";
import { assert, assertEquals, assertMatch } from "../assert.ts";

Deno.test("canonicalJson: key order does not matter, undefined fields are left out", () => {
  assertEquals(canonicalJson({ b: 1, a: [{ d: 2, c: "x" }] }), '{"a":[{"c":"x","d":2}],"b":1}');
  assertEquals(canonicalJson({ a: 1, b: undefined }), canonicalJson({ a: 1 }));
});

Deno.test("seal: survives a JSON round trip in any key order; any edit breaks it", () => {
  const sealed = seal({ ref: "refs/heads/main", seq: 1, segments: ["a"] });
  assertEquals(sealed.sum.length, 64);
  const reordered = JSON.parse(
    JSON.stringify({ sum: sealed.sum, segments: sealed.segments, seq: 1, ref: sealed.ref }),
  );
  checkSeal(reordered, "entry");
  for (const edit of [{ seq: 2 }, { ref: "refs/heads/x" }, { segments: [] }, { extra: 1 }]) {
    let err: unknown;
    try {
      checkSeal({ ...sealed, ...edit }, "ref entry refs/x/000000000001");
    } catch (e) {
      err = e;
    }
    assert(err instanceof TrunkError && err.code === "corrupt", JSON.stringify(edit));
    assertMatch(err.message, /^ref entry refs\/x\/000000000001 does not match its seal/);
  }
});

Deno.test("seal: objects written before seals (no sum) are accepted; a non-string sum is not", () => {
  checkSeal({ ref: "x" }, "entry");
  let err: unknown;
  try {
    checkSeal({ ref: "x", sum: 5 }, "entry");
  } catch (e) {
    err = e;
  }
  assert(err instanceof TrunkError);
});

Deno.test("canonicalJson: nested objects, arrays and odd values as the plain recursive form", () => {
  const reference = (v: unknown): string => {
    if (Array.isArray(v)) return `[${v.map(reference).join(",")}]`;
    if (v && typeof v === "object") {
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${reference(o[k])}`).join(",")}}`;
    }
    return JSON.stringify(v);
  };
  const values: unknown[] = [
    { b: 1, a: [1, "x", null, true], c: { z: 1, a: [{ q: 2, b: undefined }] }, d: undefined },
    { ref: 'refs/heads/\u2028"q\\', seq: 3, segments: ["a", "b"], sum: "s", n: -0.5 },
    { x: [undefined, 1] },
    { x: [[1], { b: 2, a: 1 }] },
    [{ b: 1, a: 2 }, 3],
    {},
    [],
    "s",
    3,
    null,
  ];
  for (const v of values) assertEquals(canonicalJson(v), reference(v), JSON.stringify(v));
});
