/**
 * Hostile review of 165bd3c: a mirror set now repairs a copy whenever a storage's read of
 * it fails with a StoreError "corrupt". Not every such error says the stored copy is bad:
 * PostgreSQL ("changed or was deleted while being read") and SFTP ("shorter than expected
 * (changed while read)") say it when the object went away under the read, as when GC (on
 * another machine) deletes a segment no ref needs while a reader with an older view reads
 * it. The "repair" then writes the segment back onto the primary GC just emptied of it.
 */
import { assertEquals } from "../assert.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { type Range, StoreError } from "../../src/storage/store.ts";
import { MirroredStore } from "../../src/trunk/mirrors.ts";
import { segmentPackKey } from "../../src/trunk/layout.ts";
import { downloadSegmentBytesVerified } from "../../src/trunk/segment_copies.ts";
import { member, sha256 } from "./harness.ts";

/** A primary whose segment is deleted (GC elsewhere) while it is read, as PostgreSQL reports it. */
class DeletedWhileRead extends MemoryStore {
  override async get(key: string, range?: Range): Promise<ReadableStream<Uint8Array> | null> {
    if (!key.endsWith(".pack")) return await super.get(key, range);
    await this.delete(key);
    throw new StoreError(
      `postgres: ${key} changed or was deleted while being read (part 1 of upload u)`,
      "corrupt",
    );
  }
}

Deno.test("mirrors: a segment deleted on the primary while read is read from the mirror, not written back to the primary", async () => {
  const pack = new TextEncoder().encode("PACK segment GC deletes");
  const id = await sha256(pack);
  const p = member("primary", "primary", new DeletedWhileRead("memory://primary"));
  const m = member("m", "mirror");
  await MemoryStore.prototype.put.call(p.store, segmentPackKey(id), pack);
  await m.store.put(segmentPackKey(id), pack);
  const notes: string[] = [];
  const set = new MirroredStore([p, m], { notice: (n) => notes.push(n) });
  assertEquals(await downloadSegmentBytesVerified(set, id, 1 << 20), pack);
  const left = await p.store.list("segments/");
  assertEquals(left.map((e) => e.key), [], `the primary holds it again; notices: ${notes}`);
});
