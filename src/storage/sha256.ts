/**
 * SHA-256 and HMAC-SHA-256 at once (synchronously): for SigV4's few short strings per
 * request (sigv4.ts), and the first seals a process makes (trunk/seal.ts). WebCrypto
 * answers each of its eleven steps on a later turn of the event loop, so whatever else the
 * process started meanwhile (an up-to-date fetch loads the trunk's code while its LIST is
 * out) ran before the first request could even be sent. Bodies are still hashed with
 * WebCrypto (sigv4.ts `sha256Hex`): megabytes are its job, not this one's.
 */

const K = new Uint32Array([
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
]);

/**
 * The compression function as a WebAssembly module (scripts/sha256_wasm.ts `assemble`
 * writes it from its instructions): a fresh process signs its first request with some 30 blocks, which plain
 * code runs interpreted (3-3.5 ms before an up-to-date fetch's one LIST could leave); the
 * module compiles and runs them in ~0.4 ms. Its memory: K at 0, the schedule W at 256, the
 * state H at 512, the blocks to compress from 1024 (bytes as given, read big-endian).
 */
export const W_AT = 256;
export const H_AT = 512;
export const BLOCKS_AT = 1024;
/** Blocks one call compresses at most: what fits in the module's one 64 KiB page. */
const MAX_BLOCKS = (65536 - BLOCKS_AT) / 64;

/**
 * `assemble()`'s output (scripts/sha256_wasm.ts), kept as it is: assembling (arrays built
 * in interpreted code) cost a fresh process more (2-4 ms) than the hashing it saves, and the
 * assembler stays out of every helper's module. tests/unit/sigv4_test.ts checks that the
 * two agree.
 */
export const COMPRESSOR =
  "AGFzbQEAAAABBQFgAX8AAwIBAAUDAQABBwkCAW0CAAFjAAAKiQQBhgQBDX9BgAghASABIABBBnRqIQIDQEEAIQMDQCADIAEgA2oiDS0AAEEYdCANLQABQRB0ciANLQACQQh0ciANLQADcjYCgAIgA0EEaiIDQcAASQ0ACwNAIAMgAygCwAEgAygCxAFBB3ggAygCxAFBEnhzIAMoAsQBQQN2c2ogAygC5AFqIAMoAvgBQRF4IAMoAvgBQRN4cyADKAL4AUEKdnNqNgKAAiADQQRqIgNBgAJJDQALQQAoAoAEIQRBACgChAQhBUEAKAKIBCEGQQAoAowEIQdBACgCkAQhCEEAKAKUBCEJQQAoApgEIQpBACgCnAQhC0EAIQMDQCALIAhBBnggCEELeHMgCEEZeHNqIAggCXEgCEF/cyAKcXNqIAMoAgBqIAMoAoACaiEMIAohCyAJIQogCCEJIAcgDGohCCAGIQcgBSEGIAQhBSAMIAVBAnggBUENeHMgBUEWeHNqIAUgBnEgBSAHcXMgBiAHcXNqIQQgA0EEaiIDQYACSQ0AC0EAQQAoAoAEIARqNgKABEEAQQAoAoQEIAVqNgKEBEEAQQAoAogEIAZqNgKIBEEAQQAoAowEIAdqNgKMBEEAQQAoApAEIAhqNgKQBEEAQQAoApQEIAlqNgKUBEEAQQAoApgEIApqNgKYBEEAQQAoApwEIAtqNgKcBCABQcAAaiIBIAJJDQALCw==";

let compressor: { mem: Uint8Array; words: DataView; compress: (n: number) => void } | undefined;

function wasm() {
  if (compressor) return compressor;
  const instance = new WebAssembly.Instance(
    new WebAssembly.Module(Uint8Array.fromBase64(COMPRESSOR)),
  );
  const memory = instance.exports.m as WebAssembly.Memory;
  const words = new DataView(memory.buffer);
  for (let i = 0; i < 64; i++) words.setUint32(4 * i, K[i], true);
  return compressor = {
    mem: new Uint8Array(memory.buffer),
    words,
    compress: instance.exports.c as (n: number) => void,
  };
}

const IV = [
  0x6a09e667,
  0xbb67ae85,
  0x3c6ef372,
  0xa54ff53a,
  0x510e527f,
  0x9b05688c,
  0x1f83d9ab,
  0x5be0cd19,
];

/** The SHA-256 digest of `data` (32 bytes). */
export function sha256(data: Uint8Array): Uint8Array {
  // Padding: 0x80, zeros, then the length in bits as a 64-bit big-endian number.
  const blocks = Math.ceil((data.length + 9) / 64);
  const buf = new Uint8Array(blocks * 64);
  buf.set(data);
  buf[data.length] = 0x80;
  const view = new DataView(buf.buffer);
  const bits = data.length * 8;
  view.setUint32(buf.length - 8, Math.floor(bits / 2 ** 32));
  view.setUint32(buf.length - 4, bits >>> 0);
  const { mem, words, compress } = wasm();
  for (let i = 0; i < 8; i++) words.setUint32(H_AT + 4 * i, IV[i], true);
  for (let at = 0; at < blocks; at += MAX_BLOCKS) {
    const n = Math.min(MAX_BLOCKS, blocks - at);
    mem.set(buf.subarray(at * 64, (at + n) * 64), BLOCKS_AT);
    compress(n);
  }
  const out = new Uint8Array(32);
  const o = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) o.setUint32(i * 4, words.getUint32(H_AT + 4 * i, true));
  return out;
}

/** HMAC-SHA-256 (RFC 2104) of `msg` under `key`. */
export function hmacSha256(key: Uint8Array, msg: Uint8Array): Uint8Array {
  const k = new Uint8Array(64);
  k.set(key.length > 64 ? sha256(key) : key);
  const inner = new Uint8Array(64 + msg.length);
  const outer = new Uint8Array(64 + 32);
  for (let i = 0; i < 64; i++) {
    inner[i] = k[i] ^ 0x36;
    outer[i] = k[i] ^ 0x5c;
  }
  inner.set(msg, 64);
  outer.set(sha256(inner), 64);
  return sha256(outer);
}
