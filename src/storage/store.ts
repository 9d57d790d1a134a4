/**
 * The Store contract: the only thing the trunk layer knows about storage.
 *
 * Five operations (restic-style), plus capability flags (OpenDAL-style). Keys are
 * relative to the store's base (the trunk's URL), use `/` as separator, never start
 * with `/`, and contain only characters every backend accepts (see `assertKey`).
 */
import { networkKind } from "./retry.ts";
import { escapeUnsafe } from "./plain_text.ts";

/** A byte range for partial reads: `length` omitted reads to the end. */
export interface Range {
  offset: number;
  length?: number;
}

/** How a `list` is made; absent, every listed key comes with its details. */
export interface ListOptions {
  /**
   * Which keys' details (`size`, `modified`, `etag`) the caller reads, decided from every
   * key listed (`keys`, in byte order). A store whose details cost extra per key (local
   * disk: a stat per file) may leave out the others' (`withoutDetails`: no comparison with
   * them holds); a store whose listing carries them anyway ignores this. Every key is
   * listed either way; the details given are as the listing found them. A set, or any
   * test of a key (a rule by its name needs no set of thousands of keys).
   */
  details?: (keys: readonly string[]) => { has(key: string): boolean };
}

/**
 * The one invalid time of every key listed without details: a clone of a trunk within two
 * leases of 2,000 pushes lists ~4,000 such keys, and a Date each cost it ~1 ms. Never set.
 */
const NO_TIME = new Date(NaN);

/** A listed key whose details were left out (`ListOptions.details`): NaN size, invalid time. */
export function withoutDetails(key: string): ListEntry {
  return { key, size: NaN, modified: NO_TIME };
}

/** Data handed to `put`: whole bytes, or a stream with an optional known size. */
export type PutData = Uint8Array | ReadableStream<Uint8Array>;

/** One listed key. `size` and `modified` are what the backend's listing returns. */
export interface ListEntry {
  key: string;
  size: number;
  /** Last-modified time, used by GC grace periods. */
  modified: Date;
  /**
   * The backend's version tag of the object (S3 and Azure ETag, GCS generation), where its
   * listing gives one: a rewrite under the same key and size changes it.
   */
  etag?: string;
}

/**
 * What a listing will show of an object a `create` just wrote, as the store answered that
 * very write: its `etag` (S3 and Azure ETag, GCS generation) or its `modified` time, in the
 * form `list` gives them. Empty when the store's answer did not tell (the object is then
 * read again where a listing must vouch for it); never guessed.
 */
export interface CreatedStamp {
  etag?: string;
  modified?: Date;
}

export interface Capabilities {
  /** `create` is a true create-exclusive (atomic, linearizable). */
  atomicCreate: boolean;
  /** `get` honours `range` without reading the whole object. */
  rangeReads: boolean;
  /** Largest object the backend accepts, in bytes (Infinity if unbounded). */
  maxObjectSize: number;
  /** Concurrency a caller should use for many small requests. */
  parallelism: number;
  /**
   * Creates a caller may have in flight at once, where more than `parallelism` pay (absent:
   * `parallelism`). Local disk: its creates mostly wait on directory syncs they share, and
   * the store itself bounds the system threads they hold.
   */
  createParallelism?: number;
  /**
   * The listing's modified times hold whole seconds only (SFTP): a key rewritten within
   * the same second lists the same time, so a time alone cannot vouch for an object.
   */
  coarseTimes?: boolean;
}

/** Thrown by backends for conditions callers act on; other errors propagate as-is. */
export class StoreError extends Error {
  constructor(
    message: string,
    readonly code:
      | "not-found-root"
      | "access-denied"
      | "unreachable"
      | "invalid-key"
      | "corrupt"
      | "unsupported"
      | "io",
    options?: ErrorOptions,
  ) {
    // A server's own error text is quoted in many (an S3 <Message>, a PostgreSQL error):
    // escaped like a TrunkError's, for a library caller that prints it as it is.
    super(escapeUnsafe(message), options);
    this.name = "StoreError";
  }
}

/**
 * This storage cannot answer now, as opposed to a bad request or a bug: a StoreError
 * saying so (unreachable, no root, access refused, an I/O failure after retries), or a
 * raw network error a backend let through. Any other error, a TypeError above all, is a
 * defect and must not be mistaken for an outage (and fail over to a mirror).
 */
export function isUnavailable(e: unknown): boolean {
  if (e instanceof StoreError) {
    return e.code === "unreachable" || e.code === "access-denied" ||
      e.code === "not-found-root" || e.code === "io";
  }
  return networkKind(e) !== undefined;
}

export interface Store {
  /**
   * A display form of the location, with any secret removed and what a terminal acts on
   * escaped (plain_text.ts): a URL's decoded parts may come from a trunk's storage map,
   * and this is quoted in notices as it is.
   */
  readonly location: string;
  readonly capabilities: Capabilities;

  /** The object's bytes as a stream, or null when the key does not exist. */
  get(key: string, range?: Range): Promise<ReadableStream<Uint8Array> | null>;

  /** Write an immutable object. Idempotent; readers never see a partial object. */
  put(key: string, data: PutData): Promise<void>;

  /**
   * Create-exclusive: true if this call created the key, false if it already
   * existed. Atomic: exactly one of several racing creators gets true.
   */
  create(key: string, data: Uint8Array): Promise<boolean>;

  /**
   * Optional: `create`, also saying how a later `list` will stamp the created object (null:
   * the key existed, nothing was written). Same atomicity as `create`. A store without it
   * is used through `create` (`createStamped` below), its created keys unstamped.
   */
  createStamped?(key: string, data: Uint8Array): Promise<CreatedStamp | null>;

  /**
   * Optional (a capability, OpenDAL-style): copy the whole object into `dest`, a new local
   * file in a directory only this user can enter (the copy may carry the stored file's
   * mode until it is whole; it ends with a new file's), without its bytes passing through this process
   * (copy_file_range on local disk). Its size, or null when the key does not exist. Only a
   * store that holds its objects as local files has it; a wrapper has it exactly when the
   * store it wraps does (`copyToFileThrough` below); a set of mirrors has not (each copy is read
   * and verified in turn). The caller verifies what it copied, as it would a `get`.
   * `limit`: an object found larger is not copied (its size, past it, is returned).
   */
  copyToFile?(key: string, dest: string, limit?: number): Promise<number | null>;

  /**
   * Every key under `prefix` (plain string prefix), in byte order, after `startAfter`. A
   * wrapper hands `opts` on (leaving them out only costs the details it saves).
   */
  list(prefix: string, startAfter?: string, opts?: ListOptions): Promise<ListEntry[]>;

  /** Remove a key; removing a missing key is not an error. */
  delete(key: string): Promise<void>;

  /** Release connections. The store is unusable afterwards. */
  close(): Promise<void>;
}

const KEY_RE = /^[A-Za-z0-9._=~\-]+(\/[A-Za-z0-9._=~\-]+)*$/;

/** Keys are a closed alphabet so every backend (and case-folding file shares) accepts them. */
export function assertKey(key: string): void {
  if (
    key.length === 0 || key.length > 900 || !KEY_RE.test(key) ||
    key.split("/").some((p) => p === "." || p === "..")
  ) {
    throw new StoreError(`invalid store key ${JSON.stringify(key)}`, "invalid-key");
  }
}

/**
 * The stamp of one object, as a comparable string: its version tag where there is one,
 * else its modified time; null when neither is known. A listed entry's and a created
 * object's are equal when they name the same stored object.
 */
export function stampOf(e: CreatedStamp): string | null {
  if (e.etag) return `e:${e.etag}`;
  const t = e.modified?.getTime();
  return t !== undefined && Number.isFinite(t) && t > 0 ? `t:${t}` : null;
}

/** `store.createStamped` where the store has it, else `create` with no stamp. */
export async function createStamped(
  store: Store,
  key: string,
  data: Uint8Array,
): Promise<CreatedStamp | null> {
  if (store.createStamped) return await store.createStamped(key, data);
  return (await store.create(key, data)) ? {} : null;
}

/**
 * A wrapper's `copyToFile`: `inner`'s, through `wrap`, when `inner` has one; else none, so
 * the wrapper has the capability exactly when what it wraps does.
 */
export function copyToFileThrough(
  inner: Store,
  wrap: (copy: () => Promise<number | null>, key: string, dest: string) => Promise<number | null>,
): Store["copyToFile"] {
  const copy = inner.copyToFile?.bind(inner);
  return copy && ((key, dest, limit) => wrap(() => copy(key, dest, limit), key, dest));
}

/** Reads a whole object into memory; only for objects known to be small. */
export async function getBytes(
  store: Store,
  key: string,
  range?: Range,
): Promise<Uint8Array | null> {
  const stream = await store.get(key, range);
  if (!stream) return null;
  return await readAll(stream);
}

export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return (await readUpTo(stream, Infinity))!;
}

/**
 * `store.get` for a caller that reads at most `limit` bytes of `key` (`readUpTo`): asked as
 * a range of one byte more, which tells a longer object from one of `limit` bytes. So no
 * store sends more (the same one request on S3), and local disk, which reads a file it is
 * asked for whole in one piece, reads one larger than that in pieces instead.
 */
export function getAtMost(
  store: Store,
  key: string,
  limit: number,
): Promise<ReadableStream<Uint8Array> | null> {
  const ranged = store.capabilities.rangeReads && Number.isSafeInteger(limit) && limit >= 0;
  return store.get(key, ranged ? { offset: 0, length: limit + 1 } : undefined);
}

/** The whole stream, or null (and the stream cancelled) once it runs past `limit` bytes. */
export async function readUpTo(
  stream: ReadableStream<Uint8Array>,
  limit: number,
  signal?: AbortSignal,
): Promise<Uint8Array | null> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const part of stream) {
    // Leaving the loop (a throw too) cancels the stream.
    signal?.throwIfAborted();
    total += part.byteLength;
    // Leaving the loop cancels the stream: nothing more is read.
    if (total > limit) return null;
    parts.push(part);
  }
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Keys of every entry under prefix, without the metadata. */
export async function listKeys(store: Store, prefix: string): Promise<string[]> {
  return (await store.list(prefix, undefined, { details: () => new Set() })).map((e) => e.key);
}

/** Byte order of keys; keys are ASCII, so code-unit order is byte order. */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
