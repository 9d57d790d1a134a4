/**
 * Which entries a reader hashes: every one whose text no other seal covers. An entry read
 * from its own key, or a cached row recorded without the checked mark, has its own seal
 * checked, however many there are (up to 64 are hashed ahead with WebCrypto, the rest by
 * parseEntry) and whatever else the same read takes from a snapshot.
 */
import { assert } from "../assert.ts";
import { getBytes } from "../../src/storage/store.ts";
import { listedStamp, MemoryCache } from "../../src/trunk/cache.ts";
import { refEntryKey } from "../keys.ts";
import { takeSnapshot } from "../../src/trunk/maintenance.ts";
import { readRefState, type RefEntry } from "../../src/trunk/refs.ts";
import { TrunkError } from "../../src/trunk/errors.ts";
import { memoryTrunkWith, oid } from "../memory_trunk.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The entry with `new` moved and its old seal kept: same size, the seal no longer holds. */
function tampered(entryJson: string, newOid: string): string {
  return JSON.stringify({ ...JSON.parse(entryJson) as RefEntry, new: newOid });
}

async function refusedForSeal(read: () => Promise<unknown>, what: string): Promise<void> {
  try {
    await read();
  } catch (e) {
    assert(
      e instanceof TrunkError && e.message.includes("does not match its seal"),
      `${what}: ${e}`,
    );
    return;
  }
  throw new Error(`expected a refusal: ${what}`);
}

for (const refs of [64, 65, 80]) {
  for (const which of [0, refs - 1]) {
    Deno.test(`${refs} entries read from their keys: a broken seal on b${which} is refused`, async () => {
      const { mem, meta } = await memoryTrunkWith(refs, "t");
      const key = refEntryKey(`refs/heads/b${which}`, 1);
      const text = dec.decode((await getBytes(mem, key))!);
      await mem.delete(key);
      assert(await mem.create(key, enc.encode(tampered(text, oid(9999)))));
      await refusedForSeal(
        () => readRefState(mem, new MemoryCache(), meta),
        `${refs} refs, b${which}`,
      );
    });
  }
}

Deno.test("a cached row not recorded as checked is hashed, beside a snapshot's copies", async () => {
  const { mem, meta, trunk } = await memoryTrunkWith(40, "t");
  await takeSnapshot(trunk);
  const listed = await mem.list("refs/");
  const key = refEntryKey("refs/heads/b3", 1);
  const l = listed.find((e) => e.key === key)!;
  const text = dec.decode((await getBytes(mem, key))!);
  // Cached by a reader that did not check it (the plain stamp), and rotted since: the listing
  // vouches for the key, the seal does not; the other 39 entries come from the snapshot.
  const cache = new MemoryCache();
  cache.putEntries(
    meta.id,
    new Map([[key, tampered(text, oid(9999))]]),
    new Map([[key, listedStamp(l)!]]),
  );
  await refusedForSeal(() => readRefState(mem, cache, meta), "a rotted unchecked row");
});
