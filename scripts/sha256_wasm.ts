/**
 * The source of src/storage/sha256.ts `COMPRESSOR`: SHA-256's compression function as a
 * WebAssembly module, written from its instructions. Kept out of src/ so no helper parses
 * it; tests/unit/sigv4_test.ts checks that its output is the module kept.
 *
 *   deno run scripts/sha256_wasm.ts     # prints the base64 to paste into COMPRESSOR
 */
import { BLOCKS_AT, H_AT, W_AT } from "../src/storage/sha256.ts";

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

if (import.meta.main) console.log(assemble().toBase64());
