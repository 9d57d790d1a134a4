/**
 * encodeSnapshot writes its text part by part into one buffer and hashes it from there;
 * old readers read what it writes, so its bytes must be exactly those of the plain
 * encoding (the whole text built as one string, sealed by seal.ts's canonical JSON).
 */
import { assert, assertEquals } from "../assert.ts";
import { encodeSnapshot, parseSnapshot } from "../../src/trunk/snapshots.ts";
import { snapshotKey } from "../../src/trunk/layout.ts";
import { layout, refEntryKey } from "../keys.ts";
import { canonicalJson, checkSeal, seal } from "../../src/trunk/seal.ts";
import { createHash } from "node:crypto";

const TIME = "2026-12-02T06:30:00.000Z";

/** The plain encoding: an object, sealed over its canonical JSON, stringified. */
function reference(trunk: string, seq: number, entries: Map<string, string>): Uint8Array {
  const sorted = [...entries.keys()].sort();
  const obj: Record<string, unknown> = {
    v: 1,
    trunk,
    seq,
    time: TIME,
    entries: Object.fromEntries(sorted.map((k) => [k, entries.get(k)])),
  };
  obj.sum = createHash("sha256").update(canonicalJson(obj)).digest("hex");
  return new TextEncoder().encode(JSON.stringify(obj));
}

function entry(ref: string, seq: number, writer = "w"): [string, string] {
  const e = seal({
    trunk: "t1",
    ref,
    seq,
    old: "0".repeat(40),
    new: "ab".repeat(20),
    time: TIME,
    writer,
    segments: ["c".repeat(64)],
  });
  return [refEntryKey(ref, seq), JSON.stringify(e)];
}

const shapes: [string, Map<string, string>][] = [
  ["empty", new Map()],
  ["one ref", new Map([entry("refs/heads/main", 1)])],
  [
    "many refs, inserted out of order",
    new Map(Array.from({ length: 2000 }, (_, i) => entry(`refs/heads/b${(i * 7919) % 2000}`, 1))),
  ],
  [
    "unicode names and writers (2-, 3- and 4-byte UTF-8, quotes, escapes)",
    new Map([
      entry("refs/heads/café", 3, 'Zoë "q" \\ back'),
      entry("refs/heads/日本語", 1, "書き手"),
      entry("refs/heads/emoji-😀", 2, "🚀 writer"),
      entry("refs/tags/v1", 1, "tab\there"),
      entry("HEAD", 1),
    ]),
  ],
];

for (const [name, entries] of shapes) {
  Deno.test(`snapshot encoding: ${name} is byte for byte the plain encoding`, () => {
    const got = encodeSnapshot("trunk-é", 7, entries, TIME);
    assertEquals(got, reference("trunk-é", 7, entries));
    const text = new TextDecoder().decode(got);
    checkSeal(JSON.parse(text), "snapshot");
    assertEquals(parseSnapshot(text, snapshotKey(7), 7, layout).entries, entries);
  });
}

Deno.test("snapshot encoding: a lone surrogate in a value is written as JSON.stringify escapes it", () => {
  // Not a valid ref entry, but the encoder must still size and write it exactly.
  const entries = new Map([[refEntryKey("refs/heads/x", 1), "lone \ud800 surrogate"]]);
  const got = encodeSnapshot("t1", 1, entries, TIME);
  assertEquals(got, reference("t1", 1, entries));
  assert(new TextDecoder().decode(got).includes("\\ud800"));
});
