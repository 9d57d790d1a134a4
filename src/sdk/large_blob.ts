/**
 * Large blobs live outside packs (`blobs/<oid>` + `chunks/<sha256>`): reassemble one as
 * a stream, verifying each chunk by SHA-256 and the whole by its git object id, with a
 * few chunks fetched ahead so memory stays bounded whatever the blob's size.
 */
import { createHash } from "node:crypto";
import { getBytes, type Store } from "../storage/store.ts";
import { decodeBlobManifest } from "../trunk/blob_manifest.ts";
import { decodeChunk } from "../trunk/chunk_codec.ts";
import { TrunkError } from "../trunk/errors.ts";
import { blobKey, chunkKey } from "../trunk/layout.ts";
import type { ObjectFormat } from "./objects.ts";

const AHEAD = 4;

/**
 * The blob's size and a stream of its bytes, or null when the trunk has no manifest for
 * it. A damaged chunk errors the stream before its bytes are delivered; a whole that
 * does not hash to `oid` errors it at the end.
 */
export async function openLargeBlob(
  store: Store,
  oid: string,
  format: ObjectFormat,
  onBytes: (n: number) => void,
): Promise<{ size: number; stream: ReadableStream<Uint8Array> } | null> {
  const key = blobKey(oid);
  const raw = await getBytes(store, key);
  if (!raw) return null;
  onBytes(raw.byteLength);
  const m = decodeBlobManifest(raw, key);
  if (m.oid !== oid) {
    throw new TrunkError(`${key} describes blob ${m.oid}, not ${oid}; run trunks check`, "corrupt");
  }
  const fetchChunk = async (c: { sha256: string; size: number }) => {
    const ck = chunkKey(c.sha256);
    const stored = await getBytes(store, ck);
    if (!stored) {
      throw new TrunkError(
        `chunk ${ck} of blob ${oid} is missing from ${store.location}; run trunks check`,
        "missing-object",
      );
    }
    onBytes(stored.byteLength);
    const bytes = decodeChunk(stored, c.size, `${ck} of blob ${oid} on ${store.location}`);
    const got = createHash("sha256").update(bytes).digest("hex");
    if (got !== c.sha256 || bytes.byteLength !== c.size) {
      throw new TrunkError(
        `chunk ${ck} on ${store.location} is corrupt (SHA-256 ${
          got.slice(0, 12)
        }…); run trunks check`,
        "corrupt",
      );
    }
    return bytes;
  };
  const whole = createHash(format).update(new TextEncoder().encode(`blob ${m.size}\0`));
  const inFlight: Promise<Uint8Array>[] = [];
  let next = 0;
  const refill = () => {
    while (inFlight.length < AHEAD && next < m.chunks.length) {
      const p = fetchChunk(m.chunks[next++]);
      p.catch(() => {}); // surfaced when its turn comes
      inFlight.push(p);
    }
  };
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      refill();
      const p = inFlight.shift();
      if (!p) {
        const got = whole.digest("hex");
        if (got !== oid) {
          controller.error(
            new TrunkError(
              `blob ${oid} reassembled from ${key} hashes to ${got}; run trunks check`,
              "corrupt",
            ),
          );
        } else controller.close();
        return;
      }
      try {
        const bytes = await p;
        whole.update(bytes);
        controller.enqueue(bytes);
      } catch (e) {
        controller.error(e);
      }
    },
  }, { highWaterMark: 0 });
  return { size: m.size, stream };
}

/** The whole blob in memory, or null when the trunk has no manifest for it. */
export async function readLargeBlob(
  store: Store,
  oid: string,
  format: ObjectFormat,
  onBytes: (n: number) => void,
): Promise<Uint8Array | null> {
  const opened = await openLargeBlob(store, oid, format, onBytes);
  if (!opened) return null;
  const out = new Uint8Array(opened.size);
  let at = 0;
  for await (const part of opened.stream) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}
