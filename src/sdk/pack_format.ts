/**
 * Git pack v2 entries: reading one entry's header and body, applying deltas, and
 * writing a self-contained pack with its index v2, all with node:zlib and node:crypto.
 */
import { createHash } from "node:crypto";
import { crc32, deflateSync, inflateSync } from "node:zlib";
import { TrunkError } from "../trunk/errors.ts";
import {
  concat,
  fromHex,
  hashLength,
  type ObjectFormat,
  objectId,
  type ObjectType,
} from "./objects.ts";

const TYPES: Record<number, ObjectType> = { 1: "commit", 2: "tree", 3: "blob", 4: "tag" };
const CODES: Record<ObjectType, number> = { commit: 1, tree: 2, blob: 3, tag: 4 };
export const OFS_DELTA = 6;
export const REF_DELTA = 7;

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
      const b = inflateSync(buf.subarray(at));
      // A plain Uint8Array, not a Buffer: callers get what they would get from fetch().
      inflated = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    } catch (e) {
      throw new TrunkError(
        `${where}: object at offset ${offset} does not inflate (${
          (e as Error).message
        }); run trunks check`,
        "corrupt",
      );
    }
    if (inflated.byteLength !== size) {
      throw new TrunkError(`${where}: object at offset ${offset} has the wrong size`, "corrupt");
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
    let hex = "";
    for (const b of buf.subarray(i, i + hl)) hex += b.toString(16).padStart(2, "0");
    return { kind: "ref-delta", baseOid: hex, delta: inflate(i + hl) };
  }
  throw new TrunkError(`${where}: unknown object type ${code} at offset ${offset}`, "corrupt");
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
  const bad = () => new TrunkError(`${where}: malformed delta; run trunks check`, "corrupt");
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

function entryHeader(type: ObjectType, size: number): Uint8Array {
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
  /** SHA-256 of the pack: the segment id. */
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
  const hl = hashLength(format);
  const head = new Uint8Array(12);
  head.set([0x50, 0x41, 0x43, 0x4b, 0, 0, 0, 2]);
  new DataView(head.buffer).setUint32(8, objects.length);
  const parts: Uint8Array[] = [head];
  const entries: { oid: Uint8Array; hex: string; crc: number; offset: number }[] = [];
  let offset = 12;
  for (const o of objects) {
    const hex = objectId(format, o.type, o.data);
    const body = concat([entryHeader(o.type, o.data.byteLength), deflateSync(o.data)]);
    entries.push({ oid: fromHex(hex), hex, crc: crc32(body), offset });
    parts.push(body);
    offset += body.byteLength;
  }
  const packBody = concat(parts);
  const packSum = createHash(format).update(packBody).digest();
  const pack = concat([packBody, packSum]);

  entries.sort((a, b) => (a.hex < b.hex ? -1 : a.hex > b.hex ? 1 : 0));
  const n = entries.length;
  const large = entries.filter((e) => e.offset >= 0x80000000);
  const idx = new Uint8Array(8 + 1024 + n * (hl + 8) + large.length * 8 + 2 * hl);
  const v = new DataView(idx.buffer);
  idx.set([0xff, 0x74, 0x4f, 0x63, 0, 0, 0, 2]);
  const fan = new Uint32Array(256);
  for (const e of entries) fan[e.oid[0]]++;
  let acc = 0;
  for (let b = 0; b < 256; b++) v.setUint32(8 + b * 4, acc += fan[b]);
  let at = 8 + 1024;
  for (const e of entries) idx.set(e.oid, at), at += hl;
  for (const e of entries) v.setUint32(at, e.crc >>> 0), at += 4;
  let li = 0;
  for (const e of entries) {
    v.setUint32(at, e.offset >= 0x80000000 ? (0x80000000 | li++) >>> 0 : e.offset);
    at += 4;
  }
  for (const e of large) {
    v.setUint32(at, Math.floor(e.offset / 2 ** 32));
    v.setUint32(at + 4, e.offset >>> 0);
    at += 8;
  }
  idx.set(packSum, at);
  at += hl;
  idx.set(createHash(format).update(idx.subarray(0, at)).digest(), at);
  const id = createHash("sha256").update(pack).digest("hex");
  return { pack, idx, id, oids: entries.map((e) => e.hex) };
}
