/**
 * Reading a stored pack index (`.idx` version 2) directly: object id -> offset in the
 * pack, and each object's extent (up to the next object's offset), so one object can
 * be fetched with one range read instead of re-indexing the pack in JavaScript.
 */
import { createHash } from "node:crypto";
import { TrunkError } from "../trunk/errors.ts";
import { fromHex, hashLength, type ObjectFormat, toHex } from "./objects.ts";

const MAGIC = [0xff, 0x74, 0x4f, 0x63];

export class PackIndex {
  readonly count: number;
  readonly hl: number;
  #view: DataView;
  #namesAt: number;
  #offsetsAt: number;
  #largeAt: number;
  /** Object start offsets in pack order, ending with the trailer's offset. */
  #sorted: Float64Array;
  /** The pack's own checksum, recorded in the index. */
  readonly packChecksum: string;

  constructor(
    readonly bytes: Uint8Array,
    readonly packSize: number,
    format: ObjectFormat,
    key: string,
  ) {
    const bad = (why: string) =>
      new TrunkError(`${key} is not a valid pack index (${why}); run trunks check`, "corrupt");
    this.hl = hashLength(format);
    const hl = this.hl;
    if (bytes.byteLength < 8 + 1024 + 2 * hl) throw bad("too short");
    if (!MAGIC.every((b, i) => bytes[i] === b)) throw bad("not an index v2");
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (this.#view.getUint32(4) !== 2) throw bad(`version ${this.#view.getUint32(4)}`);
    const body = bytes.subarray(0, bytes.byteLength - hl);
    const sum = createHash(format).update(body).digest("hex");
    if (sum !== toHex(bytes.subarray(bytes.byteLength - hl))) throw bad("checksum mismatch");
    this.count = this.#view.getUint32(8 + 255 * 4);
    const n = this.count;
    this.#namesAt = 8 + 1024;
    this.#offsetsAt = this.#namesAt + n * hl + n * 4;
    this.#largeAt = this.#offsetsAt + n * 4;
    if (this.#largeAt + 2 * hl > bytes.byteLength) throw bad("truncated");
    this.packChecksum = toHex(bytes.subarray(bytes.byteLength - 2 * hl, bytes.byteLength - hl));
    const offs = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) offs[i] = this.#offsetAt(i);
    offs[n] = packSize - hl;
    offs.sort();
    this.#sorted = offs;
  }

  #offsetAt(i: number): number {
    const v = this.#view.getUint32(this.#offsetsAt + i * 4);
    if (!(v & 0x80000000)) return v;
    const at = this.#largeAt + (v & 0x7fffffff) * 8;
    return this.#view.getUint32(at) * 2 ** 32 + this.#view.getUint32(at + 4);
  }

  /** Offset of the object in the pack, or undefined when this pack lacks it. */
  find(oid: string): number | undefined {
    const want = fromHex(oid);
    if (want.byteLength !== this.hl) return undefined;
    let lo = want[0] === 0 ? 0 : this.#view.getUint32(8 + (want[0] - 1) * 4);
    let hi = this.#view.getUint32(8 + want[0] * 4);
    const b = this.bytes;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const at = this.#namesAt + mid * this.hl;
      let c = 0;
      for (let k = 0; k < this.hl && c === 0; k++) c = b[at + k] - want[k];
      if (c === 0) return this.#offsetAt(mid);
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
    return undefined;
  }

  /** Where the object starting at `offset` ends (the next object, or the trailer). */
  end(offset: number): number {
    const s = this.#sorted;
    let lo = 0;
    let hi = s.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid] <= offset) lo = mid + 1;
      else hi = mid;
    }
    if (lo >= s.length) return this.packSize - this.hl;
    return s[lo];
  }

  /** Every object id in the index (sorted). */
  *oids(): Generator<string> {
    for (let i = 0; i < this.count; i++) {
      const at = this.#namesAt + i * this.hl;
      yield toHex(this.bytes.subarray(at, at + this.hl));
    }
  }
}
