/**
 * Objects of a trunk, read straight from its segments: each segment's stored index says
 * where an object sits, and only that object's bytes are fetched (one range read), or
 * the whole pack when it is small or read a lot. Indexes and whole packs are cached in
 * memory and, with a cache directory, on disk (segments are immutable, so forever); what
 * is held of packs in memory is bounded (`packMemoryBytes`), so a long-lived Trunk in a
 * server that reads a lot does not grow with every segment it ever read.
 * Every object returned is verified against its id.
 */
import { createHash } from "../trunk/node_crypto.ts";
import type { Store } from "../storage/store.ts";
import { TrunkError } from "../trunk/errors.ts";
import { segmentIdxKey, segmentPackKey } from "../trunk/layout.ts";
import { mapLimit } from "../trunk/pool.ts";
import { readSegmentIndex, readSegmentPack, type SegmentInfo } from "../trunk/segments.ts";
import { readLargeBlob, readManifest } from "../trunk/chunks.ts";
import { PackFormatError } from "../pack/errors.ts";
import { type GitObject, type ObjectFormat, objectId } from "../pack/objects.ts";
import { applyDelta, decodeEntry } from "../pack/pack_format.ts";
import { PackIndex } from "../pack/pack_index.ts";

/** How segments are read: sizes that pick whole-pack downloads over range reads. */
export interface ReaderOptions {
  /** Directory for indexes and whole packs, kept across processes. */
  cacheDir?: string;
  /** Packs up to this size are downloaded whole on first use (default 1 MiB). */
  wholePackBytes?: number;
  /** After this many range reads of one pack, the whole pack is fetched (default 64). */
  rangeReadsBeforeWhole?: number;
  /**
   * A sequential read (a log, a tree walk) fetches at least this many bytes (default
   * 16 KiB): git packs keep commits together and trees near each other, so the next
   * object is mostly in what the previous read brought along.
   */
  readAheadBytes?: number;
  /**
   * Bytes of packs held in memory at once, whole packs and ranges read (default 256 MiB):
   * past it, the segments read least recently are dropped from memory (read again, from
   * the disk cache or the store, when needed). A pack larger than this is never downloaded
   * whole where the store reads ranges.
   */
  packMemoryBytes?: number;
}

/** What object reads of one `Trunk` downloaded. */
export interface ReadStats {
  /** Bytes downloaded from the store (indexes, packs and ranges, blob manifests, chunks). */
  bytes: number;
  /** Store requests made by reads. */
  requests: number;
  /** Objects served from the disk cache without a request. */
  diskHits: number;
  /** Bytes of packs held in memory now (whole packs and ranges read). */
  heldBytes: number;
}

class Segment {
  index?: Promise<PackIndex>;
  /** The index once read: looked up without a turn of the event loop. */
  loaded?: PackIndex;
  pack?: Uint8Array;
  whole?: Promise<Uint8Array>;
  rangeReads = 0;
  /** Dropped from memory once: no longer downloaded whole for being small. */
  dropped = false;
  /** Byte ranges already fetched (with read-ahead), newest last. */
  spans: { start: number; bytes: Uint8Array }[] = [];
  spanBytes = 0;
  constructor(readonly info: SegmentInfo) {}

  /** Bytes of its pack held in memory. */
  held(): number {
    return (this.pack?.byteLength ?? 0) + this.spanBytes;
  }

  /** Drops what it holds of its pack (not its index). */
  forget(): void {
    this.pack = undefined;
    this.whole = undefined;
    this.spans = [];
    this.spanBytes = 0;
    // Read by range again, whole only once read a lot again: a pack dropped and read once
    // more in turn with another is not downloaded whole for every object.
    this.rangeReads = 0;
    this.dropped = true;
  }

  cached(start: number, end: number): Uint8Array | null {
    for (const s of this.spans) {
      if (s.start <= start && end <= s.start + s.bytes.byteLength) {
        return s.bytes.subarray(start - s.start, end - s.start);
      }
    }
    return null;
  }

  keep(start: number, bytes: Uint8Array, limit: number): void {
    this.spans.push({ start, bytes });
    this.spanBytes += bytes.byteLength;
    while (this.spanBytes > limit && this.spans.length > 1) {
      this.spanBytes -= this.spans.shift()!.bytes.byteLength;
    }
  }
}

const OBJECT_CACHE_BYTES = 32 * 1024 * 1024;
const PACK_MEMORY_BYTES = 256 * 1024 * 1024;
const DELTA_LOOK_BEHIND = 32 * 1024;

export class ObjectReader {
  readonly stats: ReadStats = { bytes: 0, requests: 0, diskHits: 0, heldBytes: 0 };
  #segments = new Map<string, Segment>();
  /** Segments holding pack bytes in memory, least recently read first. */
  #holding = new Set<Segment>();
  /** Objects made locally and not yet pushed. */
  readonly local = new Map<string, GitObject>();
  /** Reads under way, by object id. */
  #reading = new Map<string, Promise<GitObject>>();
  /** Recently read objects (delta bases and trees), bounded by bytes. */
  #cache = new Map<string, GitObject>();
  #cacheBytes = 0;

  constructor(
    readonly store: Store,
    readonly format: ObjectFormat,
    readonly trunkId: string,
    readonly opts: ReaderOptions = {},
  ) {}

  /** The segments now listed; known ones keep their cached index and pack. */
  setSegments(list: SegmentInfo[]): void {
    const next = new Map<string, Segment>();
    for (const info of list) next.set(info.id, this.#segments.get(info.id) ?? new Segment(info));
    this.#segments = next;
    // Those no longer listed (compacted and deleted) are read no more.
    for (const seg of this.#holding) {
      if (next.get(seg.info.id) !== seg) this.#drop(seg);
    }
  }

  /**
   * Still listed: what a read brings is kept. One that setSegments left out while it was
   * being read would otherwise be held again, past the drop, until others push it out.
   */
  #listed(seg: Segment): boolean {
    return this.#segments.get(seg.info.id) === seg;
  }

  get #budget(): number {
    return this.opts.packMemoryBytes ?? PACK_MEMORY_BYTES;
  }

  /**
   * `seg` was just read from, holding `was` bytes before: it becomes the most recently read,
   * and the least recently read others are dropped while the total is past the budget.
   */
  #touch(seg: Segment, was: number): void {
    this.#holding.delete(seg);
    const now = seg.held();
    this.stats.heldBytes += now - was;
    if (now > 0) this.#holding.add(seg);
    for (const other of this.#holding) {
      if (this.stats.heldBytes <= this.#budget) break;
      if (other !== seg) this.#drop(other);
    }
  }

  #drop(seg: Segment): void {
    this.stats.heldBytes -= seg.held();
    seg.forget();
    this.#holding.delete(seg);
  }

  /** A segment this client just wrote: its index is known, nothing needs a download. */
  addSegment(info: SegmentInfo, idx: Uint8Array): void {
    const seg = new Segment(info);
    seg.loaded = new PackIndex(idx, this.format, segmentIdxKey(info.id), info.packSize);
    seg.index = Promise.resolve(seg.loaded);
    this.#segments.set(info.id, seg);
  }

  /**
   * Called once when an object is in no listed segment, or a listed segment vanished
   * (compacted by GC meanwhile): re-list the segments, then the read is retried.
   */
  relist?: () => Promise<void>;

  #diskPath(id: string, ext: "idx" | "pack"): string | null {
    return this.opts.cacheDir ? `${this.opts.cacheDir}/${this.trunkId}/${id}.${ext}` : null;
  }

  async #readDisk(id: string, ext: "idx" | "pack"): Promise<Uint8Array | null> {
    const p = this.#diskPath(id, ext);
    if (!p) return null;
    try {
      const b = await Deno.readFile(p);
      this.stats.diskHits++;
      return b;
    } catch {
      return null;
    }
  }

  async #writeDisk(id: string, ext: "idx" | "pack", bytes: Uint8Array): Promise<void> {
    const p = this.#diskPath(id, ext);
    if (!p) return;
    try {
      await Deno.mkdir(p.slice(0, p.lastIndexOf("/")), { recursive: true });
      const tmp = `${p}.${crypto.randomUUID()}.tmp`;
      await Deno.writeFile(tmp, bytes);
      await Deno.rename(tmp, p);
    } catch {
      // A cache that cannot be written only costs a download next time.
    }
  }

  #index(seg: Segment): Promise<PackIndex> {
    return seg.index ??= (async () => {
      const id = seg.info.id;
      const key = `${this.store.location}/${segmentIdxKey(id)}`;
      let bytes = await this.#readDisk(id, "idx");
      if (bytes) {
        try {
          return new PackIndex(bytes, this.format, key, seg.info.packSize);
        } catch {
          bytes = null; // damaged cache file: fetch it again
        }
      }
      bytes = await readSegmentIndex(this.store, id);
      this.stats.requests++;
      this.stats.bytes += bytes.byteLength;
      const idx = asTrunkError(() => new PackIndex(bytes!, this.format, key, seg.info.packSize));
      await this.#writeDisk(id, "idx", bytes);
      return idx;
    })().then((idx) => seg.loaded = idx).catch((e) => {
      seg.index = undefined;
      throw e;
    });
  }

  #wholePack(seg: Segment): Promise<Uint8Array> {
    // One download however many reads wait for it.
    const whole: Promise<Uint8Array> = seg.whole ??= this.#downloadPack(seg).then((b) => {
      // Dropped meanwhile (no longer listed, or past the budget): this read only.
      if (seg.whole !== whole || !this.#listed(seg)) return b;
      const was = seg.held();
      seg.pack = b;
      // The ranges read before are in the pack now.
      seg.spans = [];
      seg.spanBytes = 0;
      this.#touch(seg, was);
      return b;
    }, (e) => {
      if (seg.whole === whole) seg.whole = undefined;
      throw e;
    });
    return whole;
  }

  async #downloadPack(seg: Segment): Promise<Uint8Array> {
    const id = seg.info.id;
    let bytes = await this.#readDisk(id, "pack");
    if (!bytes || createHash("sha256").update(bytes).digest("hex") !== id) {
      bytes = await readSegmentPack(this.store, id);
      this.stats.requests++;
      this.stats.bytes += bytes.byteLength;
      const got = createHash("sha256").update(bytes).digest("hex");
      if (got !== id) {
        throw new TrunkError(
          `segment ${segmentPackKey(id)} on ${this.store.location} is corrupt: its SHA-256 is ${
            got.slice(0, 12)
          }…, not its name; run trunks check`,
          "corrupt",
        );
      }
      await this.#writeDisk(id, "pack", bytes);
    }
    return bytes;
  }

  /** The bytes of one pack entry, from the whole pack or by one range read. */
  async #entryBytes(
    seg: Segment,
    idx: PackIndex,
    offset: number,
    sequential: boolean,
    isBase: boolean,
  ): Promise<Uint8Array> {
    const end = idx.end(offset);
    const whole = this.opts.wholePackBytes ?? 1024 * 1024;
    if (seg.pack) {
      this.#touch(seg, seg.held());
      return seg.pack.subarray(offset, end);
    }
    // A small pack dropped before is read whole again only from the disk cache.
    const small = seg.info.packSize <= whole && (!seg.dropped || !!this.opts.cacheDir);
    if (
      !this.store.capabilities.rangeReads ||
      (seg.info.packSize <= this.#budget &&
        (small || seg.rangeReads >= (this.opts.rangeReadsBeforeWhole ?? 64)))
    ) {
      return (await this.#wholePack(seg)).subarray(offset, end);
    }
    const hit = seg.cached(offset, end);
    if (hit) {
      this.#touch(seg, seg.held());
      return hit;
    }
    seg.rangeReads++;
    // A delta's base sits before it, and the rest of its chain mostly just before that:
    // one read reaching back fetches several links at once.
    const start = isBase ? Math.max(12, offset - DELTA_LOOK_BEHIND) : offset;
    const stop = Math.max(
      end,
      Math.min(
        seg.info.packSize - idx.hl,
        offset + (sequential ? this.opts.readAheadBytes ?? 16 * 1024 : 0),
      ),
    );
    const bytes = await readSegmentPack(this.store, seg.info.id, {
      offset: start,
      length: stop - start,
    });
    this.stats.requests++;
    this.stats.bytes += bytes.byteLength;
    if (this.#listed(seg)) {
      const was = seg.held();
      seg.keep(start, bytes, Math.min(8 * 1024 * 1024, this.#budget));
      this.#touch(seg, was);
    }
    if (bytes.byteLength !== stop - start) {
      throw new TrunkError(
        `${this.store.location}/${
          segmentPackKey(seg.info.id)
        } is shorter than its index says; run trunks check`,
        "corrupt",
      );
    }
    return bytes.subarray(offset - start, end - start);
  }

  /** The object at `offset` of a segment, deltas resolved (not yet verified). */
  async #readAt(
    seg: Segment,
    idx: PackIndex,
    offset: number,
    sequential: boolean,
    depth = 0,
  ): Promise<GitObject> {
    const ck = `${seg.info.id}:${offset}`;
    const hit = this.#cache.get(ck);
    if (hit) return hit;
    const where = `${this.store.location}/${segmentPackKey(seg.info.id)}`;
    if (depth > 10_000) throw new TrunkError(`${where}: delta chain loops`, "corrupt");
    const bytes = await this.#entryBytes(seg, idx, offset, sequential, depth > 0);
    const entry = asTrunkError(() => decodeEntry(bytes, offset, this.format, where));
    let obj: GitObject;
    if (entry.kind === "whole") obj = { type: entry.type, data: entry.data };
    else {
      let base: GitObject;
      if (entry.kind === "ofs-delta") {
        base = await this.#readAt(seg, idx, entry.baseOffset, sequential, depth + 1);
      } else {
        const at = idx.find(entry.baseOid);
        // Not shared with a read() under way: a damaged chain looping back through it
        // would wait on itself forever.
        base = at !== undefined
          ? await this.#readAt(seg, idx, at, sequential, depth + 1)
          : this.#held(entry.baseOid) ?? await this.#readRelisting(entry.baseOid, [], false);
      }
      obj = {
        type: base.type,
        data: asTrunkError(() => applyDelta(base.data, entry.delta, where)),
      };
    }
    this.#remember(ck, obj);
    return obj;
  }

  #remember(key: string, obj: GitObject): void {
    if (obj.data.byteLength > OBJECT_CACHE_BYTES / 8) return;
    this.#cache.set(key, obj);
    this.#cacheBytes += obj.data.byteLength;
    for (const [k, v] of this.#cache) {
      if (this.#cacheBytes <= OBJECT_CACHE_BYTES) break;
      this.#cache.delete(k);
      this.#cacheBytes -= v.data.byteLength;
    }
  }

  /** Which segment holds `oid`: the hinted ones first, then every other, indexes in parallel. */
  async #locate(
    oid: string,
    hint: string[] = [],
  ): Promise<{ seg: Segment; idx: PackIndex; offset: number } | null> {
    const tried = new Set<string>();
    for (const id of hint) {
      const seg = this.#segments.get(id);
      if (!seg || tried.has(id)) continue;
      tried.add(id);
      const idx = await this.#index(seg);
      const offset = idx.find(oid);
      if (offset !== undefined) return { seg, idx, offset };
    }
    // The segments this client wrote last first (the next commit reads back the last
    // push's trees), and every index in memory before any is fetched: after a burst of
    // pushes a read costs what it did after the first, not a lookup per segment written.
    const rest = [...this.#segments.values()].reverse().filter((s) => !tried.has(s.info.id));
    for (const seg of rest) {
      const offset = seg.loaded?.find(oid);
      if (offset !== undefined) return { seg, idx: seg.loaded!, offset };
    }
    const unloaded = rest.filter((s) => !s.loaded);
    let found: { seg: Segment; idx: PackIndex; offset: number } | null = null;
    await mapLimit(unloaded, Math.min(8, this.store.capabilities.parallelism), async (seg) => {
      if (found) return;
      const idx = await this.#index(seg);
      const offset = idx.find(oid);
      if (offset !== undefined) found ??= { seg, idx, offset };
    });
    return found;
  }

  /** An object at hand: made here and not yet pushed, or read recently. */
  #held(oid: string): GitObject | undefined {
    return this.local.get(oid) ?? this.#cache.get(oid);
  }

  /**
   * A verified object. `hint` names segments likely to hold it (those of the ref entry
   * being read); `sequential` reads ahead (walks). A blob in no segment is looked up as
   * a large blob.
   */
  async read(oid: string, hint: string[] = [], sequential = false): Promise<GitObject> {
    const mine = this.#held(oid);
    if (mine) return mine;
    // Concurrent reads of one object (the commit and trees every path of a burst goes
    // through) share one: a pack read by range would otherwise be read once for each.
    let reading = this.#reading.get(oid);
    if (!reading) {
      const p = this.#readRelisting(oid, hint, sequential);
      const done = () => {
        if (this.#reading.get(oid) === p) this.#reading.delete(oid);
      };
      p.then(done, done);
      this.#reading.set(oid, reading = p);
    }
    return await reading;
  }

  async #readRelisting(oid: string, hint: string[], sequential: boolean): Promise<GitObject> {
    try {
      return await this.#read(oid, hint, sequential);
    } catch (e) {
      if (!(e instanceof TrunkError) || e.code !== "missing-object" || !this.relist) throw e;
      await this.relist();
      return await this.#read(oid, hint, sequential);
    }
  }

  async #read(oid: string, hint: string[], sequential: boolean): Promise<GitObject> {
    const at = await this.#locate(oid, hint);
    let obj: GitObject;
    if (at) {
      try {
        obj = await this.#readAt(at.seg, at.idx, at.offset, sequential);
        const got = objectId(this.format, obj.type, obj.data);
        if (got !== oid) {
          throw new TrunkError(
            `object ${oid} in ${this.store.location}/${
              segmentPackKey(at.seg.info.id)
            } hashes to ${got}; run trunks check`,
            "corrupt",
          );
        }
      } catch (e) {
        // Damaged bytes (a bad response, or a pack repaired since) are not served again from
        // memory: the next read fetches them anew.
        if (e instanceof TrunkError && e.code === "corrupt") this.#drop(at.seg);
        throw e;
      }
    } else {
      const data = await this.#readLargeBlob(oid);
      if (!data) {
        this.stats.requests++;
        throw new TrunkError(
          `object ${oid} is in no segment of ${this.store.location}; run trunks check`,
          "missing-object",
        );
      }
      obj = { type: "blob", data };
    }
    this.#remember(oid, obj);
    return obj;
  }

  #counter = {
    onBytes: (n: number) => {
      this.stats.requests++;
      this.stats.bytes += n;
    },
  };

  /** A large blob (chunks) as a verified stream, or null when the trunk has no manifest. */
  async #openLargeBlob(
    oid: string,
  ): Promise<{ size: number; stream: ReadableStream<Uint8Array> } | null> {
    const m = await readManifest(this.store, oid, this.#counter);
    return m && { size: m.size, stream: readLargeBlob(this.store, m, this.#counter) };
  }

  async #readLargeBlob(oid: string): Promise<Uint8Array | null> {
    const opened = await this.#openLargeBlob(oid);
    if (!opened) return null;
    const out = new Uint8Array(opened.size);
    let at = 0;
    for await (const part of opened.stream) {
      out.set(part, at);
      at += part.byteLength;
    }
    return out;
  }

  /**
   * A blob as a stream: a large blob (chunks) is streamed, a few chunks ahead, verified
   * as it goes; any other object is read whole and verified first.
   */
  async stream(oid: string): Promise<ReadableStream<Uint8Array>> {
    const whole = (data: Uint8Array) =>
      new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(data);
          c.close();
        },
      });
    const mine = this.#held(oid);
    if (mine) return whole(mine.data);
    if (!(await this.#locate(oid))) {
      const opened = await this.#openLargeBlob(oid);
      if (opened) return opened.stream;
    }
    return whole((await this.read(oid)).data);
  }
}

/** The library reports damaged data as its own `TrunkError`, whichever layer found it. */
function asTrunkError<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof PackFormatError) throw new TrunkError(e.message, "corrupt", { cause: e });
    throw e;
  }
}
