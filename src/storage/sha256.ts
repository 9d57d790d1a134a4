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
 * The compression function as a WebAssembly module (`assemble` writes it from its
 * instructions): a fresh process signs its first request with some 30 blocks, which plain
 * code runs interpreted (3-3.5 ms before an up-to-date fetch's one LIST could leave); the
 * module compiles and runs them in ~0.4 ms. Its memory: K at 0, the schedule W at 256, the
 * state H at 512, the blocks to compress from 1024 (bytes as given, read big-endian).
 */
const W_AT = 256;
const H_AT = 512;
const BLOCKS_AT = 1024;
/** Blocks one call compresses at most: what fits in the module's one 64 KiB page. */
const MAX_BLOCKS = (65536 - BLOCKS_AT) / 64;

/**
 * `assemble()`'s output, kept as it is: assembling (arrays built in interpreted code) cost
 * a fresh process more (2-4 ms) than the hashing it saves. tests/unit/sigv4_test.ts checks
 * that the two agree.
 */
export const COMPRESSOR =
  "AGFzbQEAAAABBQFgAX8AAwIBAAUDAQABBwkCAW0CAAFjAAAKiQQBhgQBDX9BgAghASABIABBBnRqIQIDQEEAIQMDQCADIAEgA2oiDS0AAEEYdCANLQABQRB0ciANLQACQQh0ciANLQADcjYCgAIgA0EEaiIDQcAASQ0ACwNAIAMgAygCwAEgAygCxAFBB3ggAygCxAFBEnhzIAMoAsQBQQN2c2ogAygC5AFqIAMoAvgBQRF4IAMoAvgBQRN4cyADKAL4AUEKdnNqNgKAAiADQQRqIgNBgAJJDQALQQAoAoAEIQRBACgChAQhBUEAKAKIBCEGQQAoAowEIQdBACgCkAQhCEEAKAKUBCEJQQAoApgEIQpBACgCnAQhC0EAIQMDQCALIAhBBnggCEELeHMgCEEZeHNqIAggCXEgCEF/cyAKcXNqIAMoAgBqIAMoAoACaiEMIAohCyAJIQogCCEJIAcgDGohCCAGIQcgBSEGIAQhBSAMIAVBAnggBUENeHMgBUEWeHNqIAUgBnEgBSAHcXMgBiAHcXNqIQQgA0EEaiIDQYACSQ0AC0EAQQAoAoAEIARqNgKABEEAQQAoAoQEIAVqNgKEBEEAQQAoAogEIAZqNgKIBEEAQQAoAowEIAdqNgKMBEEAQQAoApAEIAhqNgKQBEEAQQAoApQEIAlqNgKUBEEAQQAoApgEIApqNgKYBEEAQQAoApwEIAtqNgKcBCABQcAAaiIBIAJJDQALCw==";

/** The module's bytes, from its instructions (the source of `COMPRESSOR`). */
export function assemble(): Uint8Array<ArrayBuffer> {
  const uleb = (n: number): number[] => {
    const out = [];
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n) b |= 0x80;
      out.push(b);
    } while (n);
    return out;
  };
  const sleb = (n: number): number[] => {
    const out = [];
    for (;;) {
      const b = n & 0x7f;
      n >>= 7;
      if ((n === 0 && !(b & 0x40)) || (n === -1 && (b & 0x40))) return [...out, b];
      out.push(b | 0x80);
    }
  };
  // Locals: 0 is n, the parameter (blocks to compress); t4 is 4 t, t the round.
  const [p, end, t4, a, b, c, d, e, f, g, h, t1, x] = Array.from(
    { length: 13 },
    (_, i) => i + 1,
  );
  const get = (i: number) => [0x20, i];
  const set = (i: number) => [0x21, i];
  const tee = (i: number) => [0x22, i];
  const i32 = (n: number) => [0x41, ...sleb(n)];
  const load = (offset: number) => [0x28, 2, ...uleb(offset)];
  const load8 = (offset: number) => [0x2d, 0, ...uleb(offset)];
  const store = (offset: number) => [0x36, 2, ...uleb(offset)];
  const [add, and, or, xor, shl, shrU, rotr, ltU] = [
    [0x6a],
    [0x71],
    [0x72],
    [0x73],
    [0x74],
    [0x76],
    [0x78],
    [0x49],
  ];
  const loop = [0x03, 0x40];
  const endOp = [0x0b];
  const brIf = (depth: number) => [0x0d, depth];
  /** rotr(v, r1) ^ rotr(v, r2) ^ (rotr or shift)(v, r3), left on the stack. */
  const sigma = (v: number[], r1: number, r2: number, r3: number, shift: boolean) => [
    ...v,
    ...i32(r1),
    ...rotr,
    ...v,
    ...i32(r2),
    ...rotr,
    ...xor,
    ...v,
    ...i32(r3),
    ...(shift ? shrU : rotr),
    ...xor,
  ];
  /** W[t + delta] (delta <= 0), from t4 = 4t. */
  const wAt = (delta: number) => [...get(t4), ...load(W_AT + 4 * delta)];
  const state = [a, b, c, d, e, f, g, h];
  const body = [
    ...i32(BLOCKS_AT),
    ...set(p),
    ...get(p),
    ...get(0),
    ...i32(6),
    ...shl,
    ...add,
    ...set(end),
    ...loop, // per block
    // W[0..15]: the block's words, big-endian.
    ...i32(0),
    ...set(t4),
    ...loop,
    ...get(t4),
    ...get(p),
    ...get(t4),
    ...add,
    ...tee(x),
    ...load8(0),
    ...i32(24),
    ...shl,
    ...get(x),
    ...load8(1),
    ...i32(16),
    ...shl,
    ...or,
    ...get(x),
    ...load8(2),
    ...i32(8),
    ...shl,
    ...or,
    ...get(x),
    ...load8(3),
    ...or,
    ...store(W_AT),
    ...get(t4),
    ...i32(4),
    ...add,
    ...tee(t4),
    ...i32(64),
    ...ltU,
    ...brIf(0),
    ...endOp,
    // W[16..63]
    ...loop,
    ...get(t4),
    ...wAt(-16),
    ...sigma(wAt(-15), 7, 18, 3, true),
    ...add,
    ...wAt(-7),
    ...add,
    ...sigma(wAt(-2), 17, 19, 10, true),
    ...add,
    ...store(W_AT),
    ...get(t4),
    ...i32(4),
    ...add,
    ...tee(t4),
    ...i32(256),
    ...ltU,
    ...brIf(0),
    ...endOp,
    // a..h = H
    ...state.flatMap((v, i) => [...i32(0), ...load(H_AT + 4 * i), ...set(v)]),
    ...i32(0),
    ...set(t4),
    ...loop, // 64 rounds
    // t1 = h + Σ1(e) + Ch(e, f, g) + K[t] + W[t]
    ...get(h),
    ...sigma(get(e), 6, 11, 25, false),
    ...add,
    ...get(e),
    ...get(f),
    ...and,
    ...get(e),
    ...i32(-1),
    ...xor,
    ...get(g),
    ...and,
    ...xor,
    ...add,
    ...get(t4),
    ...load(0),
    ...add,
    ...wAt(0),
    ...add,
    ...set(t1),
    ...get(g),
    ...set(h),
    ...get(f),
    ...set(g),
    ...get(e),
    ...set(f),
    ...get(d),
    ...get(t1),
    ...add,
    ...set(e),
    ...get(c),
    ...set(d),
    ...get(b),
    ...set(c),
    ...get(a),
    ...set(b),
    // a = t1 + Σ0(b) + Maj(b, c, d) (b, c, d: the old a, b, c)
    ...get(t1),
    ...sigma(get(b), 2, 13, 22, false),
    ...add,
    ...get(b),
    ...get(c),
    ...and,
    ...get(b),
    ...get(d),
    ...and,
    ...xor,
    ...get(c),
    ...get(d),
    ...and,
    ...xor,
    ...add,
    ...set(a),
    ...get(t4),
    ...i32(4),
    ...add,
    ...tee(t4),
    ...i32(256),
    ...ltU,
    ...brIf(0),
    ...endOp,
    // H += a..h
    ...state.flatMap((v, i) => [
      ...i32(0),
      ...i32(0),
      ...load(H_AT + 4 * i),
      ...get(v),
      ...add,
      ...store(H_AT + 4 * i),
    ]),
    ...get(p),
    ...i32(64),
    ...add,
    ...tee(p),
    ...get(end),
    ...ltU,
    ...brIf(0),
    ...endOp,
    ...endOp,
  ];
  const code = [1, 13, 0x7f, ...body]; // one run of 13 i32 locals
  const section = (id: number, bytes: number[]) => [id, ...uleb(bytes.length), ...bytes];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [1, 0x60, 1, 0x7f, 0]), // type: (i32) -> ()
    ...section(3, [1, 0]), // one function of that type
    ...section(5, [1, 0, 1]), // one memory of one page
    ...section(7, [2, 1, 0x6d, 2, 0, 1, 0x63, 0, 0]), // exports "m" (memory), "c" (function)
    ...section(10, [1, ...uleb(code.length), ...code]),
  ]);
}

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
