/**
 * Large blobs as content-defined chunks (DESIGN.md, "Large blobs"): `chunks/<sha256>`
 * holds one chunk, `blobs/<oid>` the blob's ordered chunk list. Writes go chunks first,
 * manifest last, so a listed manifest means a complete blob. Reads verify every chunk's
 * SHA-256 and the reassembled blob's git object id as the bytes stream past; memory is
 * a few chunks, whatever the blob's size.
 */
import { createHash } from "./node_crypto.ts";
import { toHex } from "../pack/bytes.ts";
import type { Store } from "../storage/store.ts";
import { listKeys } from "../storage/store.ts";
import { BLOB_MANIFEST_MAX_BYTES, getSmall } from "./small_objects.ts";
import { type BlobManifest, decodeBlobManifest, encodeBlobManifest } from "./blob_manifest.ts";
import { decodeChunk, encodeChunk } from "./chunk_codec.ts";
import { type ChunkerParams, chunkStream } from "./chunker.ts";
import { TrunkError } from "./errors.ts";
import { faultDelay, faultPoint } from "./faults.ts";
import { blobKey, BLOBS_PREFIX, chunkKey, CHUNKS_PREFIX } from "./layout.ts";
import { TaskLimiter } from "./pool.ts";

export interface StoredBlob {
  manifest: BlobManifest;
  /** Chunks this call uploaded (the rest were already in the trunk). */
  uploadedChunks: number;
  /** Their plain size, and what they took in the store (compressed where that paid). */
  uploadedBytes: number;
  storedBytes: number;
}

export async function sha256Hex(data: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>),
  );
  return toHex(digest);
}

/** Chunk hashes the trunk already holds (one list); an upload skips them. */
export async function knownChunks(store: Store): Promise<Set<string>> {
  const out = new Set<string>();
  for (const { key } of await store.list(CHUNKS_PREFIX)) {
    const m = /^chunks\/([0-9a-f]{64})$/.exec(key);
    if (m) out.add(m[1]);
  }
  return out;
}

/** Oids of every blob with a manifest (one list; `listed`: its keys, listed already). */
export async function storedBlobs(store: Store, listed?: Promise<string[]>): Promise<Set<string>> {
  const out = new Set<string>();
  for (const key of await (listed ?? listKeys(store, BLOBS_PREFIX))) {
    const m = /^blobs\/([0-9a-f]{40}|[0-9a-f]{64})$/.exec(key);
    if (m) out.add(m[1]);
  }
  return out;
}

/**
 * Cut `content` into chunks, upload those not in `known` (at most `concurrency` at a
 * time; `known` grows as they go), then write the manifest. `size` is the blob's
 * length as git reported it: a stream that ends early or runs long is an error and no
 * manifest is written.
 */
export async function storeLargeBlob(
  store: Store,
  blob: { oid: string; size: number; content: ReadableStream<Uint8Array> },
  known: Set<string>,
  opts: {
    concurrency?: number;
    params?: ChunkerParams;
    onChunk?: (size: number, uploaded: boolean) => void;
  } = {},
): Promise<StoredBlob> {
  const limiter = new TaskLimiter(opts.concurrency ?? store.capabilities.parallelism);
  const chunks: BlobManifest["chunks"] = [];
  let uploadedChunks = 0;
  let uploadedBytes = 0;
  let storedBytes = 0;
  let total = 0;
  // The manifest promises these bytes are the blob: check before recording it.
  const hasher = new BlobHasher(oidAlgo(blob.oid), blob.size);
  try {
    for await (const chunk of blob.content.pipeThrough(chunkStream(opts.params))) {
      hasher.update(chunk);
      const sha256 = await sha256Hex(chunk);
      chunks.push({ sha256, size: chunk.byteLength });
      total += chunk.byteLength;
      if (known.has(sha256)) {
        opts.onChunk?.(chunk.byteLength, false);
        continue;
      }
      known.add(sha256);
      uploadedChunks++;
      uploadedBytes += chunk.byteLength;
      await limiter.run(async () => {
        const stored = encodeChunk(chunk);
        storedBytes += stored.byteLength;
        await store.put(chunkKey(sha256), stored);
        faultPoint("push:after-chunk");
        await faultDelay("push:after-chunk");
        opts.onChunk?.(chunk.byteLength, true);
      });
    }
  } finally {
    await limiter.drain();
  }
  if (total !== blob.size) {
    throw new TrunkError(
      `blob ${blob.oid} ended after ${total} of ${blob.size} bytes while uploading it; nothing was recorded, retry the push`,
      "corrupt",
    );
  }
  const got = hasher.digest();
  if (got !== blob.oid) {
    throw new TrunkError(
      `blob ${blob.oid} read back as object ${got} while uploading it; nothing was recorded, retry the push`,
      "corrupt",
    );
  }
  const manifest = { oid: blob.oid, size: blob.size, chunks };
  await store.put(blobKey(blob.oid), encodeBlobManifest(manifest));
  return { manifest, uploadedChunks, uploadedBytes, storedBytes };
}

/** What reads of large blobs downloaded: `onBytes` is told each object's size. */
export interface ReadCounter {
  onBytes?: (n: number) => void;
}

/** `blobs/<oid>`'s bytes (null: there is none); one past its bound is a "corrupt" error, unread. */
export function readManifestBytes(store: Store, oid: string): Promise<Uint8Array | null> {
  return getSmall(store, blobKey(oid), BLOB_MANIFEST_MAX_BYTES, "large-blob manifest");
}

/** The manifest of a stored large blob, or null when the trunk has none for `oid`. */
export async function readManifest(
  store: Store,
  oid: string,
  opts: ReadCounter = {},
): Promise<BlobManifest | null> {
  const key = blobKey(oid);
  const raw = await readManifestBytes(store, oid);
  if (!raw) return null;
  opts.onBytes?.(raw.byteLength);
  const m = decodeBlobManifest(raw, `${store.location}/${key}`);
  if (m.oid !== oid) {
    throw new TrunkError(
      `${store.location}/${key} describes blob ${m.oid}, not ${oid}; the trunk is damaged, run trunks check`,
      "corrupt",
    );
  }
  return m;
}

/** One chunk, read whole (chunks are at most a few MiB) and checked against its name. */
async function readChunk(
  store: Store,
  c: { sha256: string; size: number },
  oid: string,
  opts: ReadCounter,
): Promise<Uint8Array> {
  const key = chunkKey(c.sha256);
  const where = `${store.location}/${key}`;
  const stream = await store.get(key);
  if (!stream) {
    throw new TrunkError(
      `chunk ${where} of blob ${oid} is missing; the trunk is damaged, run trunks check`,
      "missing-object",
    );
  }
  // Stored raw it is exactly c.size bytes, compressed it is shorter: never read past that.
  let buf: Uint8Array = new Uint8Array(c.size);
  let at = 0;
  let long = false;
  for await (const part of stream) {
    if (at + part.byteLength > c.size) {
      long = true;
      break;
    }
    buf.set(part, at);
    at += part.byteLength;
  }
  opts.onBytes?.(at);
  if (long) {
    throw new TrunkError(
      `chunk ${where} of blob ${oid} is corrupt: longer than the ${c.size} bytes its manifest lists; run trunks check`,
      "corrupt",
    );
  }
  buf = decodeChunk(buf.subarray(0, at), c.size, `${where} of blob ${oid}`);
  const got = await sha256Hex(buf);
  if (got !== c.sha256) {
    throw new TrunkError(
      `chunk ${where} of blob ${oid} is corrupt: its SHA-256 is ${
        got.slice(0, 12)
      }…, not its name; run trunks check`,
      "corrupt",
    );
  }
  return buf;
}

/** Git's object id of a blob, computed as its bytes stream past. */
export class BlobHasher {
  #h;
  constructor(readonly algo: "sha1" | "sha256", size: number) {
    this.#h = createHash(algo).update(`blob ${size}\0`);
  }
  update(data: Uint8Array): void {
    this.#h.update(data);
  }
  digest(): string {
    return this.#h.digest("hex");
  }
}

export function oidAlgo(oid: string): "sha1" | "sha256" {
  return oid.length === 64 ? "sha256" : "sha1";
}

/**
 * The blob's bytes in order. Up to `prefetch` chunks download ahead of the reader.
 * Each chunk is checked by SHA-256 before it is passed on, and the whole blob by its
 * git object id before the stream ends: a reader that writes what it reads must treat
 * an error at the very end as "discard everything".
 */
export function readLargeBlob(
  store: Store,
  manifest: BlobManifest,
  opts: { prefetch?: number } & ReadCounter = {},
): ReadableStream<Uint8Array> {
  const prefetch = Math.max(1, opts.prefetch ?? Math.min(4, store.capabilities.parallelism));
  const hasher = new BlobHasher(oidAlgo(manifest.oid), manifest.size);
  const pending: Promise<Uint8Array>[] = [];
  let next = 0;
  const fill = () => {
    while (pending.length < prefetch && next < manifest.chunks.length) {
      const p = readChunk(store, manifest.chunks[next++], manifest.oid, opts);
      p.catch(() => {}); // observed when its turn comes (or dropped on cancel)
      pending.push(p);
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      fill();
      const p = pending.shift();
      if (!p) {
        const got = hasher.digest();
        if (got !== manifest.oid) {
          throw new TrunkError(
            `${store.location}/${
              blobKey(manifest.oid)
            } reassembles to object ${got}, not ${manifest.oid}; the trunk is damaged, run trunks check`,
            "corrupt",
          );
        }
        ctl.close();
        return;
      }
      const chunk = await p;
      hasher.update(chunk);
      ctl.enqueue(chunk);
      fill();
    },
  }, { highWaterMark: 0 });
}
