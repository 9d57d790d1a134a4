/**
 * Joining self-contained packs into one, so a fetch of many segments leaves one pack
 * in the repository instead of hundreds (git slows down with every pack it must
 * search). Each input's entries are appended unchanged under a new header with the
 * summed object count and a new trailing checksum: OFS_DELTA offsets are relative to
 * their own entry, so they stay valid. Streamed through a fixed buffer, so memory does
 * not grow with pack size; `git index-pack` then indexes (and verifies) the result.
 *
 * An object stored in two inputs (two pushes of the same file) would be in the joined
 * pack twice, which `git index-pack --strict` refuses. When inputs come with their
 * indexes, later copies are dropped: an entry after a dropped one is moved up, so its
 * OFS_DELTA distance is re-encoded, and a delta whose base was the dropped copy refers
 * to the kept copy by id (REF_DELTA) instead.
 */
import { StreamHash } from "./hash.ts";
import { equalBytes, fromHex, toHex } from "./bytes.ts";
import { PackFormatError } from "./errors.ts";
import { hashLength, type ObjectFormat } from "./objects.ts";
import {
  encodePackHeader,
  OFS_DELTA,
  PACK_HEADER_BYTES,
  parsePackHeader,
  REF_DELTA,
} from "./pack_format.ts";
import { PackIndex } from "./pack_index.ts";

export interface JoinInput {
  /**
   * A self-contained pack (every delta base inside it): its path, or its bytes (a small
   * segment downloaded into memory: no file to write, open and remove for it).
   */
  pack: string | Uint8Array;
  /** What errors call a pack given as bytes (its segment's key). */
  name?: string;
  /** Its index (bytes or a path); without one, its duplicates cannot be dropped. */
  idx?: Uint8Array | string;
}

export interface JoinResult {
  /** Objects in the joined pack. */
  objects: number;
  /** Copies of objects already in an earlier input, left out. */
  dropped: number;
  /** Deltas whose base was such a copy, now naming the kept one (REF_DELTA). */
  repointed: number;
  bytes: number;
}

const BUF = 1 << 20;

/**
 * Sequential reads of one file through a fixed buffer, or of bytes already in memory (the
 * buffer then), hashing every byte read.
 */
class PackReader {
  #buf: Uint8Array;
  #start = 0;
  #end = 0;
  #left: number;
  readonly file: Deno.FsFile | null;
  readonly hash;

  constructor(
    source: Deno.FsFile | Uint8Array,
    readonly where: string,
    format: ObjectFormat,
    size: number,
  ) {
    this.hash = new StreamHash(format);
    if (source instanceof Uint8Array) {
      [this.file, this.#buf, this.#end, this.#left] = [null, source.subarray(0, size), size, 0];
    } else {
      [this.file, this.#buf, this.#left] = [source, new Uint8Array(BUF), size];
    }
  }

  /** At least `n` (<= BUF) bytes buffered, or fewer at the end of the file. */
  async #fill(n: number): Promise<void> {
    if (this.#end - this.#start >= n || !this.file) return;
    this.#buf.copyWithin(0, this.#start, this.#end);
    this.#end -= this.#start;
    this.#start = 0;
    while (this.#end < n && this.#left > 0) {
      const got = await this.file.read(
        this.#buf.subarray(this.#end, this.#end + Math.min(BUF - this.#end, this.#left)),
      );
      if (got === null) break;
      this.#end += got;
      this.#left -= got;
    }
  }

  /** Up to `n` bytes (<= BUF) without consuming them. */
  async peek(n: number): Promise<Uint8Array> {
    await this.#fill(n);
    return this.#buf.subarray(this.#start, this.#start + Math.min(n, this.#end - this.#start));
  }

  /** Exactly `n` bytes, consumed and hashed, handed to `sink` piece by piece. */
  async take(n: number, sink?: (b: Uint8Array) => Promise<void>): Promise<void> {
    while (n > 0) {
      await this.#fill(Math.min(n, BUF));
      const k = Math.min(n, this.#end - this.#start);
      if (k === 0) throw new PackFormatError(`${this.where} ended early`);
      const piece = this.#buf.subarray(this.#start, this.#start + k);
      this.hash.update(piece);
      if (sink) await sink(piece);
      this.#start += k;
      n -= k;
    }
  }
}

/** Reads from `at` until `b` is full or the file ends; how many bytes were read. */
function readAtSync(file: Deno.FsFile, at: number, b: Uint8Array): number {
  file.seekSync(at, Deno.SeekMode.Start);
  let got = 0;
  while (got < b.byteLength) {
    const n = file.readSync(b.subarray(got));
    if (n === null || n === 0) break;
    got += n;
  }
  return got;
}

/**
 * A pack's size, object count (its header) and trailing checksum (read once, matched
 * against its index and its stream), through one open file. Synchronous: three small
 * reads, where an async open, stat and read each cost a turn of the event loop (~1 ms an
 * input in a clone's join, on its path to index-pack).
 */
function readEnds(
  pack: string | Uint8Array,
  where: string,
  hl: number,
): { size: number; count: number; trailer: Uint8Array } {
  if (pack instanceof Uint8Array) {
    const count = parsePackHeader(pack.subarray(0, PACK_HEADER_BYTES), where);
    if (pack.byteLength < hl) throw new PackFormatError(`${where} has no trailing checksum`);
    return { size: pack.byteLength, count, trailer: pack.slice(pack.byteLength - hl) };
  }
  using file = Deno.openSync(pack);
  const size = file.statSync().size;
  const head = new Uint8Array(PACK_HEADER_BYTES);
  const count = parsePackHeader(head.subarray(0, readAtSync(file, 0, head)), pack);
  if (size < hl) throw new PackFormatError(`${pack} has no trailing checksum`);
  const trailer = new Uint8Array(hl);
  if (readAtSync(file, size - hl, trailer) < hl) {
    throw new PackFormatError(`${pack} has no trailing checksum`);
  }
  return { size, count, trailer };
}

/** Git's OFS_DELTA distance: base-128, most significant first, each continuation +1. */
function encodeOfs(distance: number): Uint8Array {
  const out = [distance % 128];
  let d = Math.floor(distance / 128);
  while (d > 0) {
    d--;
    out.unshift(128 | (d % 128));
    d = Math.floor(d / 128);
  }
  return new Uint8Array(out);
}

/** Length of the type-and-size varint at the start of an entry header. */
function sizeHeaderLength(h: Uint8Array, where: string): number {
  let i = 0;
  while (i < h.byteLength && h[i] & 0x80) i++;
  if (i >= h.byteLength) throw new PackFormatError(`${where}: entry header runs past its entry`);
  return i + 1;
}

/**
 * Join `inputs` into a new pack at `dest` (created; removed again on any error). Each
 * input's own trailing checksum is verified as it streams past.
 */
export async function joinPacks(
  inputs: JoinInput[],
  dest: string,
  format: ObjectFormat,
): Promise<JoinResult> {
  const hl = hashLength(format);
  const plans = [];
  const earlier: PackIndex[] = [];
  let objects = 0;
  let dropped = 0;
  let repointed = 0;
  for (const input of inputs) {
    const name = typeof input.pack === "string" ? input.pack : input.name ?? "a pack in memory";
    const { size, count, trailer } = readEnds(input.pack, name, hl);
    let entries: { oid: string; offset: number }[] | undefined;
    let drop: Uint8Array | undefined;
    if (input.idx !== undefined) {
      const bytes = typeof input.idx === "string" ? await Deno.readFile(input.idx) : input.idx;
      // Named by its path, or by its pack's (never its bytes as text: ~600 KB made per
      // clone from a 170 KB index, to be used only in an error).
      const where = typeof input.idx === "string" ? input.idx : `the index of ${name}`;
      const idx = await PackIndex.open(bytes, format, where, size);
      if (idx.count !== count) {
        throw new PackFormatError(`${name} holds ${count} objects, its index ${idx.count}`);
      }
      // Duplicates are dropped by the index's names: an index made for another pack (a
      // store's, swapped) would drop objects this pack alone holds. Its recorded pack
      // checksum must be this pack's trailer, which is verified as the pack streams past.
      if (idx.packChecksum !== toHex(trailer)) {
        throw new PackFormatError(`${name}: its index was made for another pack`);
      }
      // Held by an earlier input (an index names each object once): dropped here.
      const twice = new Set<string>();
      for (const e of earlier) for (const oid of idx.shared(e)) twice.add(oid);
      earlier.push(idx);
      if (twice.size) {
        entries = idx.byOffset();
        drop = new Uint8Array(entries.length);
        entries.forEach((e, i) => {
          if (twice.has(e.oid)) drop![i] = 1;
        });
      }
      dropped += twice.size;
      objects += count - twice.size;
    } else objects += count;
    plans.push({ input, name, size, trailer, entries, drop });
  }

  const out = await Deno.open(dest, { write: true, createNew: true });
  const sum = new StreamHash(format);
  let written = 0;
  const write = async (b: Uint8Array) => {
    sum.update(b);
    written += b.byteLength;
    for (let at = 0; at < b.byteLength;) at += await out.write(b.subarray(at));
  };
  const checks: Promise<void>[] = [];
  try {
    await write(encodePackHeader(objects));
    for (const plan of plans) {
      const pack = plan.input.pack;
      using file = typeof pack === "string" ? await Deno.open(pack) : null;
      const r = new PackReader(file ?? pack as Uint8Array, plan.name, format, plan.size - hl);
      await r.take(PACK_HEADER_BYTES);
      const bodyEnd = plan.size - hl;
      if (!plan.drop) await r.take(bodyEnd - PACK_HEADER_BYTES, write);
      else {
        repointed += await copyDroppingDuplicates(
          r,
          plan.name,
          plan.entries!,
          plan.drop,
          bodyEnd,
          write,
        );
      }
      // Hashed beside the next input's copy (WebCrypto runs off this thread); all are
      // matched before the joined pack gets its trailer.
      const check = r.hash.digest().then((d) => {
        if (!equalBytes(d, plan.trailer)) {
          throw new PackFormatError(`${plan.name} does not match its trailing checksum`);
        }
      });
      check.catch(() => {}); // awaited below; a mismatch found meanwhile is not unhandled
      checks.push(check);
    }
    await Promise.all(checks);
    const trailer = await sum.digest();
    for (let at = 0; at < trailer.byteLength;) at += await out.write(trailer.subarray(at));
    written += trailer.byteLength;
    out.close();
  } catch (e) {
    out.close();
    await Promise.allSettled([Deno.remove(dest), ...checks]);
    throw e;
  }
  return { objects, dropped, repointed, bytes: written };
}

/** One input's entries, without those marked in `drop`, deltas re-pointed (how many). */
async function copyDroppingDuplicates(
  r: PackReader,
  where: string,
  entries: { oid: string; offset: number }[],
  drop: Uint8Array,
  bodyEnd: number,
  write: (b: Uint8Array) => Promise<void>,
): Promise<number> {
  let repointed = 0;
  // Where each kept entry lands, relative to this input's first entry.
  const moved = new Float64Array(entries.length);
  const indexOf = (offset: number): number => {
    let lo = 0;
    let hi = entries.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (entries[mid].offset === offset) return mid;
      if (entries[mid].offset < offset) lo = mid + 1;
      else hi = mid - 1;
    }
    throw new PackFormatError(`${where}: a delta's base at offset ${offset} is no object`);
  };
  if (entries.length && entries[0].offset !== PACK_HEADER_BYTES) {
    throw new PackFormatError(`${where}: its index does not start at the first entry`);
  }
  let outAt = 0;
  for (let i = 0; i < entries.length; i++) {
    const start = entries[i].offset;
    const end = i + 1 < entries.length ? entries[i + 1].offset : bodyEnd;
    const len = end - start;
    if (drop[i]) {
      await r.take(len);
      continue;
    }
    moved[i] = outAt;
    const head = await r.peek(Math.min(len, 32));
    const type = (head[0] >> 4) & 7;
    if (type !== OFS_DELTA) {
      await r.take(len, write);
      outAt += len;
      continue;
    }
    const sizeLen = sizeHeaderLength(head, where);
    let k = sizeLen;
    let c = head[k++];
    let back = c & 0x7f;
    while (c & 0x80) {
      if (k >= head.byteLength) throw new PackFormatError(`${where}: bad delta offset`);
      c = head[k++];
      back = (back + 1) * 128 + (c & 0x7f);
    }
    const base = indexOf(start - back);
    let header: Uint8Array;
    if (drop[base]) {
      // The kept copy is in an earlier input: name it instead of pointing at it.
      header = new Uint8Array(sizeLen + fromHex(entries[base].oid).byteLength);
      header.set(head.subarray(0, sizeLen));
      header[0] = (header[0] & 0x8f) | (REF_DELTA << 4);
      header.set(fromHex(entries[base].oid), sizeLen);
      repointed++;
    } else {
      const ofs = encodeOfs(outAt - moved[base]);
      header = new Uint8Array(sizeLen + ofs.byteLength);
      header.set(head.subarray(0, sizeLen));
      header.set(ofs, sizeLen);
    }
    await r.take(k);
    await write(header);
    await r.take(len - k, write);
    outAt += header.byteLength + len - k;
  }
  return repointed;
}

/** Remove the inputs given as files (after a join, or when it failed). */
export async function removeInputFiles(inputs: readonly JoinInput[]): Promise<void> {
  await Promise.all(
    inputs.map((i) => typeof i.pack === "string" ? Deno.remove(i.pack).catch(() => {}) : null),
  );
}
