/**
 * Keys inside a trunk (format 1, DESIGN.md). Every key the trunk layer reads or
 * writes is built here, so the layout has one definition.
 */
import { decodeRefSegment, encodeRef } from "./refcodec.ts";

export const FORMAT = 1;
export const TRUNK_JSON = "trunk.json";
export const REFS_PREFIX = "refs/";
export const SEGMENTS_PREFIX = "segments/";
export const CHUNKS_PREFIX = "chunks/";
export const BLOBS_PREFIX = "blobs/";
export const STORAGES_PREFIX = "storages/";
/** Snapshots sit under `refs/` so the one listing of refs finds them (`~` sorts last). */
export const SNAPSHOT_PREFIX = "refs/~snapshot/";
export const REFLOG_PREFIX = "reflog/";

const SEQ_WIDTH = 12;

export function seqString(seq: number): string {
  return String(seq).padStart(SEQ_WIDTH, "0");
}

export function refEntryKey(ref: string, seq: number): string {
  return `${REFS_PREFIX}${encodeRef(ref)}/${seqString(seq)}`;
}

/** `refs/<enc>/<seq>` -> its parts, or null for a key that is not a ref entry. */
export function parseRefEntryKey(
  key: string,
): { enc: string; ref: string | null; seq: number } | null {
  const k = entryKeyParts(key);
  return k && { ...k, ref: decodeRefSegment(k.enc) };
}

/**
 * `refs/<enc>/<seq>` -> enc and seq, without decoding the ref name: a listing within two
 * leases of a burst holds thousands of superseded entries, and only each ref's latest is
 * read. Accepts exactly the keys `parseRefEntryKey` does.
 */
export function entryKeyParts(key: string): { enc: string; seq: number } | null {
  if (!key.startsWith(REFS_PREFIX)) return null;
  const slash = key.indexOf("/", REFS_PREFIX.length);
  if (slash <= REFS_PREFIX.length || key.length - slash - 1 !== SEQ_WIDTH) return null;
  for (let i = slash + 1; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c < 48 || c > 57) return null;
  }
  return { enc: key.slice(REFS_PREFIX.length, slash), seq: Number(key.slice(slash + 1)) };
}

/**
 * Snapshot and archive seqs are 16 digits, not 12: clients older than snapshots parse
 * `refs/<x>/<12 digits>` as a ref entry, so a 16-digit name is one they skip, and they
 * keep working by reading every entry as before.
 */
const LOG_SEQ_WIDTH = 16;

export function snapshotKey(seq: number): string {
  return `${SNAPSHOT_PREFIX}${String(seq).padStart(LOG_SEQ_WIDTH, "0")}`;
}

/** `refs/~snapshot/<seq>` -> seq, or null. */
export function parseSnapshotKey(key: string): number | null {
  const m = /^refs\/~snapshot\/(\d{16})$/.exec(key);
  return m ? Number(m[1]) : null;
}

export function reflogKey(seq: number): string {
  return `${REFLOG_PREFIX}${String(seq).padStart(LOG_SEQ_WIDTH, "0")}`;
}

export function parseReflogKey(key: string): number | null {
  const m = /^reflog\/(\d{16})$/.exec(key);
  return m ? Number(m[1]) : null;
}

export function segmentPackKey(id: string): string {
  return `${SEGMENTS_PREFIX}${id}.pack`;
}

export function segmentIdxKey(id: string): string {
  return `${SEGMENTS_PREFIX}${id}.idx`;
}

/** Sidecar of a compacted segment: the ids of the segments it replaces (written by GC). */
export function segmentReplacesKey(id: string): string {
  return `${SEGMENTS_PREFIX}${id}.replaces`;
}

export function chunkKey(sha256: string): string {
  return `${CHUNKS_PREFIX}${sha256}`;
}

export function blobKey(oid: string): string {
  return `${BLOBS_PREFIX}${oid}`;
}

export function storagesKey(seq: number): string {
  return `${STORAGES_PREFIX}${seqString(seq)}`;
}

export const SEGMENT_ID_RE = /^[0-9a-f]{64}$/;
