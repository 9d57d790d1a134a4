/**
 * Git packs (version 2, gitformat-pack(5)): the header, reading one entry's header and
 * body, applying deltas, and writing a self-contained pack with its index v2, all with
 * node:zlib and node:crypto.
 */
import { createHash } from "./hash.ts";
import { zlib } from "./zlib.ts";
import { concat, toHex } from "./bytes.ts";
import { PackFormatError } from "./errors.ts";
import { hashLength, type ObjectFormat, objectId, type ObjectType } from "./objects.ts";
import { type IndexEntry, writePackIndex } from "./pack_index.ts";

const TYPES: Record<number, ObjectType> = { 1: "commit", 2: "tree", 3: "blob", 4: "tag" };
const CODES: Record<ObjectType, number> = { commit: 1, tree: 2, blob: 3, tag: 4 };
export const OFS_DELTA = 6;
export const REF_DELTA = 7;

/** Bytes of a pack header: `PACK`, version 2, object count. */
export const PACK_HEADER_BYTES = 12;

export function encodePackHeader(objects: number): Uint8Array {
  const head = new Uint8Array(PACK_HEADER_BYTES);
  head.set([0x50, 0x41, 0x43, 0x4b, 0, 0, 0, 2]);
  new DataView(head.buffer).setUint32(8, objects);
  return head;
}

/** The object count of a pack header (versions 2 and 3, as git accepts). */
export function parsePackHeader(head: Uint8Array, where: string): number {
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (
    head.byteLength < PACK_HEADER_BYTES || v.getUint32(0) !== 0x5041434b ||
    (v.getUint32(4) !== 2 && v.getUint32(4) !== 3)
  ) {
    throw new PackFormatError(`${where} is not a git pack (no PACK v2 header)`);
  }
  return v.getUint32(8);
}

/** Object count from a pack file's header. */
export async function packFileObjectCount(path: string): Promise<number> {
  using f = await Deno.open(path);
  const head = new Uint8Array(PACK_HEADER_BYTES);
  let at = 0;
  while (at < head.byteLength) {
    const n = await f.read(head.subarray(at));
    if (n === null) break;
    at += n;
  }
  return parsePackHeader(head.subarray(0, at), path);
}

/** One pack entry as stored: a whole object, or a delta against a base. */
export type PackEntry =
  | { kind: "whole"; type: ObjectType; data: Uint8Array }
  | { kind: "ofs-delta"; baseOffset: number; delta: Uint8Array }
  | { kind: "ref-delta"; baseOid: string; delta: Uint8Array };

/**
 * Decode the entry whose bytes (starting at its header) are `buf`; `offset` is where it
 * sits in the pack (OFS_DELTA bases are relative to it).
 */
export function decodeEntry(
  buf: Uint8Array,
  offset: number,
  format: ObjectFormat,
  where: string,
): PackEntry {
  let i = 0;
  let c = buf[i++];
  const code = (c >> 4) & 7;
  let size = c & 15;
  let shift = 4;
  while (c & 0x80) {
    c = buf[i++];
    size += (c & 0x7f) * 2 ** shift;
    shift += 7;
  }
  let inflated: Uint8Array;
  const inflate = (at: number) => {
    try {
      const b = zlib().inflateSync(buf.subarray(at));
      // A plain Uint8Array, not a Buffer: callers get what they would get from fetch().
      inflated = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    } catch (e) {
      throw new PackFormatError(
        `${where}: object at offset ${offset} does not inflate (${
          (e as Error).message
        }); run trunks check`,
      );
    }
    if (inflated.byteLength !== size) {
      throw new PackFormatError(`${where}: object at offset ${offset} has the wrong size`);
    }
    return inflated;
  };
  if (TYPES[code]) return { kind: "whole", type: TYPES[code], data: inflate(i) };
  if (code === OFS_DELTA) {
    c = buf[i++];
    let back = c & 0x7f;
    while (c & 0x80) {
      c = buf[i++];
      back = (back + 1) * 128 + (c & 0x7f);
    }
    return { kind: "ofs-delta", baseOffset: offset - back, delta: inflate(i) };
  }
  if (code === REF_DELTA) {
    const hl = hashLength(format);
    return { kind: "ref-delta", baseOid: toHex(buf.subarray(i, i + hl)), delta: inflate(i + hl) };
  }
  throw new PackFormatError(`${where}: unknown object type ${code} at offset ${offset}`);
}

/** Apply a git delta to its base. */
export function applyDelta(base: Uint8Array, delta: Uint8Array, where: string): Uint8Array {
  let i = 0;
  const varint = () => {
    let v = 0;
    let shift = 0;
    let c: number;
    do {
      c = delta[i++];
      v += (c & 0x7f) * 2 ** shift;
      shift += 7;
    } while (c & 0x80);
    return v;
  };
  const bad = () => new PackFormatError(`${where}: malformed delta; run trunks check`);
  if (varint() !== base.byteLength) throw bad();
  const out = new Uint8Array(varint());
  let o = 0;
  while (i < delta.byteLength) {
    const cmd = delta[i++];
    if (cmd & 0x80) {
      let off = 0;
      let len = 0;
      for (let b = 0; b < 4; b++) if (cmd & (1 << b)) off += delta[i++] * 2 ** (8 * b);
      for (let b = 0; b < 3; b++) if (cmd & (0x10 << b)) len += delta[i++] * 2 ** (8 * b);
      if (len === 0) len = 0x10000;
      if (off + len > base.byteLength || o + len > out.byteLength) throw bad();
      out.set(base.subarray(off, off + len), o);
      o += len;
    } else if (cmd) {
      if (o + cmd > out.byteLength || i + cmd > delta.byteLength) throw bad();
      out.set(delta.subarray(i, i + cmd), o);
      i += cmd;
      o += cmd;
    } else throw bad();
  }
  if (o !== out.byteLength) throw bad();
  return out;
}

/** An entry's header: type and size, little-endian base-128 with a continuation bit. */
export function entryHeader(type: ObjectType, size: number): Uint8Array {
  const bytes: number[] = [];
  let c = (CODES[type] << 4) | (size & 15);
  size = Math.floor(size / 16);
  while (size > 0) {
    bytes.push(c | 0x80);
    c = size & 0x7f;
    size = Math.floor(size / 128);
  }
  bytes.push(c);
  return new Uint8Array(bytes);
}

export interface BuiltSegment {
  pack: Uint8Array;
  idx: Uint8Array;
  /** SHA-256 of the pack: what a trunk names the segment by. */
  id: string;
  oids: string[];
}

/**
 * A self-contained pack (every object whole, no deltas, so it needs nothing outside
 * itself) and its index v2, as `git index-pack` would write them.
 */
export function buildSegment(
  objects: { type: ObjectType; data: Uint8Array }[],
  format: ObjectFormat,
): BuiltSegment {
  const parts: Uint8Array[] = [encodePackHeader(objects.length)];
  const entries: IndexEntry[] = [];
  let offset = PACK_HEADER_BYTES;
  for (const o of objects) {
    const oid = objectId(format, o.type, o.data);
    const body = concat([entryHeader(o.type, o.data.byteLength), zlib().deflateSync(o.data)]);
    entries.push({ oid, crc: zlib().crc32(body), offset });
    parts.push(body);
    offset += body.byteLength;
  }
  const packBody = concat(parts);
  const packSum = createHash(format).update(packBody).digest();
  const pack = concat([packBody, packSum]);
  const idx = writePackIndex(entries, packSum, format);
  const id = createHash("sha256").update(pack).digest("hex");
  return { pack, idx, id, oids: entries.map((e) => e.oid).sort() };
}
