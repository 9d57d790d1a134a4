/**
 * Large blobs in the remote helper: a push uploads the blobs above the threshold as
 * chunks (before its segment and any ref entry), a fetch writes the ones its segments
 * left out into the local repository, verified, through one pack.
 */
import { writeBlobPack } from "../pack/blob_pack.ts";
import { catBlobs, missingObjects } from "../git/blobs.ts";
import { ingestPack } from "../git/pack.ts";
import { TrunkError } from "../trunk/errors.ts";
import {
  knownChunks,
  readLargeBlob,
  readManifest,
  storedBlobs,
  storeLargeBlob,
} from "../trunk/chunks.ts";
import { faultPoint } from "../trunk/faults.ts";
import { mapLimit } from "../trunk/pool.ts";
import type { Trunk } from "../trunk/trunk.ts";
import type { BlobManifest } from "../trunk/blob_manifest.ts";
import type { HelperOptions } from "./options.ts";
import { formatBytes, say } from "./io.ts";

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

export interface LargeBlobStats {
  blobs: number;
  chunks: number;
  bytes: number;
}

/**
 * Upload `oids` (large blobs the push sends) as chunks and manifests. Blobs the trunk
 * already has a manifest for are skipped, and so are chunks it already holds: an
 * interrupted push resumes where it stopped.
 */
export async function pushLargeBlobs(
  trunk: Trunk,
  oids: string[],
  opts: HelperOptions,
): Promise<LargeBlobStats> {
  const stats: LargeBlobStats = { blobs: 0, chunks: 0, bytes: 0 };
  if (oids.length === 0) return stats;
  const have = await storedBlobs(trunk.store);
  const todo = [...new Set(oids)].filter((o) => !have.has(o));
  if (todo.length === 0) return stats;
  const known = await knownChunks(trunk.store);
  let seen = 0;
  const progress = (final = false) => {
    if (!opts.progress) return;
    say(
      `Uploading large blobs: ${stats.blobs}/${todo.length}, ${formatBytes(seen)} read, ${
        formatBytes(stats.bytes)
      } sent${final ? ", done.\n" : "\r"}`,
    );
  };
  for await (const blob of catBlobs(todo)) {
    const stored = await storeLargeBlob(trunk.store, blob, known, {
      concurrency: Math.min(8, trunk.store.capabilities.parallelism),
      onChunk: (size) => {
        seen += size;
        progress();
      },
    });
    faultPoint("push:after-large-blob");
    stats.blobs++;
    stats.chunks += stored.uploadedChunks;
    stats.bytes += stored.uploadedBytes;
  }
  progress(true);
  return stats;
}

/**
 * After a fetch's segments are indexed: write every blob reachable from `wants` that
 * the repository still lacks, from its chunks. All of them go into one pack that is
 * installed only when every blob was verified, so a bad chunk leaves nothing behind.
 */
export async function fetchLargeBlobs(
  trunk: Trunk,
  gitDir: string,
  wants: string[],
  opts: HelperOptions,
): Promise<LargeBlobStats> {
  const stats: LargeBlobStats = { blobs: 0, chunks: 0, bytes: 0 };
  const stored = await storedBlobs(trunk.store);
  if (stored.size === 0) return stats;
  const missing = await missingObjects(wants);
  if (missing.length === 0) return stats;
  const lacking = missing.filter((o) => !stored.has(o));
  if (lacking.length) {
    throw new TrunkError(
      `object ${lacking[0]} is in no segment and has no ${trunk.store.location}/blobs/${
        lacking[0]
      } (${lacking.length} object(s) missing); the trunk is damaged, run trunks check`,
      "missing-object",
    );
  }
  const manifests: BlobManifest[] = await mapLimit(
    missing,
    trunk.store.capabilities.parallelism,
    async (oid) => {
      const m = await readManifest(trunk.store, oid);
      if (!m) {
        throw new TrunkError(
          `${trunk.store.location}/blobs/${oid} vanished while fetching; retry the fetch`,
          "missing-object",
        );
      }
      return m;
    },
  );
  const total = manifests.reduce((n, m) => n + m.size, 0);
  const progress = (final = false) => {
    if (!opts.progress) return;
    const pct = total ? Math.floor((stats.bytes / total) * 100) : 100;
    say(
      `Downloading large blobs: ${pct}% (${stats.blobs}/${manifests.length}), ${
        formatBytes(stats.bytes)
      }${final ? ", done.\n" : "\r"}`,
    );
  };
  const packDir = `${gitDir}/objects/pack`;
  await Deno.mkdir(packDir, { recursive: true });
  const tmp = `${packDir}/tmp_trunks_${crypto.randomUUID()}.pack`;
  await writeBlobPack(
    tmp,
    trunk.meta.objectFormat,
    manifests.map((m) => ({
      size: m.size,
      open: () =>
        readLargeBlob(trunk.store, m).pipeThrough(
          new TransformStream({
            transform(piece, ctl) {
              stats.bytes += piece.byteLength;
              ctl.enqueue(piece);
              progress();
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
  await ingestPack(gitDir, tmp);
  progress(true);
  return stats;
}
