/**
 * Large blobs on the push and fetch paths: a push uploads the blobs above the threshold
 * as chunks (before its segment and any ref entry); a fetch writes the ones its
 * segments left out into one verified pack for the repository to install.
 */
import { writeBlobPack } from "../pack/blob_pack.ts";
import type { BlobManifest } from "./blob_manifest.ts";
import { knownChunks, readLargeBlob, readManifest, storedBlobs, storeLargeBlob } from "./chunks.ts";
import { TrunkError } from "./errors.ts";
import { faultDelay, faultPoint } from "./faults.ts";
import { elapsedSince, moment } from "./lease.ts";
import { mapLimit } from "./pool.ts";
import { claimReused, type Reused } from "./reuse_guard.ts";
import type { Trunk } from "./trunk.ts";
import type { OnProgress } from "./progress.ts";

export const THRESHOLD_ENV = "TRUNKS_LARGE_BLOB_THRESHOLD";
export const DEFAULT_THRESHOLD = 4 * 1024 * 1024;

/** `TRUNKS_LARGE_BLOB_THRESHOLD`: bytes, or a number with k/m/g (binary units). */
export function largeBlobThreshold(raw = Deno.env.get(THRESHOLD_ENV)): number {
  if (raw === undefined || raw.trim() === "") return DEFAULT_THRESHOLD;
  const m = /^\s*(\d+)\s*([kmg]?)(?:i?b)?\s*$/i.exec(raw);
  if (!m) {
    throw new TrunkError(
      `${THRESHOLD_ENV}=${
        JSON.stringify(raw)
      } is not a size; use bytes or a number with k, m or g (e.g. 4m)`,
      "bad-input",
    );
  }
  const unit = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as "" | "k"];
  return Number(m[1]) * unit;
}

/**
 * THE rule for what goes as chunks: a blob larger than the threshold (git's split pack
 * leaves out exactly these with `--filter=blob:limit=<threshold + 1>`; the library
 * stages its content by the same rule).
 */
export function isLargeBlob(size: number, threshold = largeBlobThreshold()): boolean {
  return size > threshold;
}

export interface LargeBlobStats {
  blobs: number;
  chunks: number;
  bytes: number;
}

/** One blob's content, streamed (read it to the end before asking for the next). */
export interface BlobContent {
  oid: string;
  size: number;
  content: ReadableStream<Uint8Array>;
}

export interface UploadOptions {
  /** The blobs' sizes before they are read, so progress has a total. */
  sizes?: (oids: string[]) => Promise<Map<string, number>>;
  /** The blobs' bytes as their chunks are stored (or found already in the trunk). */
  onProgress?: OnProgress;
  /** Lines for a human (waiting for a clean). */
  notice?: (line: string) => void;
}

/**
 * Upload `oids` (large blobs the push sends) as chunks and manifests. Blobs the trunk
 * already has a manifest for are skipped, and so are chunks it already holds: an
 * interrupted push resumes where it stopped.
 */
export async function uploadLargeBlobs(
  trunk: Trunk,
  oids: string[],
  read: (oids: string[]) => AsyncIterable<BlobContent>,
  opts: UploadOptions = {},
): Promise<LargeBlobStats> {
  const stats: LargeBlobStats = { blobs: 0, chunks: 0, bytes: 0 };
  if (oids.length === 0) return stats;
  const listedAt = moment();
  const have = await storedBlobs(trunk.store);
  const wanted = [...new Set(oids)];
  const todo = wanted.filter((o) => !have.has(o));
  // What this push relies on without uploading it: claimed against a concurrent clean.
  const reused: Reused = {
    chunks: new Set(),
    manifests: new Set(wanted.filter((o) => have.has(o))),
  };
  const known = todo.length ? await knownChunks(trunk.store) : new Set<string>();
  const stored0 = new Set(known);
  const chunksOf = new Map<string, string[]>();
  const onProgress = opts.onProgress;
  const sizes = onProgress && todo.length && opts.sizes ? await opts.sizes(todo) : new Map();
  const sizeOf = (list: string[]) => list.reduce((n, o) => n + (sizes.get(o) ?? 0), 0);
  const progress = { bytes: 0, total: sizeOf(todo), items: 0, itemsTotal: todo.length };
  const report = (done = false) => onProgress?.({ kind: "blob-upload", ...progress, done });
  const upload = async (list: string[], known: Set<string>) => {
    for await (const blob of read(list)) {
      const stored = await storeLargeBlob(trunk.store, blob, known, {
        concurrency: Math.min(8, trunk.parallelism),
        onChunk: onProgress && ((size) => {
          progress.bytes += size;
          report();
        }),
      });
      faultPoint("push:after-large-blob");
      const shas = stored.manifest.chunks.map((c) => c.sha256);
      chunksOf.set(blob.oid, shas);
      for (const c of shas) if (stored0.has(c)) reused.chunks.add(c);
      stats.blobs++;
      stats.chunks += stored.uploadedChunks;
      stats.bytes += stored.storedBytes;
      progress.items++;
      report();
    }
  };
  if (todo.length) report();
  await upload(todo, known);
  // An upload past half a lease (any, with a lease of 0): what it stored first may be old
  // enough, as a clean lists it, to pass for garbage (no ref reaches it before this push's
  // entry): claimed as well, so no clean from now on deletes it, and one that did is
  // answered by uploading again.
  if (trunk.leaseMs === 0 || elapsedSince(listedAt) > trunk.leaseMs / 2) {
    for (const o of todo) {
      reused.manifests.add(o);
      for (const c of chunksOf.get(o) ?? []) reused.chunks.add(c);
    }
  }
  await faultDelay("push:before-claim");
  const lost = await claimReused(trunk.store, reused, listedAt, {
    onWait: () => opts.notice?.("trunks: waiting for a clean of the trunk to finish"),
  });
  if (lost.chunks.size || lost.manifests.size) {
    // A clean deleted them before it could see the claim: upload those blobs again.
    // Every clean from now on sees the claim, so this happens at most once.
    const again = wanted.filter((o) =>
      lost.manifests.has(o) || (chunksOf.get(o) ?? []).some((c) => lost.chunks.has(c))
    );
    const fresh = await knownChunks(trunk.store);
    for (const c of lost.chunks) fresh.delete(c);
    progress.total += sizeOf(again);
    progress.itemsTotal += again.length;
    await upload(again, fresh);
  }
  if (todo.length) report(true);
  return stats;
}

/**
 * The large blobs among `missing` (objects reachable from what git wants that the
 * repository still lacks after its segments), written into one pack at `dest`, every
 * blob verified; any object the trunk has neither in a segment nor as a large blob is
 * an error naming its key.
 */
export async function largeBlobPack(
  trunk: Trunk,
  missing: string[],
  dest: string,
  onProgress?: OnProgress,
): Promise<LargeBlobStats | null> {
  const stats: LargeBlobStats = { blobs: 0, chunks: 0, bytes: 0 };
  if (missing.length === 0) return null;
  const stored = await storedBlobs(trunk.store);
  const lacking = missing.filter((o) => !stored.has(o));
  if (lacking.length) {
    throw new TrunkError(
      `object ${lacking[0]} is in no segment of ${trunk.location} and there is no blobs/${
        lacking[0]
      } (${lacking.length} object(s) missing); the trunk is damaged, run trunks check`,
      "missing-object",
    );
  }
  const manifests: BlobManifest[] = await mapLimit(missing, trunk.parallelism, async (oid) => {
    const m = await readManifest(trunk.store, oid);
    if (!m) {
      throw new TrunkError(
        `${trunk.location}/blobs/${oid} vanished while fetching; retry the fetch`,
        "missing-object",
      );
    }
    return m;
  });
  const total = manifests.reduce((n, m) => n + m.size, 0);
  const report = (done = false) =>
    onProgress?.({
      kind: "blob-download",
      bytes: stats.bytes,
      total,
      items: stats.blobs,
      itemsTotal: manifests.length,
      done,
    });
  report();
  await writeBlobPack(
    dest,
    trunk.objectFormat,
    manifests.map((m) => ({
      size: m.size,
      open: () =>
        readLargeBlob(trunk.store, m).pipeThrough(
          new TransformStream({
            transform(piece, ctl) {
              stats.bytes += piece.byteLength;
              ctl.enqueue(piece);
              report();
            },
            flush() {
              stats.blobs++;
              stats.chunks += m.chunks.length;
            },
          }),
        ),
    })),
  );
  faultPoint("fetch:after-large-blobs");
  report(true);
  return stats;
}
