/**
 * Large blobs live outside packs (`blobs/<oid>` + `chunks/<sha256>`): reassemble one,
 * verifying each chunk by SHA-256 and the whole by its git object id.
 */
import { createHash } from "node:crypto";
import { getBytes, type Store } from "../storage/store.ts";
import { decodeBlobManifest } from "../trunk/blob_manifest.ts";
import { TrunkError } from "../trunk/errors.ts";
import { blobKey, chunkKey } from "../trunk/layout.ts";
import { mapLimit } from "../trunk/pool.ts";
import { type ObjectFormat, objectId } from "./objects.ts";

/** The blob's bytes, or null when the trunk has no manifest for it. */
export async function readLargeBlob(
  store: Store,
  oid: string,
  format: ObjectFormat,
  onBytes: (n: number) => void,
): Promise<Uint8Array | null> {
  const key = blobKey(oid);
  const raw = await getBytes(store, key);
  if (!raw) return null;
  onBytes(raw.byteLength);
  const m = decodeBlobManifest(raw, key);
  if (m.oid !== oid) {
    throw new TrunkError(`${key} describes blob ${m.oid}, not ${oid}; run trunks check`, "corrupt");
  }
  const out = new Uint8Array(m.size);
  const starts: number[] = [];
  let at = 0;
  for (const c of m.chunks) starts.push(at), at += c.size;
  await mapLimit(m.chunks, Math.min(8, store.capabilities.parallelism), async (c, i) => {
    const ck = chunkKey(c.sha256);
    const bytes = await getBytes(store, ck);
    if (!bytes) {
      throw new TrunkError(
        `chunk ${ck} of blob ${oid} is missing from ${store.location}; run trunks check`,
        "missing-object",
      );
    }
    onBytes(bytes.byteLength);
    const got = createHash("sha256").update(bytes).digest("hex");
    if (got !== c.sha256 || bytes.byteLength !== c.size) {
      throw new TrunkError(
        `chunk ${ck} on ${store.location} is corrupt (SHA-256 ${
          got.slice(0, 12)
        }…); run trunks check`,
        "corrupt",
      );
    }
    out.set(bytes, starts[i]);
  });
  const whole = objectId(format, "blob", out);
  if (whole !== oid) {
    throw new TrunkError(
      `blob ${oid} reassembled from ${key} hashes to ${whole}; run trunks check`,
      "corrupt",
    );
  }
  return out;
}
