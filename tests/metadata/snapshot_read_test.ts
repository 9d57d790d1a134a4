/**
 * What a snapshot writer's read keeps: every latest entry's stored text, checked, and no
 * parsed entry (a maintenance step at 20,000 refs would hold ~10 MB more at its peak).
 * A ref state's read keeps the parsed entries and no text.
 */
import { assert, assertEquals } from "../assert.ts";
import { getBytes } from "../../src/storage/store.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { readLatest } from "../../src/trunk/refs.ts";
import { TrunkError } from "../../src/trunk/errors.ts";
import { refEntryKey } from "../keys.ts";
import { memoryTrunkWith, oid } from "../memory_trunk.ts";

const dec = new TextDecoder();
const enc = new TextEncoder();

Deno.test("a snapshot writer's read keeps every latest entry's text, not the parsed entries", async () => {
  const { mem, meta } = await memoryTrunkWith(30, "t");
  const { state, raw } = await readLatest(mem, new MemoryCache(), meta, undefined, "snapshot");
  assertEquals(state.latest.size, 0);
  assertEquals(raw.size, 30);
  const key = refEntryKey("refs/heads/b7", 1);
  assertEquals(raw.get(key), dec.decode((await getBytes(mem, key))!));
  assertEquals(state.unsnapshotted, 30);
});

Deno.test("a ref state's read keeps the parsed entries, not the texts", async () => {
  const { mem, meta } = await memoryTrunkWith(30, "t");
  const { state, raw } = await readLatest(mem, new MemoryCache(), meta, undefined, "state");
  assertEquals(state.latest.size, 30);
  assertEquals(raw.size, 0);
});

Deno.test("a snapshot writer's read still checks every entry it does not keep", async () => {
  const { mem, meta } = await memoryTrunkWith(30, "t");
  const key = refEntryKey("refs/heads/b7", 1);
  const text = dec.decode((await getBytes(mem, key))!);
  await mem.delete(key);
  // Same size, `new` moved, the old seal kept: only hashing the entry finds it.
  assert(
    await mem.create(key, enc.encode(JSON.stringify({ ...JSON.parse(text), new: oid(9999) }))),
  );
  let refused: unknown = null;
  try {
    await readLatest(mem, new MemoryCache(), meta, undefined, "snapshot");
  } catch (e) {
    refused = e;
  }
  assert(
    refused instanceof TrunkError && refused.message.includes("does not match its seal"),
    `${refused}`,
  );
});
