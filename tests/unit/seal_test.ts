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
