/**
 * Reading git pack indexes (`.idx`, versions 1 and 2; see gitformat-pack(5)) in pure
 * TypeScript: which objects a segment holds is known from its small index, without
 * downloading the pack. Used by `trunks check`, compaction and the push's GC guard.
 */
import { createHash } from "node:crypto";
import { getBytes, type Store } from "../storage/store.ts";
import { TrunkError } from "./errors.ts";
import { segmentIdxKey } from "./layout.ts";

export interface PackIndex {
  /** Object ids in the pack, sorted, lower-case hex. */
  oids: string[];
  /** The pack checksum recorded in the index (hex). */
  packChecksum: string;
}

const MAGIC = [0xff, 0x74, 0x4f, 0x63]; // "\377tOc"

/**
 * Parse an index; `hashLen` is 20 (sha1) or 32 (sha256). The trailing checksum of the
 * index itself is verified, so a damaged index is an error naming `key`.
 */
export function parsePackIndex(bytes: Uint8Array, hashLen: 20 | 32, key: string): PackIndex {
  const bad = (why: string) =>
    new TrunkError(`${key} is not a valid pack index (${why}); run trunks check`, "corrupt");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const v2 = bytes.byteLength >= 8 && MAGIC.every((b, i) => bytes[i] === b);
  if (v2 && view.getUint32(4) !== 2) throw bad(`unknown version ${view.getUint32(4)}`);
  const fanoutAt = v2 ? 8 : 0;
  if (bytes.byteLength < fanoutAt + 1024 + 2 * hashLen) throw bad("too short");
  const count = view.getUint32(fanoutAt + 255 * 4);
  let prev = 0;
  for (let i = 0; i < 256; i++) {
    const n = view.getUint32(fanoutAt + i * 4);
    if (n < prev) throw bad("fan-out table is not monotonic");
    prev = n;
  }
  const body = fanoutAt + 1024;
  const entryLen = v2 ? hashLen : 4 + hashLen;
  const minLen = v2
    ? body + count * (hashLen + 8) + 2 * hashLen
    : body + count * entryLen + 2 * hashLen;
  if (bytes.byteLength < minLen) throw bad("truncated");
  const trailerAt = bytes.byteLength - 2 * hashLen;
  const want = hex(bytes.subarray(bytes.byteLength - hashLen));
  const got = createHash(hashLen === 20 ? "sha1" : "sha256")
    .update(bytes.subarray(0, bytes.byteLength - hashLen)).digest("hex");
  if (got !== want) throw bad("checksum mismatch");
  const oids = new Array<string>(count);
  for (let i = 0; i < count; i++) {
    const at = body + i * entryLen + (v2 ? 0 : 4);
    oids[i] = hex(bytes.subarray(at, at + hashLen));
    if (i > 0 && oids[i] <= oids[i - 1]) throw bad("object ids are not sorted");
  }
  return { oids, packChecksum: hex(bytes.subarray(trailerAt, trailerAt + hashLen)) };
}

/** Download and parse one segment's index (small: about 28 bytes per object). */
export async function readSegmentIndex(
  store: Store,
  id: string,
  hashLen: 20 | 32,
): Promise<PackIndex | null> {
  const key = segmentIdxKey(id);
  const raw = await getBytes(store, key);
  return raw ? parsePackIndex(raw, hashLen, key) : null;
}

export function hashLenOf(objectFormat: "sha1" | "sha256"): 20 | 32 {
  return objectFormat === "sha256" ? 32 : 20;
}

function hex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}
