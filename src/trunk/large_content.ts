/**
 * Content a program hands over without holding it in memory (a local file, a Blob, a
 * stream), staged for a push that stores it as chunks through `uploadLargeBlobs`, the
 * code `git push` uses. Git's blob id needs the size first (`blob <size>\0`), so:
 *
 * - a file or Blob: its size is known; one streaming pass computes the id, and the push
 *   reads it again (a file changed meanwhile fails the push, never stores other bytes);
 * - a stream: kept in memory up to the large-blob threshold; past it, spooled to a
 *   private temporary file (one pass computing the id when the caller gives the size,
 *   else a second pass over the spooled file). The push reads the spooled copy.
 *
 * Content at or below the threshold comes back as bytes: it goes in the segment like
 * any small object, exactly as git's split pack keeps it.
 */
import { concat } from "../pack/bytes.ts";
import { BlobHasher } from "./chunks.ts";
import { TrunkError } from "./errors.ts";
import { isLargeBlob } from "./large_blobs.ts";

/** A large blob staged for a push: its id, size, and its bytes on demand. */
export interface LargeContent {
  oid: string;
  size: number;
  /** The blob's bytes (a new stream each time). */
  open(): ReadableStream<Uint8Array>;
}

/** What staging produced: bytes for the segment, or a large blob for the chunk store. */
export type Staged = { bytes: Uint8Array } | { large: LargeContent };

/** Where a program's content comes from. */
export type ContentSource = string | URL | Blob | ReadableStream<Uint8Array>;

/**
 * One way to read a staged blob's bytes. Copies the process owns (bytes in memory, a
 * Blob, a spooled stream) stay readable; a user's file may change or vanish.
 */
interface Copy {
  open(): ReadableStream<Uint8Array>;
  owned: boolean;
  /** The temporary file behind a spooled stream (deleted when the copy goes). */
  spool?: string;
}

/**
 * A large blob and every copy of it staged so far, preferring one the process owns:
 * the same id is the same bytes, so any readable copy will do, and dropping a copy
 * must never leave only an unreadable one (a user's file deleted after another path
 * staged the same content from a stream).
 */
class Entry implements LargeContent {
  copies: Copy[] = [];
  constructor(readonly oid: string, readonly size: number) {}

  get spool(): string | undefined {
    return this.copies[0]?.spool;
  }

  /** Keep `c`; returns the spooled files no longer needed (an owned copy makes the rest redundant). */
  add(c: Copy): string[] {
    if (this.copies[0]?.owned) return c.spool ? [c.spool] : [];
    if (!c.owned) {
      this.copies.push(c);
      return [];
    }
    const dropped = this.copies.flatMap((o) => o.spool ? [o.spool] : []);
    this.copies = [c];
    return dropped;
  }

  open(): ReadableStream<Uint8Array> {
    if (this.copies.length === 1) return this.copies[0].open();
    return firstReadable(this.copies);
  }
}

/** The first of `copies` that opens; only when none does, the last one's error. */
function firstReadable(copies: Copy[]): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  let first: ReadableStreamReadResult<Uint8Array> | null = null;
  return new ReadableStream<Uint8Array>({
    async start() {
      let err: unknown;
      for (const c of copies) {
        const r = c.open().getReader();
        try {
          first = await r.read();
          reader = r;
          return;
        } catch (e) {
          err = e;
          await r.cancel().catch(() => {});
        }
      }
      throw err;
    },
    async pull(ctl) {
      const got = first ?? await reader!.read();
      first = null;
      if (got.done) ctl.close();
      else ctl.enqueue(got.value);
    },
    async cancel(why) {
      await reader?.cancel(why);
    },
  }, { highWaterMark: 0 });
}

/**
 * Large contents staged by one client, and the temporary files behind the streamed
 * ones: `keepOnly` drops what nothing refers to any more, `close` drops everything
 * (also at process exit, should the program never close).
 */
export class LargeContents {
  #byOid = new Map<string, Entry>();
  /** Staged here but not yet referred to by the caller: `keepOnly` spares them. */
  #fresh = new Set<string>();
  #dir: string | null = null;
  #unload = () => this.#removeDirSync();

  constructor(
    readonly algo: "sha1" | "sha256",
    readonly threshold: number,
    readonly tempDir?: string,
  ) {}

  get(oid: string): LargeContent | undefined {
    return this.#byOid.get(oid);
  }

  /** Temporary files currently held (spooled streams). */
  get spooled(): string[] {
    return [...this.#byOid.values()].flatMap((c) => c.spool ? [c.spool] : []);
  }

  /** Stage bytes already in memory: large ones still go as chunks, by the same rule. */
  bytes(data: Uint8Array): Staged {
    if (!isLargeBlob(data.byteLength, this.threshold)) return { bytes: data };
    const hasher = new BlobHasher(this.algo, data.byteLength);
    hasher.update(data);
    const open = () =>
      new ReadableStream<Uint8Array>({
        start(ctl) {
          ctl.enqueue(data);
          ctl.close();
        },
      });
    return { large: this.#keep(hasher.digest(), data.byteLength, { open, owned: true }) };
  }

  /**
   * Stage `source`; `size` (streams only) lets the id be computed while spooling;
   * `stagedAs` (the repository path) names a file that changes before the push.
   */
  async stage(source: ContentSource, size?: number, stagedAs?: string): Promise<Staged> {
    if (size !== undefined && !(Number.isSafeInteger(size) && size >= 0)) {
      throw new TrunkError(
        `size must be a whole number of bytes (0 or more), got ${size}; nothing was staged`,
        "bad-input",
      );
    }
    if (typeof source === "string" || source instanceof URL) {
      return await this.#file(source, stagedAs);
    }
    if (source instanceof Blob) return await this.#blob(source);
    if (source instanceof ReadableStream) return await this.#stream(source, size);
    throw new TrunkError(
      "content must be a local file path, a URL, a Blob or a ReadableStream<Uint8Array>",
      "bad-input",
    );
  }

  async #file(path: string | URL, stagedAs?: string): Promise<Staged> {
    const name = path instanceof URL ? path.href : path;
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch (e) {
      throw new TrunkError(`cannot read ${name}: ${(e as Error).message}`, "bad-input");
    }
    if (!info.isFile) throw new TrunkError(`${name} is not a regular file`, "bad-input");
    if (!isLargeBlob(info.size, this.threshold)) return { bytes: await Deno.readFile(path) };
    const oid = await blobId(this.algo, info.size, fileStream(path), name);
    const what = stagedAs === undefined ? name : `${stagedAs} (staged from ${name})`;
    const open = () => userFile(path, what, info, oid, this.algo);
    return { large: this.#keep(oid, info.size, { open, owned: false }) };
  }

  async #blob(blob: Blob): Promise<Staged> {
    if (!isLargeBlob(blob.size, this.threshold)) {
      return { bytes: new Uint8Array(await blob.arrayBuffer()) };
    }
    const open = () => blob.stream();
    const oid = await blobId(this.algo, blob.size, open(), "the Blob");
    return { large: this.#keep(oid, blob.size, { open, owned: true }) };
  }

  async #stream(stream: ReadableStream<Uint8Array>, size?: number): Promise<Staged> {
    const reader = stream.getReader();
    const head: Uint8Array[] = [];
    let total = 0;
    let file: string | null = null;
    let out: Deno.FsFile | null = null;
    const hasher = size !== undefined && isLargeBlob(size, this.threshold)
      ? new BlobHasher(this.algo, size)
      : null;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (!(value instanceof Uint8Array)) {
          throw new TrunkError(
            `writeFile: stream chunks must be Uint8Array, got ${kindOf(value)}; nothing was staged`,
            "bad-input",
          );
        }
        total += value.byteLength;
        if (size !== undefined && total > size) {
          throw new TrunkError(
            `the stream ran past the ${size} bytes given as its size; nothing was staged`,
            "bad-input",
          );
        }
        hasher?.update(value);
        if (!out) {
          head.push(value.slice());
          if (!isLargeBlob(total, this.threshold)) continue;
          // Past the threshold: from here on the bytes go to disk, not memory.
          file = await Deno.makeTempFile({ dir: await this.#tempDir(), prefix: "blob-" });
          out = await Deno.open(file, { write: true });
          for (const part of head.splice(0)) await writeAll(out, part);
        } else await writeAll(out, value);
      }
      if (size !== undefined && total !== size) {
        throw new TrunkError(
          `the stream ended after ${total} of the ${size} bytes given as its size; nothing was staged`,
          "bad-input",
        );
      }
      if (!out) return { bytes: head.length === 1 ? head[0] : concat(head) };
      out.close();
      out = null;
      const spooled = file!;
      const open = () => fileStream(spooled);
      const oid = hasher?.digest() ?? await blobId(this.algo, total, open(), "the spooled stream");
      file = null;
      return { large: await this.#keepRemoving(oid, total, { open, owned: true, spool: spooled }) };
    } catch (e) {
      await reader.cancel(e).catch(() => {});
      throw e;
    } finally {
      out?.close();
      if (file) await Deno.remove(file).catch(() => {});
    }
  }

  async #keepRemoving(oid: string, size: number, c: Copy): Promise<LargeContent> {
    this.#fresh.add(oid);
    const e = this.#entry(oid, size);
    for (const f of e.add(c)) await Deno.remove(f).catch(() => {});
    return e;
  }

  /** Keep a copy of a blob with no temporary file behind it (nothing to remove). */
  #keep(oid: string, size: number, c: Copy): LargeContent {
    this.#fresh.add(oid);
    const e = this.#entry(oid, size);
    for (const f of e.add(c)) Deno.remove(f).catch(() => {});
    return e;
  }

  #entry(oid: string, size: number): Entry {
    let e = this.#byOid.get(oid);
    if (!e) this.#byOid.set(oid, e = new Entry(oid, size));
    return e;
  }

  /** The caller now refers to `oid` (or gave up on it): `keepOnly` decides from here on. */
  settle(oid: string): void {
    this.#fresh.delete(oid);
  }

  /** Forget (and delete the spooled copies of) every large content not in `live`. */
  async keepOnly(live: Set<string>): Promise<void> {
    for (const [oid, c] of this.#byOid) {
      if (live.has(oid) || this.#fresh.has(oid)) continue;
      this.#byOid.delete(oid);
      for (const copy of c.copies) {
        if (copy.spool) await Deno.remove(copy.spool).catch(() => {});
      }
    }
  }

  /** Drop everything, temporary files included. */
  async close(): Promise<void> {
    this.#byOid.clear();
    this.#fresh.clear();
    if (!this.#dir) return;
    const dir = this.#dir;
    this.#dir = null;
    globalThis.removeEventListener("unload", this.#unload);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }

  async #tempDir(): Promise<string> {
    if (!this.#dir) {
      this.#dir = await Deno.makeTempDir({ dir: this.tempDir, prefix: "trunks-large-" });
      globalThis.addEventListener("unload", this.#unload);
    }
    return this.#dir;
  }

  #removeDirSync(): void {
    if (!this.#dir) return;
    try {
      Deno.removeSync(this.#dir, { recursive: true });
    } catch { /* already gone */ }
    this.#dir = null;
  }
}

/** Git's blob id of `size` bytes read from `stream`, in one pass; a size mismatch throws. */
export async function blobId(
  algo: "sha1" | "sha256",
  size: number,
  stream: ReadableStream<Uint8Array>,
  what: string,
): Promise<string> {
  const hasher = new BlobHasher(algo, size);
  let total = 0;
  for await (const part of stream) {
    total += part.byteLength;
    if (total > size) break;
    hasher.update(part);
  }
  if (total !== size) {
    throw new TrunkError(
      `${what} changed while it was read (${total} bytes, expected ${size}); nothing was staged`,
      "bad-input",
    );
  }
  return hasher.digest();
}

/** A local file's bytes, as read now. */
function fileStream(path: string | URL): ReadableStream<Uint8Array> {
  let file: Deno.FsFile | null = null;
  return new ReadableStream<Uint8Array>({
    async start() {
      file = await Deno.open(path, { read: true });
    },
    async pull(ctl) {
      const buf = new Uint8Array(1024 * 1024);
      const n = await file!.read(buf);
      if (n === null) {
        file!.close();
        file = null;
        ctl.close();
      } else ctl.enqueue(buf.subarray(0, n));
    },
    cancel() {
      file?.close();
      file = null;
    },
  }, { highWaterMark: 0 });
}

/**
 * A user's file staged by writeFile, read again at push: gone, or not the bytes it
 * held when staged (its size, its mtime, or at the end its id), is one line naming it.
 */
function userFile(
  path: string | URL,
  what: string,
  was: Deno.FileInfo,
  oid: string,
  algo: "sha1" | "sha256",
): ReadableStream<Uint8Array> {
  const changed = (how: string) =>
    new TrunkError(
      `${what} ${how} since writeFile; writeFile it again, then commit and push`,
      "bad-input",
    );
  let file: Deno.FsFile | null = null;
  const hasher = new BlobHasher(algo, was.size);
  let total = 0;
  const close = () => {
    file?.close();
    file = null;
  };
  return new ReadableStream<Uint8Array>({
    async start() {
      try {
        file = await Deno.open(path, { read: true });
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) throw changed("vanished");
        throw changed(`cannot be read (${(e as Error).message})`);
      }
      const now = await file.stat();
      if (now.size !== was.size || now.mtime?.getTime() !== was.mtime?.getTime()) {
        close();
        throw changed("changed");
      }
    },
    async pull(ctl) {
      const buf = new Uint8Array(1024 * 1024);
      const n = await file!.read(buf);
      if (n !== null) {
        total += n;
        hasher.update(buf.subarray(0, n));
        if (total <= was.size) return ctl.enqueue(buf.subarray(0, n));
      }
      close();
      // Same size and mtime is not the same bytes: the id says so before the end.
      if (total !== was.size || hasher.digest() !== oid) throw changed("changed");
      ctl.close();
    },
    cancel: close,
  }, { highWaterMark: 0 });
}

/** What a stream yielded instead of a Uint8Array, for the error. */
function kindOf(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "object") return (v as object).constructor?.name ?? "object";
  return typeof v;
}

async function writeAll(f: Deno.FsFile, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.byteLength;) at += await f.write(data.subarray(at));
}
