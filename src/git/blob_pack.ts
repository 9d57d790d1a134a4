/**
 * Writing blobs that arrive as streams into a git pack file, so `index-pack` can
 * verify and install them like any fetched pack. A pack (not a loose object through
 * `hash-object`) because git reads `--stdin` whole into memory; a pack streams.
 *
 * Incompressible content (most large files: media, archives, models) is stored with
 * zlib level 0, which costs nothing to write or read; content that compresses gets
 * level 1. The choice is made per blob from its first megabyte.
 */
import { createHash } from "node:crypto";
import { Duplex } from "node:stream";
import zlib from "node:zlib";

export interface PackBlob {
  size: number;
  /** Opened when its turn comes; an error from it (even at its end) discards the pack. */
  open(): ReadableStream<Uint8Array>;
}

const OBJ_BLOB = 3;

/** Pack object header: type and size, little-endian base-128 with a continuation bit. */
function objectHeader(type: number, size: number): Uint8Array {
  const out: number[] = [];
  let byte = (type << 4) | (size % 16);
  let rest = Math.floor(size / 16);
  while (rest > 0) {
    out.push(byte | 0x80);
    byte = rest % 128;
    rest = Math.floor(rest / 128);
  }
  out.push(byte);
  return new Uint8Array(out);
}

function compressible(sample: Uint8Array): boolean {
  const probe = sample.subarray(0, 1 << 20);
  return zlib.deflateSync(probe, { level: 1 }).byteLength < probe.byteLength * 0.9;
}

/** Prepend `first` to what is left of `reader`. */
function rejoin(
  first: Uint8Array,
  reader: ReadableStreamDefaultReader<Uint8Array>,
): ReadableStream<Uint8Array> {
  let pending: Uint8Array | null = first;
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      if (pending) {
        ctl.enqueue(pending);
        pending = null;
        return;
      }
      const { done, value } = await reader.read();
      if (done) ctl.close();
      else ctl.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

async function deflated(content: ReadableStream<Uint8Array>): Promise<ReadableStream<Uint8Array>> {
  const reader = content.getReader();
  const first = await reader.read();
  const head = first.done ? new Uint8Array(0) : first.value;
  const level = head.byteLength && compressible(head) ? 1 : 0;
  const z = Duplex.toWeb(zlib.createDeflate({ level })) as unknown as TransformStream<
    Uint8Array,
    Uint8Array
  >;
  return rejoin(head, reader).pipeThrough(z);
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
    const head = new Uint8Array(12);
    head.set(new TextEncoder().encode("PACK"));
    const view = new DataView(head.buffer);
    view.setUint32(4, 2);
    view.setUint32(8, blobs.length);
    await write(head);
    for (const blob of blobs) {
      await write(objectHeader(OBJ_BLOB, blob.size));
      for await (const piece of await deflated(blob.open())) await write(piece);
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
