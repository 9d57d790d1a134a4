/**
 * Writing blobs that arrive as streams into a git pack file, so `index-pack` can
 * verify and install them like any fetched pack. A pack (not a loose object through
 * `hash-object`) because git reads `--stdin` whole into memory; a pack streams.
 *
 * Incompressible content (most large files: media, archives, models) is stored with
 * zlib level 0, which costs nothing to write or read; content that compresses gets
 * level 1. The choice is made per blob from its first megabyte.
 */
import { createHash } from "./hash.ts";
import { type NodeZlib, zlib } from "./zlib.ts";
import { encodePackHeader, entryHeader } from "./pack_format.ts";

export interface PackBlob {
  size: number;
  /** Opened when its turn comes; an error from it (even at its end) discards the pack. */
  open(): ReadableStream<Uint8Array>;
}

function compressible(sample: Uint8Array): boolean {
  const probe = sample.subarray(0, 1 << 20);
  return zlib().deflateSync(probe, { level: 1 }).byteLength < probe.byteLength * 0.9;
}

/**
 * Deflate `content` into `write`, one piece at a time: each piece's output is written
 * before the next piece is read, so memory stays at one piece whatever the size.
 * (Node's zlib stream wrapped as a web stream does not push back: it would buffer.)
 */
async function deflateInto(
  content: ReadableStream<Uint8Array>,
  write: (bytes: Uint8Array) => Promise<void>,
): Promise<void> {
  const reader = content.getReader();
  let z: ReturnType<NodeZlib["createDeflate"]> | undefined;
  let failed: Error | undefined;
  const out: Uint8Array[] = [];
  const flush = async () => {
    while (out.length) await write(out.shift()!);
    if (failed) throw failed;
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!z) {
        z = zlib().createDeflate({ level: compressible(value) ? 1 : 0 });
        z.on("data", (c: Uint8Array) => out.push(c));
        z.on("error", (e: Error) => failed = e);
      }
      const zz = z;
      await new Promise<void>((resolve) => zz.write(value, () => resolve()));
      await flush();
    }
    z ??= zlib().createDeflate({ level: 0 });
    const zz = z;
    const ended = new Promise<void>((resolve) => zz.once("end", () => resolve()));
    zz.on("error", () => {}); // reported through `failed`
    zz.end();
    await Promise.race([ended, new Promise((r) => zz.once("error", r))]);
    await flush();
  } catch (e) {
    z?.destroy();
    await reader.cancel(e).catch(() => {});
    throw e;
  }
}

/**
 * Write `blobs` as one pack at `path` (trailer hashed with the repository's `algo`).
 * On any error the file is removed: a pack is written whole or not at all.
 */
export async function writeBlobPack(
  path: string,
  algo: "sha1" | "sha256",
  blobs: PackBlob[],
): Promise<void> {
  const file = await Deno.open(path, { write: true, createNew: true });
  const trailer = createHash(algo);
  const write = async (bytes: Uint8Array) => {
    trailer.update(bytes);
    let at = 0;
    while (at < bytes.byteLength) at += await file.write(bytes.subarray(at));
  };
  try {
    await write(encodePackHeader(blobs.length));
    for (const blob of blobs) {
      await write(entryHeader("blob", blob.size));
      await deflateInto(blob.open(), write);
    }
    const sum = new Uint8Array(trailer.digest());
    let at = 0;
    while (at < sum.byteLength) at += await file.write(sum.subarray(at));
    file.close();
  } catch (e) {
    file.close();
    await Deno.remove(path).catch(() => {});
    throw e;
  }
}
