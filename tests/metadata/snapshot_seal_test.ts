/**
 * A snapshot's seal is checked on the text as stored when it has the layout trunks writes
 * (no canonical copy of tens of MB rebuilt), and through the generic seal check otherwise:
 * either way a damaged snapshot is refused and a well-sealed one in another layout is read.
 */
import { assert, assertEquals } from "../assert.ts";
import { encodeSnapshot, parseSnapshot } from "../../src/trunk/snapshots.ts";
import { snapshotKey } from "../../src/trunk/layout.ts";
import { layout, refEntryKey } from "../keys.ts";
import { sealedEntries } from "./sealed_entries.ts";
import { checkSeal } from "../../src/trunk/seal.ts";
import { createHash } from "node:crypto";
import { TrunkError } from "../../src/trunk/errors.ts";

const entries = (n: number) => sealedEntries(n);

const key = snapshotKey(4);

/** `fn` throws a TrunkError whose message includes `part`. */
function refused(fn: () => unknown, part = "", what = ""): void {
  try {
    fn();
  } catch (e) {
    assert(e instanceof TrunkError && e.message.includes(part), `${what}: ${e}`);
    return;
  }
  throw new Error(`expected a refusal ${what}`);
}
const text = (m: Map<string, string>) => new TextDecoder().decode(encodeSnapshot("t1", 4, m));

Deno.test("snapshot: what encodeSnapshot writes parses back, entry for entry", () => {
  const m = entries(300);
  const s = parseSnapshot(text(m), key, 4, layout);
  assertEquals([s.trunk, s.seq, s.entries], ["t1", 4, m]);
});

Deno.test("snapshot: one byte changed anywhere is refused", () => {
  const raw = text(entries(50));
  // Inside an entry's oid, in a key, in the time, in the trunk id: same length, still JSON.
  for (const at of [raw.indexOf("b17"), raw.indexOf('"time"') + 9, raw.indexOf("t1") + 1]) {
    const c = raw[at] === "1" ? "2" : "1";
    const bad = raw.slice(0, at) + c + raw.slice(at + 1);
    refused(() => parseSnapshot(bad, key, 4, layout), "", `at ${at}`);
  }
  const pos = raw.indexOf(`\\"new\\":\\"`) + 10;
  const flipped = raw.slice(0, pos) + (raw[pos] === "f" ? "e" : "f") + raw.slice(pos + 1);
  refused(() => parseSnapshot(flipped, key, 4, layout), "seal", "a flipped oid digit");
});

Deno.test("snapshot: another writer's layout is checked by its canonical seal", () => {
  const m = entries(20);
  const o = JSON.parse(text(m));
  // Same content, keys in another order and indented: not the stored-text layout.
  const other = JSON.stringify(
    { sum: o.sum, entries: o.entries, time: o.time, seq: o.seq, trunk: o.trunk, v: 1 },
    null,
    1,
  );
  assertEquals(parseSnapshot(other, key, 4, layout).entries, m);
  const wrong = JSON.stringify({ ...o, sum: "0".repeat(64) });
  refused(() => parseSnapshot(wrong, key, 4, layout), "seal", "a wrong sum");
});

Deno.test("snapshot: a text the canonical check refuses is refused by the fast path too", () => {
  // Sealed over its own text, in the layout trunks writes, but not canonical: a key twice
  // (JSON.parse keeps the last value), keys out of order, or spaces. parseSnapshot must
  // agree with checkSeal on the same object, which refuses each.
  const [k1, k2] = [refEntryKey("refs/heads/a", 1), refEntryKey("refs/heads/b", 1)];
  const bodies = [
    `{${JSON.stringify(k1)}:"A",${JSON.stringify(k1)}:"B"}`,
    `{${JSON.stringify(k2)}:"B",${JSON.stringify(k1)}:"A"}`,
    `{${JSON.stringify(k1)}: "A"}`,
    `{${JSON.stringify(k1)}:"\\u0041"}`,
  ];
  const [trunk, seq, time] = ["t1", 4, "2026-12-02T00:00:00.000Z"];
  for (const body of bodies) {
    const sum = createHash("sha256").update(`{"entries":`).update(body).update(
      `,"seq":${seq},"time":${JSON.stringify(time)},"trunk":${JSON.stringify(trunk)},"v":1}`,
    ).digest("hex");
    const raw = `{"v":1,"trunk":"${trunk}","seq":${seq},"time":"${time}","entries":${body},` +
      `"sum":"${sum}"}`;
    refused(() => checkSeal(JSON.parse(raw), "snapshot"), "seal", `checkSeal ${body}`);
    refused(() => parseSnapshot(raw, key, 4, layout), "seal", `parseSnapshot ${body}`);
  }
});
