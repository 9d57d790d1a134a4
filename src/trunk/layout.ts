/**
 * Keys inside a trunk (formats 1 and 2, DESIGN.md). Every key the trunk layer reads or
 * writes is built here, so the layout has one definition.
 */
import { decodeRefSegment, encodeRef } from "./refcodec.ts";

/** The format new trunks are created in; every format up to it is read and written. */
export const FORMAT = 2;
export const TRUNK_JSON = "trunk.json";
export const REFS_PREFIX = "refs/";
export const SEGMENTS_PREFIX = "segments/";
export const CHUNKS_PREFIX = "chunks/";
export const BLOBS_PREFIX = "blobs/";
export const STORAGES_PREFIX = "storages/";
/** Snapshots sit under `refs/` so the one listing of refs finds them (`~` sorts last). */
export const SNAPSHOT_PREFIX = "refs/~snapshot/";
export const REFLOG_PREFIX = "reflog/";

export const SEQ_WIDTH = 12;

export function seqString(seq: number): string {
  return String(seq).padStart(SEQ_WIDTH, "0");
}

/**
 * Where a trunk keeps its ref entries, by its format (trunk.json). Format 1 nests them,
 * `refs/<enc>/<seq>`: one directory (or prefix) per ref, and listing 20,000 directories
 * is most of a clone's listing. Format 2 keeps them flat, `refs/<enc>~<seq>`: `~` is never
 * in an encoded name (refcodec.ts), sorts after every character of one, so a ref's
 * entries stay together in seq order, and leaves `refs/~snapshot/` out (an empty name).
 * A trunk is read and written in its own format's shape only; a key of the other shape is
 * not an entry of it.
 */
export interface RefLayout {
  readonly format: number;
  /** The key of `ref`'s entry `seq`. */
  entryKey(ref: string, seq: number): string;
  /** The key of entry `seq` of the ref encoded as `enc`. */
  keyOf(enc: string, seq: number): string;
  /**
   * Key -> enc and seq, without decoding the ref name, or null for a key that is not an
   * entry of this layout: a listing within two leases of a burst holds thousands of
   * superseded entries, and only each ref's latest is read.
   */
  parts(key: string): { enc: string; seq: number } | null;
  /** `parts`, with the ref name decoded (null for a hashed long name). */
  parse(key: string): { enc: string; ref: string | null; seq: number } | null;
}

const TILDE = 126;
const SLASH = 47;

/** The 12 characters from `from` are digits. */
function digitsFrom(key: string, from: number): boolean {
  for (let i = from; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function layoutOf(format: number, sep: string, sepCode: number): RefLayout {
  const parts = (key: string): { enc: string; seq: number } | null => {
    const at = key.length - SEQ_WIDTH - 1;
    if (at <= REFS_PREFIX.length || key.charCodeAt(at) !== sepCode) return null;
    if (!key.startsWith(REFS_PREFIX) || !digitsFrom(key, at + 1)) return null;
    const enc = key.slice(REFS_PREFIX.length, at);
    // Neither separator is part of a name: a key with one is another layout's, or no entry.
    if (enc.includes("/") || enc.includes("~")) return null;
    return { enc, seq: Number(key.slice(at + 1)) };
  };
  return {
    format,
    entryKey: (ref, seq) => `${REFS_PREFIX}${encodeRef(ref)}${sep}${seqString(seq)}`,
    keyOf: (enc, seq) => `${REFS_PREFIX}${enc}${sep}${seqString(seq)}`,
    parts,
    parse: (key) => {
      const k = parts(key);
      return k && { ...k, ref: decodeRefSegment(k.enc) };
    },
  };
}

const LAYOUTS = new Map<number, RefLayout>([
  [1, layoutOf(1, "/", SLASH)],
  [2, layoutOf(2, "~", TILDE)],
]);

/** The ref layout of a trunk of `format` (one this code understands: meta.ts checks). */
export function refLayout(format: number): RefLayout {
  const layout = LAYOUTS.get(format);
  if (!layout) throw new Error(`no ref layout for trunk format ${format}`);
  return layout;
}

/**
 * The other format's layout when `key` is shaped as one of its entries: a key this trunk
 * does not read (a stray, or a trunk re-created here in the other format). Else null.
 */
export function foreignLayout(layout: RefLayout, key: string): RefLayout | null {
  const other = refLayout(layout.format === 1 ? 2 : 1);
  return other.parts(key) ? other : null;
}

/** What reading a trunk's refs needs from its trunk.json: its id and its format. */
export interface TrunkKeys {
  id: string;
  format: number;
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

/**
 * `refs/~snapshot/<seq>` -> seq, or null. Sixteen digits hold more than a double does
 * exactly: a seq past 2^53 would read as another (its successor's key 17 digits long,
 * which no reader looks at), so such a key is none of ours.
 */
export function parseSnapshotKey(key: string): number | null {
  const m = /^refs\/~snapshot\/(\d{16})$/.exec(key);
  return logSeq(m);
}

function logSeq(m: RegExpExecArray | null): number | null {
  const seq = m ? Number(m[1]) : NaN;
  return Number.isSafeInteger(seq + 1) ? seq : null;
}

export function reflogKey(seq: number): string {
  return `${REFLOG_PREFIX}${String(seq).padStart(LOG_SEQ_WIDTH, "0")}`;
}

/** `reflog/<seq>` -> seq, or null (as `parseSnapshotKey`). */
export function parseReflogKey(key: string): number | null {
  const m = /^reflog\/(\d{16})$/.exec(key);
  return logSeq(m);
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

/** Where a segment key's id ends: `segments/` and 64 hex digits, then `.<part>`. */
const SEGMENT_ID_END = SEGMENTS_PREFIX.length + 64;

/**
 * A segment's key split into its id and part, or null for any other key. By slices and
 * one test of the id, not one regular expression with captures: a listing after a burst
 * of pushes parses thousands of keys in code still cold (~1 µs a key).
 */
export function parseSegmentKey(
  key: string,
): { id: string; part: "pack" | "idx" | "replaces" } | null {
  if (key.charCodeAt(SEGMENT_ID_END) !== 46 || !key.startsWith(SEGMENTS_PREFIX)) return null;
  const part = key.slice(SEGMENT_ID_END + 1);
  if (part !== "pack" && part !== "idx" && part !== "replaces") return null;
  const id = key.slice(SEGMENTS_PREFIX.length, SEGMENT_ID_END);
  return SEGMENT_ID_RE.test(id) ? { id, part } : null;
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
