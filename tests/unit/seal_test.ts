import { canonicalJson, checkSeal, checkSealAsync, seal } from "../../src/trunk/seal.ts";
import { parseMeta, parseMetaAsync } from "../../src/trunk/meta.ts";
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

Deno.test("checkSealAsync (WebCrypto) passes and refuses exactly what checkSeal does", async () => {
  const sealed = seal({ id: "t1", format: 1, nested: { b: [1, "x"], a: null }, word: "ünï" });
  const cases: [string, object][] = [
    ["sealed", sealed],
    ["edited", { ...sealed, id: "t2" }],
    ["no sum", { id: "t1" }],
    ["non-string sum", { ...sealed, sum: 1 }],
    ["other sum", { ...sealed, sum: "0".repeat(64) }],
  ];
  for (const [name, value] of cases) {
    let sync: string | null = null;
    let async_: string | null = null;
    try {
      checkSeal(value, "x");
    } catch (e) {
      sync = (e as TrunkError).message;
    }
    try {
      await checkSealAsync(value, "x");
    } catch (e) {
      async_ = (e as TrunkError).message;
    }
    assertEquals(async_, sync, name);
  }
});

Deno.test("trunk.json's cached copy is still checked against its seal (parseMetaAsync)", async () => {
  const meta = seal({ format: 1, id: "abc", objectFormat: "sha1", created: "", generator: "t" });
  const good = JSON.stringify(meta);
  assertEquals(await parseMetaAsync(good, "memory://x"), parseMeta(good, "memory://x"));
  const damaged = JSON.stringify({ ...meta, objectFormat: "sha256" });
  let refused: unknown;
  try {
    await parseMetaAsync(damaged, "memory://x");
  } catch (e) {
    refused = e;
  }
  assert(refused instanceof TrunkError && refused.code === "corrupt", String(refused));
  assertMatch((refused as Error).message, /does not match its seal/);
});

Deno.test("canonicalJson: a flat object's text is the one JSON.stringify writes with sorted keys", () => {
  // The fast path copies the object with its keys made in order; these must not differ.
  const keyList = (o: Record<string, unknown>) => JSON.stringify(o, Object.keys(o).sort());
  const values: Record<string, unknown>[] = [
    { trunk: "t", ref: "refs/heads/b", seq: 1, segments: ["a"], writer: 'w "q"\u2028', n: null },
    { "10": 1, "9": 2, a: 3, "1x": 4 }, // array indexes list first in any object
    JSON.parse('{"__proto__":1,"b":2}'), // an own __proto__ key, not a prototype
    Object.assign(Object.create(null), { b: 1, a: [1, null, "x"] }),
    Object.assign(new Date(0), { a: 1 }), // a Date's toJSON writes its time
    { a: undefined, b: [Symbol("s")] as unknown[], c: "x" },
    {},
  ];
  for (const v of values) assertEquals(canonicalJson(v), keyList(v), String(Object.keys(v)));
  const { sum: _, ...rest } = seal(values[0]);
  assertEquals(rest, values[0]);
});

Deno.test("seal: the one-shot hash is node:crypto's SHA-256 of the UTF-8 text", async () => {
  const { sha256Hex } = await import("../../src/pack/hash.ts");
  const { createHash } = await import("node:crypto");
  for (const text of ["", "refs/heads/main", "é \u2028 \u{1F600}", "x".repeat(100_000)]) {
    assertEquals(sha256Hex(text), createHash("sha256").update(text).digest("hex"));
  }
});
