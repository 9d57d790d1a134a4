/**
 * Git pack indexes (`.idx`, gitformat-pack(5)): the one reader (versions 1 and 2) and
 * the one writer (version 2). From a pack's small index alone one knows which objects
 * it holds and where each starts, so a single object is one range read of the pack.
 */
import { createHash, digest } from "./hash.ts";
import { equalBytes, fromHex, toHex } from "./bytes.ts";
import { PackFormatError } from "./errors.ts";
import { hashLength, type ObjectFormat } from "./objects.ts";

const MAGIC = [0xff, 0x74, 0x4f, 0x63]; // "\377tOc"

/** Set by `PackIndex.open` only around its constructor call: the checksum already held. */
let trailerChecked = false;
/** Set by `PackIndex.ofRepository` only around its constructor call: git's own index. */
let madeByGit = false;

export class PackIndex {
  readonly count: number;
  readonly hl: 20 | 32;
  readonly version: 1 | 2;
  /** The pack's own checksum, recorded in the index (hex). */
  readonly packChecksum: string;
  /** Read by `ofRepository`: its names' order was not walked, so `shared` refuses it. */
  readonly #unwalked = madeByGit;
  #view: DataView;
  #fanoutAt: number;
  #namesAt: number;
  /** Bytes from one name to the next (v1 interleaves a 4-byte offset before each). */
  #nameStride: number;
  #offsetsAt: number;
  #largeAt: number;
  /** Object start offsets in pack order, ending with the trailer's offset (lazy). */
  #sorted?: Float64Array;

  /**
   * The constructor's checks with the trailing checksum hashed by WebCrypto (hash.ts):
   * the same index or the same error, without loading node:crypto.
   */
  static async open(
    bytes: Uint8Array,
    format: ObjectFormat,
    where: string,
    packSize?: number,
  ): Promise<PackIndex> {
    const hl = hashLength(format);
    // A checksum that does not hold is left to the constructor, which names the error.
    const holds = bytes.byteLength >= hl && equalBytes(
      await digest(format, bytes.subarray(0, bytes.byteLength - hl)),
      bytes.subarray(bytes.byteLength - hl),
    );
    trailerChecked = holds;
    try {
      return new PackIndex(bytes, format, where, packSize);
    } finally {
      trailerChecked = false;
    }
  }

  /**
   * An index in the repository's own object store, written there by `git index-pack` (a
   * fetch's, never one read from a store): trusted as git trusts it, which reads an
   * index's size and fan-out but neither hashes its checksum nor walks its names' order.
   * Those two cost a clone 3-8 ms (33,522 names) between its index-pack and its answer.
   */
  static ofRepository(bytes: Uint8Array, format: ObjectFormat, where: string): PackIndex {
    madeByGit = true;
    try {
      return new PackIndex(bytes, format, where);
    } finally {
      madeByGit = false;
    }
  }

  /**
   * Parse and verify an index: its trailing checksum, a monotonic fan-out and sorted
   * names, so a damaged index is an error naming `where`. `packSize` is needed only
   * by `end()`.
   */
  constructor(
    readonly bytes: Uint8Array,
    format: ObjectFormat,
    where: string,
    readonly packSize?: number,
  ) {
    const bad = (why: string) =>
      new PackFormatError(`${where} is not a valid pack index (${why}); run trunks check`);
    const hl = this.hl = hashLength(format);
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const v2 = bytes.byteLength >= 8 && MAGIC.every((b, i) => bytes[i] === b);
    if (v2 && this.#view.getUint32(4) !== 2) {
      throw bad(`unknown version ${this.#view.getUint32(4)}`);
    }
    this.version = v2 ? 2 : 1;
    this.#fanoutAt = v2 ? 8 : 0;
    if (bytes.byteLength < this.#fanoutAt + 1024 + 2 * hl) throw bad("too short");
    let prev = 0;
    for (let i = 0; i < 256; i++) {
      const n = this.#view.getUint32(this.#fanoutAt + i * 4);
      if (n < prev) throw bad("fan-out table is not monotonic");
      prev = n;
    }
    const n = this.count = prev;
    const body = this.#fanoutAt + 1024;
    this.#namesAt = v2 ? body : body + 4;
    this.#nameStride = v2 ? hl : hl + 4;
    this.#offsetsAt = v2 ? body + n * hl + n * 4 : body;
    this.#largeAt = v2 ? this.#offsetsAt + n * 4 : 0;
    const minLen = v2 ? this.#largeAt + 2 * hl : body + n * (hl + 4) + 2 * hl;
    if (bytes.byteLength < minLen) throw bad("truncated");
    if (!trailerChecked && !madeByGit) {
      const sum = createHash(format).update(bytes.subarray(0, bytes.byteLength - hl)).digest("hex");
      if (sum !== toHex(bytes.subarray(bytes.byteLength - hl))) throw bad("checksum mismatch");
    }
    this.packChecksum = toHex(bytes.subarray(bytes.byteLength - 2 * hl, bytes.byteLength - hl));
    for (let i = 1; i < n && !madeByGit; i++) {
      if (this.#order(i - 1, this, i) >= 0) throw bad("object ids are not sorted");
    }
  }

  #nameAt(i: number): number {
    return this.#namesAt + i * this.#nameStride;
  }

  /** Sign of (name `other` at `at`) - (name i); both in `bytes`-like arrays. */
  #compareName(i: number, other: Uint8Array, at: number): number {
    const b = this.bytes;
    const mine = this.#nameAt(i);
    for (let k = 0; k < this.hl; k++) {
      const c = other[at + k] - b[mine + k];
      if (c !== 0) return c;
    }
    return 0;
  }

  /**
   * Sign of (name `i` here) - (name `j` of `other`), same hash length. Four bytes at a
   * time, read big-endian, which orders as the bytes do: a clone's join compares
   * thousands of names in code that runs once, unoptimised (a byte loop cost ~10 ms).
   */
  #order(i: number, other: PackIndex, j: number): number {
    const a = this.#view;
    const b = other.#view;
    const at = this.#nameAt(i);
    const bt = other.#nameAt(j);
    for (let k = 0; k < this.hl; k += 4) {
      const x = a.getUint32(at + k);
      const y = b.getUint32(bt + k);
      if (x !== y) return x < y ? -1 : 1;
    }
    return 0;
  }

  #offsetAt(i: number): number {
    if (this.version === 1) return this.#view.getUint32(this.#offsetsAt + i * (this.hl + 4));
    const v = this.#view.getUint32(this.#offsetsAt + i * 4);
    if (!(v & 0x80000000)) return v;
    const at = this.#largeAt + (v & 0x7fffffff) * 8;
    if (at + 8 > this.bytes.byteLength - 2 * this.hl) {
      throw new PackFormatError(`pack index: large offset ${v & 0x7fffffff} is out of range`);
    }
    return this.#view.getUint32(at) * 2 ** 32 + this.#view.getUint32(at + 4);
  }

  /** Offset of the object in the pack, or undefined when this pack lacks it. */
  find(oid: string): number | undefined {
    const want = fromHex(oid);
    if (want.byteLength !== this.hl) return undefined;
    const i = this.#search(want, 0);
    return i < 0 ? undefined : this.#offsetAt(i);
  }

  /** Position of the name held in `other` at `at` (`hl` bytes), or -1. */
  #search(other: Uint8Array, at: number): number {
    const fan = (b: number) => this.#view.getUint32(this.#fanoutAt + b * 4);
    let lo = other[at] === 0 ? 0 : fan(other[at] - 1);
    let hi = fan(other[at]);
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = this.#compareName(mid, other, at);
      if (c === 0) return mid;
      if (c > 0) lo = mid + 1;
      else hi = mid;
    }
    return -1;
  }

  /**
   * Ids this index shares with `other` (hex), found on the raw names: joining packs that
   * share nothing (the common case) then makes no string per object.
   */
  shared(other: PackIndex): Set<string> {
    if (this.#unwalked || other.#unwalked) {
      throw new Error("PackIndex.shared needs indexes whose order was checked (PackIndex.open)");
    }
    const out = new Set<string>();
    if (other.hl !== this.hl) return out;
    // Both name tables are sorted (the constructor checked): one walk down the two.
    for (let i = 0, j = 0; i < this.count && j < other.count;) {
      const c = this.#order(i, other, j);
      if (c < 0) i++;
      else if (c > 0) j++;
      else {
        const at = this.#nameAt(i);
        out.add(toHex(this.bytes.subarray(at, at + this.hl)));
        i++;
        j++;
      }
    }
    return out;
  }

  /** Where the object starting at `offset` ends (the next object, or the trailer). */
  end(offset: number): number {
    if (this.packSize === undefined) throw new Error("PackIndex.end needs the pack's size");
    const trailer = this.packSize - this.hl;
    if (!this.#sorted) {
      const offs = new Float64Array(this.count + 1);
      for (let i = 0; i < this.count; i++) offs[i] = this.#offsetAt(i);
      offs[this.count] = trailer;
      this.#sorted = offs.sort();
    }
    const s = this.#sorted;
    let lo = 0;
    let hi = s.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid] <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo >= s.length ? trailer : s[lo];
  }

  /** Every object with its offset, in pack order. */
  byOffset(): { oid: string; offset: number }[] {
    const out = new Array<{ oid: string; offset: number }>(this.count);
    for (let i = 0; i < this.count; i++) {
      const at = this.#nameAt(i);
      out[i] = { oid: toHex(this.bytes.subarray(at, at + this.hl)), offset: this.#offsetAt(i) };
    }
    return out.sort((a, b) => a.offset - b.offset);
  }

  /** Every object id in the index, sorted, lower-case hex. */
  oids(): string[] {
    const out = new Array<string>(this.count);
    for (let i = 0; i < this.count; i++) {
      const at = this.#nameAt(i);
      out[i] = toHex(this.bytes.subarray(at, at + this.hl));
    }
    return out;
  }
}

/** One object of a pack, as its index records it. */
export interface IndexEntry {
  /** Object id, hex. */
  oid: string;
  /** CRC-32 of the entry's bytes in the pack (header and compressed body). */
  crc: number;
  offset: number;
}

/** An index v2 for a pack whose trailing checksum is `packChecksum`, as `git index-pack` writes it. */
export function writePackIndex(
  entries: IndexEntry[],
  packChecksum: Uint8Array,
  format: ObjectFormat,
): Uint8Array {
  const hl = hashLength(format);
  const sorted = [...entries].sort((a, b) => (a.oid < b.oid ? -1 : a.oid > b.oid ? 1 : 0));
  const n = sorted.length;
  const large = sorted.filter((e) => e.offset >= 0x80000000);
  const idx = new Uint8Array(8 + 1024 + n * (hl + 8) + large.length * 8 + 2 * hl);
  const v = new DataView(idx.buffer);
  idx.set([...MAGIC, 0, 0, 0, 2]);
  const names = sorted.map((e) => fromHex(e.oid));
  const fan = new Uint32Array(256);
  for (const name of names) fan[name[0]]++;
  let acc = 0;
  for (let b = 0; b < 256; b++) v.setUint32(8 + b * 4, acc += fan[b]);
  let at = 8 + 1024;
  for (const name of names) idx.set(name, at), at += hl;
  for (const e of sorted) v.setUint32(at, e.crc >>> 0), at += 4;
  let li = 0;
  for (const e of sorted) {
    v.setUint32(at, e.offset >= 0x80000000 ? (0x80000000 | li++) >>> 0 : e.offset);
    at += 4;
  }
  for (const e of large) {
    v.setUint32(at, Math.floor(e.offset / 2 ** 32));
    v.setUint32(at + 4, e.offset >>> 0);
    at += 8;
  }
  idx.set(packChecksum, at);
  at += hl;
  idx.set(createHash(format).update(idx.subarray(0, at)).digest(), at);
  return idx;
}
