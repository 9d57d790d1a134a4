/**
 * HEAD's branch in a listing (head.ts `headTarget`): the branch HEAD names while it lives,
 * else main, master or the first branch by name; never a deleted branch or another kind
 * of ref.
 */
import { assertEquals } from "../assert.ts";
import { headTarget } from "../../src/trunk/head.ts";
import type { RefEntry, RefState } from "../../src/trunk/refs.ts";

const ZERO = "0".repeat(40);

function state(refs: Record<string, string>, head?: string): RefState {
  const latest = new Map<string, RefEntry>();
  const entry = (ref: string, value: string, symref?: string): RefEntry => ({
    ref,
    seq: 1,
    old: ZERO,
    new: value,
    symref,
    time: "",
    writer: "",
    segments: [],
  });
  for (const [ref, value] of Object.entries(refs)) latest.set(ref, entry(ref, value));
  if (head) latest.set("HEAD", entry("HEAD", ZERO, head));
  return { latest, entryCount: latest.size, snapshotSeq: null, unsnapshotted: 0 };
}

Deno.test("headTarget: the branch HEAD names while it lives, else main, master or the first", () => {
  const a = "a".repeat(40);
  const refs = { "refs/heads/zeta": a, "refs/heads/main": a, "refs/tags/v1": a };
  assertEquals(headTarget(state(refs, "refs/heads/zeta")), "refs/heads/zeta");
  assertEquals(headTarget(state(refs)), "refs/heads/main");
  // Deleted, missing, or not a branch: the fallback.
  assertEquals(
    headTarget(state({ ...refs, "refs/heads/gone": ZERO }, "refs/heads/gone")),
    "refs/heads/main",
  );
  assertEquals(headTarget(state(refs, "refs/heads/missing")), "refs/heads/main");
  assertEquals(headTarget(state(refs, "refs/tags/v1")), "refs/heads/main");
  assertEquals(
    headTarget(state({ "refs/heads/b": a, "refs/heads/a": a }, "refs/heads/x")),
    "refs/heads/a",
  );
  assertEquals(headTarget(state({ "refs/tags/v1": a }, "refs/tags/v1")), null);
});
