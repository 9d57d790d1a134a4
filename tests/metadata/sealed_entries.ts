/**
 * Ref entries for snapshot tests: `n` sealed entries of trunk "t1", one per branch, keyed
 * as the trunk stores them. `writer` is free text a seal must hash as written (quotes,
 * non-ASCII).
 */
import { seal } from "../../src/trunk/seal.ts";
import { refEntryKey } from "../keys.ts";

export function sealedEntries(n: number, writer = 'w "quoted"'): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i < n; i++) {
    const e = seal({
      trunk: "t1",
      ref: `refs/heads/b${i}`,
      seq: 1,
      old: "0".repeat(40),
      new: (i % 16).toString(16).repeat(40),
      time: "2026-12-02T00:00:00.000Z",
      writer,
      segments: ["a".repeat(64)],
    });
    m.set(refEntryKey(e.ref, 1), JSON.stringify(e));
  }
  return m;
}
