/**
 * The gear table of the content-defined chunker: 256 pseudo-random 32-bit values, one
 * per byte value. It is part of the chunk format in the sense that a different table
 * cuts files elsewhere: nothing breaks (manifests list their chunks explicitly), but
 * chunks no longer deduplicate against those cut with the old table. So the table is
 * generated from a fixed seed with a fixed generator (SplitMix32) and must never change.
 */
function gearTable(): Int32Array {
  const table = new Int32Array(256);
  let state = 0x7472756e; // "trun"
  for (let i = 0; i < 256; i++) {
    state = (state + 0x9e3779b9) | 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    table[i] = z ^ (z >>> 16);
  }
  return table;
}

export const GEAR: Int32Array = gearTable();
