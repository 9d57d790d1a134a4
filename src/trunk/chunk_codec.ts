/**
 * How one chunk's bytes are stored in `chunks/<sha256>` (DESIGN.md, "Large blobs").
 *
 * - Raw: the plain bytes, exactly as long as the manifest says. Every chunk written
 *   before compression existed is raw, and so is every chunk that does not compress.
 * - Compressed: one codec byte (1 = zstd), then the compressed bytes. Kept only when it
 *   saves at least a tenth, so a compressed object is always shorter than its plain size
 *   and the length alone tells the two apart.
 *
 * The name stays the SHA-256 of the PLAIN bytes, so deduplication and verification do
 * not depend on how a chunk happens to be stored (two writers may even store the same
 * chunk differently). What the store returns is untrusted: the plain size comes from the
 * manifest, decompression stops past it, and the caller checks the SHA-256.
 */
import { createHash } from "./node_crypto.ts";
import { zlib } from "../pack/zlib.ts";
import { DEFAULT_CHUNKING } from "./chunker.ts";
import { TrunkError } from "./errors.ts";

export const CODEC_ZSTD = 1;

/** zstd's fastest regular level: text-like chunks shrink several-fold at a few hundred MiB/s. */
const ZSTD_LEVEL = 1;

/** Keep the compressed form only when it is at most this fraction of the plain size. */
const WORTH = 0.9;

// deno-lint-ignore no-explicit-any
const z = () => zlib() as any;

/** The bytes to store for a chunk: compressed when that saves at least a tenth, else raw. */
export function encodeChunk(plain: Uint8Array): Uint8Array {
  if (plain.byteLength < 64) return plain;
  const packed: Uint8Array = z().zstdCompressSync(plain, {
    params: { [zlib().constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL },
  });
  if (packed.byteLength + 1 > plain.byteLength * WORTH) return plain;
  const out = new Uint8Array(packed.byteLength + 1);
  out[0] = CODEC_ZSTD;
  out.set(packed, 1);
  return out;
}

/**
 * The plain bytes of a stored chunk whose manifest says it holds `size` bytes. Throws a
 * "corrupt" TrunkError naming `where` when the object cannot be those bytes; the caller
 * still checks the SHA-256 of what this returns.
 */
export function decodeChunk(stored: Uint8Array, size: number, where: string): Uint8Array {
  if (stored.byteLength === size) return stored;
  const bad = (why: string) =>
    new TrunkError(
      `chunk ${where} is corrupt: ${why}, not the ${size} bytes its manifest lists; run trunks check`,
      "corrupt",
    );
  if (stored.byteLength > size || stored.byteLength < 2) {
    throw bad(`${stored.byteLength} bytes stored`);
  }
  if (stored[0] !== CODEC_ZSTD) throw bad(`unknown codec ${stored[0]}`);
  let plain: Uint8Array;
  try {
    // The manifest's size bounds the output: a crafted object cannot inflate past it.
    plain = z().zstdDecompressSync(stored.subarray(1), { maxOutputLength: size });
  } catch {
    throw bad("its zstd data does not decompress");
  }
  if (plain.byteLength !== size) throw bad(`it decompresses to ${plain.byteLength} bytes`);
  return new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength);
}

/**
 * Whether `stored` is the chunk named `sha256`, raw or compressed, when no manifest is
 * at hand (copying between storages). Decompression is bounded by the largest chunk
 * the chunker makes.
 */
export function storedChunkMatches(stored: Uint8Array, sha256: string): boolean {
  const hash = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
  if (hash(stored) === sha256) return true;
  if (stored.byteLength < 2 || stored[0] !== CODEC_ZSTD) return false;
  try {
    const plain: Uint8Array = z().zstdDecompressSync(stored.subarray(1), {
      maxOutputLength: DEFAULT_CHUNKING.max,
    });
    return plain.byteLength > stored.byteLength && hash(plain) === sha256;
  } catch {
    return false;
  }
}
