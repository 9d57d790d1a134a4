/** Test data for the large-file tests. */

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function pseudoRandom(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  const words = new Uint32Array(out.buffer, 0, size >>> 2);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  for (let i = words.length * 4; i < size; i++) out[i] = (x = (x * 31 + 7) >>> 0) & 0xff;
  return out;
}

export { textLike } from "../../harness/text_like.ts";
