/**
 * Segments: immutable, self-contained git packs named by the SHA-256 of their bytes,
 * each with its `.idx`. A segment is complete when both are listed: pack and index are
 * uploaded in parallel (one round trip, not two), and a lone half of an interrupted upload
 * is a stray that readers skip and a clean removes past its grace.
 */
import { createHash, digest, StreamHash, toHexString } from "../pack/hash.ts";
import { countedPut, type OnBytes, refundableStream } from "../storage/flow.ts";
import { getAtMost, getBytes, type Range, readUpTo, type Store } from "../storage/store.ts";
import { TrunkError } from "./errors.ts";
import { faultDelay, faultPoint } from "./faults.ts";
import {
  SEGMENT_ID_RE,
  segmentIdxKey,
  segmentPackKey,
  segmentReplacesKey,
  SEGMENTS_PREFIX,
} from "./layout.ts";

export interface SegmentInfo {
  id: string;
  packSize: number;
  idxSize: number;
  /** The pack's stored time. */
  modified: Date;
  /** The index's, where the listing gave it. */
  idxModified?: Date;
}

/** Complete segments (pack and index both present), in key order. */
export async function listSegments(store: Store): Promise<SegmentInfo[]> {
  const packs = new Map<string, { size: number; modified: Date }>();
  const idxs = new Map<string, number>();
  for (const e of await store.list(SEGMENTS_PREFIX)) {
    const m = /^segments\/([0-9a-f]{64})\.(pack|idx)$/.exec(e.key);
    if (!m) continue;
    if (m[2] === "pack") packs.set(m[1], { size: e.size, modified: e.modified });
    else idxs.set(m[1], e.size);
  }
  const out: SegmentInfo[] = [];
  for (const [id, p] of packs) {
    const idxSize = idxs.get(id);
    if (idxSize !== undefined) out.push({ id, packSize: p.size, idxSize, modified: p.modified });
  }
  return out;
}

export async function sha256File(path: string): Promise<string> {
  // A pack up to WHOLE_HASH_MAX (a push of a few commits) is hashed by WebCrypto: no
  // node:crypto loaded.
  using f = await Deno.open(path);
  return await sha256Read(f, (await f.stat()).size);
}

/**
 * Up to this size a file is hashed whole by WebCrypto (read in one buffer: ~30 ms for
 * 10 MB); past it, streamed through node:crypto, whose load alone costs ~30 ms of CPU.
 */
const WHOLE_HASH_MAX = 16 << 20;

/** The SHA-256 of what `f` holds from where it is to its end; `size`: what it should hold. */
async function sha256Read(f: Deno.FsFile, size: number, signal?: AbortSignal): Promise<string> {
  let head: Uint8Array | null = null;
  if (size <= WHOLE_HASH_MAX) {
    // One byte more than expected: a file found longer is streamed like a large one.
    const buf = new Uint8Array(size + 1);
    let at = 0;
    while (at < buf.byteLength) {
      const n = await f.read(buf.subarray(at));
      if (n === null) return toHexString(await digest("sha256", buf.subarray(0, at)));
      at += n;
    }
    head = buf;
  }
  const h = createHash("sha256");
  if (head) h.update(head);
  const buf = new Uint8Array(1 << 20);
  for (;;) {
    signal?.throwIfAborted();
    const n = await f.read(buf);
    if (n === null) break;
    h.update(buf.subarray(0, n));
  }
  return h.digest("hex");
}

async function fileStream(path: string): Promise<ReadableStream<Uint8Array>> {
  return (await Deno.open(path)).readable;
}

/**
 * The pack as a stream; the crash point fires once the store holds part of it, not all
 * (and a test's delay holds the upload there, as a slow network would).
 */
async function packStream(path: string): Promise<ReadableStream<Uint8Array>> {
  let handed = 0;
  return (await fileStream(path)).pipeThrough(
    new TransformStream({
      async transform(chunk, c) {
        if (handed++ === 1) {
          faultPoint("push:mid-segment");
          await faultDelay("push:mid-segment");
        }
        c.enqueue(chunk);
      },
      flush() {
        if (handed === 1) faultPoint("push:mid-segment");
      },
    }),
  );
}

/**
 * Upload pack and index, in parallel, under the pack's SHA-256: streamed from disk when
 * given paths, as they are when given bytes (the library builds small packs in memory).
 * Both must be stored before any entry may name the segment. `onBytes` hears of both
 * files' bytes as the store takes them.
 */
export async function uploadSegment(
  store: Store,
  id: string,
  pack: string | Uint8Array,
  idx: string | Uint8Array,
  onBytes?: OnBytes,
): Promise<void> {
  if (!SEGMENT_ID_RE.test(id)) throw new TrunkError(`bad segment id ${id}`, "bad-input");
  const packUp = (async () => {
    const packData = typeof pack === "string" ? await packStream(pack) : pack;
    await countedPut(store, segmentPackKey(id), packData, onBytes);
    faultPoint("push:after-segment-pack");
  })();
  const idxUp = (async () => {
    const idxData = typeof idx === "string" ? await fileStream(idx) : idx;
    await countedPut(store, segmentIdxKey(id), idxData, onBytes);
  })();
  // Both settle before this returns or throws: no upload left running behind a failure.
  const [p, i] = await Promise.allSettled([packUp, idxUp]);
  if (p.status === "rejected") throw p.reason;
  if (i.status === "rejected") throw i.reason;
}

/** Bytes a segment upload moves: its pack and its index. */
export async function segmentUploadSize(
  pack: string | Uint8Array,
  idx: string | Uint8Array,
): Promise<number> {
  const size = async (f: string | Uint8Array) =>
    typeof f === "string" ? (await Deno.stat(f)).size : f.byteLength;
  return await size(pack) + await size(idx);
}

/** A segment's whole index (small: about 28 bytes per object). */
export async function readSegmentIndex(store: Store, id: string): Promise<Uint8Array> {
  const key = segmentIdxKey(id);
  const bytes = await getBytes(store, key);
  if (!bytes) throw missingSegment(store, key);
  return bytes;
}

/**
 * A compacted segment (a clean's or a merge's) and its sidecar, stored in the order that
 * keeps every reader and deleter right: the sidecar first, so whoever sees the segment
 * knows what it replaces. But an equal segment already stored that another compaction
 * replaced (ids are packs' hashes) is stored again first: that compaction then no longer
 * vouches for it (replaces.ts `vouchedLists`) before this sidecar names what it holds;
 * else the two would replace each other, or the other would be taken to cover what only
 * this one holds.
 */
export async function storeCompacted(
  store: Store,
  id: string,
  built: { packPath: string; idxPath: string },
  sidecar: Uint8Array,
  stored: "no" | "current" | "replaced",
  points: { afterSidecar: string; afterSegment: string },
): Promise<void> {
  if (stored === "replaced") await uploadSegment(store, id, built.packPath, built.idxPath);
  await store.put(segmentReplacesKey(id), sidecar);
  faultPoint(points.afterSidecar);
  if (stored === "no") await uploadSegment(store, id, built.packPath, built.idxPath);
  faultPoint(points.afterSegment);
}

/** A segment's pack, whole or one byte range of it (the caller verifies what it reads). */
export async function readSegmentPack(
  store: Store,
  id: string,
  range?: Range,
): Promise<Uint8Array> {
  const key = segmentPackKey(id);
  const bytes = await getBytes(store, key, range);
  if (!bytes) throw missingSegment(store, key);
  return bytes;
}

function missingSegment(store: Store, key: string, what = "retry"): TrunkError {
  return new TrunkError(
    `segment ${key} is missing from ${store.location} (removed by GC meanwhile?); ${what}`,
    "missing-object",
  );
}

/**
 * A small segment's pack downloaded into memory, checked as `downloadSegmentPack` checks a
 * file: bytes that do not match its name are an error naming the key. Null, and the read
 * stopped, past `limit` bytes: the listing said it was small, the store sends more (never
 * held in memory whatever a store says; the caller downloads it to a file instead).
 */
export async function downloadSegmentBytes(
  store: Store,
  id: string,
  limit: number,
  signal?: AbortSignal,
): Promise<Uint8Array | null> {
  signal?.throwIfAborted();
  const key = segmentPackKey(id);
  const body = await getAtMost(store, key, limit);
  if (!body) throw missingSegment(store, key, "retry the fetch");
  const bytes = await readUpTo(body, limit, signal);
  // Where a file download would die half-written: a kill here must leave nothing behind.
  faultPoint("fetch:mid-download");
  if (!bytes) return null;
  const got = toHexString(await digest("sha256", bytes));
  if (got !== id) throw corruptPack(store, key, got);
  return bytes;
}

/**
 * A listed size (untrusted, as everything listed is) that caps a download: none where the
 * listing left it out (NaN: local disk's plain segments on the fetch path, see `planFetch`)
 * or gave no size at all.
 */
function listedCap(listed: number | undefined): number {
  return listed !== undefined && Number.isSafeInteger(listed) && listed >= 0 ? listed : Infinity;
}

/**
 * Download a segment's pack to `dest`, hashing as it streams; a pack whose bytes do
 * not match its name is an error naming the key, and `dest` is removed. `onBytes`
 * hears of each piece as it arrives, and is told to take them back when the download
 * fails (a retry or another storage counts them again). A store that copies files
 * itself (local disk) copies it, then it is hashed from `dest`, the same check. Once
 * `signal` aborts (another download of the fetch failed), it stops at its next piece.
 * `listed`: the size the listing gave; a store sending more is stopped at the first piece
 * past it, the pack corrupt as a mismatch is (a store answering with an endless body
 * filled the disk before the hash could fail at its end).
 */
export async function downloadSegmentPack(
  store: Store,
  id: string,
  dest: string,
  onBytes?: OnBytes,
  signal?: AbortSignal,
  listed?: number,
): Promise<number> {
  signal?.throwIfAborted();
  const cap = listedCap(listed);
  const copied = await copySegmentPack(store, id, dest, signal, listed);
  if (copied) {
    try {
      await copied.verified;
    } catch (e) {
      await Deno.remove(dest).catch(() => {});
      throw e;
    }
    onBytes?.(copied.size);
    return copied.size;
  }
  const key = segmentPackKey(id);
  const body = await store.get(key);
  if (!body) throw missingSegment(store, key, "retry the fetch");
  const { stream, takeBack } = refundableStream(body, onBytes);
  // A small segment is hashed whole by WebCrypto, a large one streams through node:crypto.
  const h = new StreamHash("sha256");
  let size = 0;
  const file = await Deno.open(dest, { write: true, createNew: true });
  try {
    for await (const chunk of stream) {
      size += chunk.byteLength;
      // Leaving the loop cancels the stream: nothing more is read, nothing of it written.
      if (size > cap) throw longerThanListed(store, key, cap);
      h.update(chunk);
      let at = 0;
      while (at < chunk.byteLength) at += await file.write(chunk.subarray(at));
      faultPoint("fetch:mid-download");
      signal?.throwIfAborted();
    }
  } catch (e) {
    file.close();
    takeBack();
    await Deno.remove(dest).catch(() => {});
    throw e;
  }
  file.close();
  const got = await h.hex();
  if (got !== id) {
    takeBack();
    await Deno.remove(dest).catch(() => {});
    throw corruptPack(store, key, got);
  }
  return size;
}

/**
 * The size `store` itself lists for a segment's pack, null when it lists none: what caps
 * a read from a storage other than the one whose listing gave the fetch its sizes.
 */
export async function ownListedSize(store: Store, id: string): Promise<number | null> {
  const key = segmentPackKey(id);
  return (await store.list(key)).find((e) => e.key === key)?.size ?? null;
}

/** A segment's pack copied to a local file, its SHA-256 still being checked. */
export interface CopiedPack {
  size: number;
  /**
   * Resolves once the copy's bytes are found to match the segment's name; rejects as
   * `downloadSegmentPack` does when they do not (or cannot be read). Until then the file
   * is unverified: nothing may let git see it.
   */
  verified: Promise<void>;
}

/**
 * A segment's pack copied to `dest` by the store itself (`Store.copyToFile`: on local disk
 * the kernel copies), its SHA-256 checked beside whatever the caller does next; null when
 * the store cannot copy (then `downloadSegmentPack` streams it). The check reads through a
 * handle opened here, as soon as the copy is made: it hashes the very file the copy wrote
 * (this process's own new file, which nothing writes after), wherever the caller renames it
 * meanwhile. `dest` is removed if the copy fails; after that, it is the caller's. Once
 * `signal` aborts, the check stops at its next read and `verified` rejects. `listed`: as
 * `downloadSegmentPack`'s; a larger file is refused before any of it is copied (and one
 * that grew while copied, once copied).
 */
export async function copySegmentPack(
  store: Store,
  id: string,
  dest: string,
  signal?: AbortSignal,
  listed?: number,
): Promise<CopiedPack | null> {
  if (!store.copyToFile) return null;
  const key = segmentPackKey(id);
  // Copied where no other user can open it (Store.copyToFile), its growth what a deadline
  // watches; moved to `dest` once whole. A directory named as a download's: a kill's is swept.
  // The small calls are synchronous: an async one costs a turn of the event loop each, on
  // a clone's way to index-pack.
  const slash = dest.lastIndexOf("/");
  const dir = Deno.makeTempDirSync({
    dir: slash > 0 ? dest.slice(0, slash) : slash === 0 ? "/" : ".",
    prefix: "tmp_trunks_",
  });
  let file: Deno.FsFile | undefined;
  let size: number | null;
  try {
    const cap = listedCap(listed);
    size = await store.copyToFile(key, `${dir}/pack`, cap);
    if (size === null) throw missingSegment(store, key, "retry the fetch");
    if (size > cap) throw longerThanListed(store, key, cap);
    file = Deno.openSync(`${dir}/pack`, { read: true });
    Deno.renameSync(`${dir}/pack`, dest);
  } catch (e) {
    file?.close();
    await Promise.all([dest, dir].map((p) => Deno.remove(p, { recursive: true }).catch(() => {})));
    throw e;
  }
  // The emptied directory is removed beside what the caller does next, and `verified`
  // waits for it: just after a copy, its rmdir waited 4-6 ms on the file system's journal
  // (ext4), in front of a clone's index-pack.
  const emptied = Deno.remove(dir, { recursive: true }).catch(() => {});
  // The file is whole but unverified, as a streamed download is when it stops midway.
  faultPoint("fetch:mid-download");
  const verified = (async () => {
    let got: string;
    try {
      got = await sha256Read(file, size, signal); // stopped too: nothing will use the copy
    } finally {
      file.close();
      await emptied;
    }
    if (got !== id) throw corruptPack(store, key, got);
  })();
  verified.catch(() => {}); // the caller's to await
  return { size, verified };
}

/** Corrupt as a mismatch is (a mirror set reads past it and repairs it): named by key. */
function longerThanListed(store: Store, key: string, listed: number): TrunkError {
  return new TrunkError(
    `segment ${key} on ${store.location} is corrupt: it holds more than the ${listed} bytes its listing gives; run trunks check`,
    "corrupt",
  );
}

function corruptPack(store: Store, key: string, got: string): TrunkError {
  return new TrunkError(
    `segment ${key} on ${store.location} is corrupt: its SHA-256 is ${
      got.slice(0, 12)
    }…, not its name; run trunks check`,
    "corrupt",
  );
}
