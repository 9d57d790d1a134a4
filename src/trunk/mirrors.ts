/**
 * One trunk kept on a primary storage and any number of mirrors, seen as one Store:
 * data writes go to every storage in parallel, exclusive creates are decided on the
 * primary and then repeated byte for byte on each mirror, and reads come from one
 * storage at a time (the primary, or the first reachable mirror when it is down).
 *
 * Everything that writes through `Trunk.store` (segments, chunks, blob manifests, ref
 * entries) is mirrored without knowing mirrors exist.
 */
import {
  type Capabilities,
  type CreatedStamp,
  createStamped,
  getAtMost,
  isUnavailable,
  type ListEntry,
  type ListOptions,
  type PutData,
  type Range,
  readUpTo,
  type Store,
  StoreError,
} from "../storage/store.ts";
import { escapeUnsafe } from "../storage/plain_text.ts";
import { faultPoint } from "./faults.ts";
import { REFS_PREFIX, TRUNK_JSON } from "./layout.ts";
import { TrunkError } from "./errors.ts";
import { readMeta } from "./meta.ts";

export type Role = "primary" | "mirror";

/** One storage of a trunk: its name from the storage map or local database, and its Store. */
export interface Member {
  name: string;
  role: Role;
  /** The trunk URL, as saved (never holds a secret). */
  url: string;
  store: Store;
}

/**
 * How one storage failed, in words that name it. A message may quote what that storage
 * holds (a key its listing shows) or a cause's own text: escaped as a TrunkError's is
 * (plain_text.ts), since `trunks storage sync`, `trunks status`, the helper's notices and a
 * library caller print it as it is.
 */
export class StorageFailure extends Error {
  constructor(
    readonly member: Pick<Member, "name" | "role">,
    readonly kind: "unreachable" | "diverged" | "failed",
    message: string,
    options?: ErrorOptions,
  ) {
    super(escapeUnsafe(message), options);
    this.name = "StorageFailure";
  }
}

/** `mirror "backup" (s3://bucket/...)`: how messages name a storage. */
export function describeMember(m: Pick<Member, "name" | "role" | "store">): string {
  return `${m.role} "${m.name}" (${m.store.location})`;
}

/** Errors that mean "this storage cannot answer now" (defined once, in src/storage). */
export { isUnavailable };

function firstLine(e: unknown): string {
  const s = e instanceof Error ? e.message : String(e);
  return s.split("\n").map((l) => l.trim()).find(Boolean) ?? "error";
}

/** Wrap an error from one member so the message names the storage. */
export function memberError(m: Member, e: unknown, doing: string): StorageFailure {
  if (e instanceof StorageFailure) return e;
  const kind = isUnavailable(e) ? "unreachable" : "failed";
  const what = e instanceof StoreError && e.code === "access-denied"
    ? "refused access"
    : kind === "unreachable"
    ? "is unreachable"
    : "failed";
  return new StorageFailure(
    m,
    kind,
    `${describeMember(m)} ${what} while ${doing}: ${firstLine(e)}`,
    {
      cause: e,
    },
  );
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * N copies of one stream, each pulled by its own writer, in lockstep: the next piece is
 * read from the source only once every writer still going has taken the current one.
 * (`ReadableStream.tee` would instead buffer without bound for the slowest writer: a
 * stalled mirror would hold a whole segment in memory.) A stalled writer stalls them
 * all until its store's timeout fails it; a writer that fails or cancels drops out and
 * the others go on. Memory: one piece plus what each writer holds itself.
 */
export function fanOut(
  data: PutData,
  n: number,
): { copies: PutData[]; drop: (i: number) => void } {
  if (data instanceof Uint8Array || n === 1) return { copies: Array(n).fill(data), drop: () => {} };
  const reader = data.getReader();
  const live = new Set(Array.from({ length: n }, (_, i) => i));
  let piece: Promise<ReadableStreamReadResult<Uint8Array>> | null = null;
  let took = new Set<number>();
  let next: { promise: Promise<void>; resolve: () => void } = Promise.withResolvers();
  const advance = () => {
    if (![...live].every((i) => took.has(i))) return;
    piece = null;
    took = new Set();
    const done = next;
    next = Promise.withResolvers();
    done.resolve();
  };
  // A writer that finished, failed or gave up without cancelling must not hold the rest.
  const drop = (i: number) => {
    if (!live.delete(i)) return;
    if (live.size === 0) reader.cancel().catch(() => {});
    else advance();
  };
  const copies = Array.from({ length: n }, (_, i) =>
    new ReadableStream<Uint8Array>({
      async pull(ctl) {
        while (took.has(i)) await next.promise;
        piece ??= reader.read();
        let r: ReadableStreamReadResult<Uint8Array>;
        try {
          r = await piece;
        } finally {
          took.add(i);
          advance();
        }
        if (r.done) ctl.close();
        else ctl.enqueue(r.value);
      },
      cancel() {
        drop(i);
      },
    }, { highWaterMark: 0 }));
  return { copies, drop };
}

/** The loud line a push with mirrors skipped ends with: which mirrors are now behind. */
export function describeSkipped(skipped: Member[]): string {
  const names = skipped.map(describeMember).join(", ");
  return `mirrors skipped for this push (mirrors=skip): ${names} ${
    skipped.length === 1 ? "is" : "are"
  } now behind the primary; the next push or trunks storage sync catches ${
    skipped.length === 1 ? "it" : "them"
  } up`;
}

export interface MirroredStoreOptions {
  /** Where human-facing notices go (failover, repairs). */
  notice?: (message: string) => void;
  /** A writer's view: reads never fail over, since compare-and-swap needs the primary. */
  forWrite?: boolean;
}

export class MirroredStore implements Store {
  readonly primary: Member;
  #all: Member[];
  #skipped: Member[] = [];
  #reader: Member;
  #notice: (message: string) => void;
  #forWrite: boolean;
  #trunkId: string | null = null;

  constructor(members: Member[], opts: MirroredStoreOptions = {}) {
    const primary = members.find((m) => m.role === "primary");
    if (!primary) throw new Error("a trunk's storages need exactly one primary");
    this.primary = primary;
    this.#all = members;
    this.#reader = primary;
    this.#notice = opts.notice ?? (() => {});
    this.#forWrite = opts.forWrite ?? false;
  }

  /** The storages this store reads from and writes to (skipped mirrors left out). */
  get members(): Member[] {
    return this.#all.filter((m) => !this.#skipped.includes(m));
  }

  get mirrors(): Member[] {
    return this.members.filter((m) => m !== this.primary);
  }

  /** Mirrors left out by `skipMirrors` (now behind the primary once a write lands). */
  get skipped(): Member[] {
    return [...this.#skipped];
  }

  /**
   * The `mirrors=skip` policy: from now on every write goes to the primary alone and no
   * mirror is checked or caught up. Returns the mirrors left out, which the caller must
   * name to the human (`describeSkipped`).
   */
  skipMirrors(): Member[] {
    this.#skipped = this.#all.filter((m) => m !== this.primary);
    this.#reader = this.primary;
    return this.skipped;
  }

  get location(): string {
    return this.primary.store.location;
  }

  get capabilities(): Capabilities {
    const caps = this.primary.store.capabilities;
    const members = this.members;
    if (members.length === 1) return caps;
    // A write goes to every member, a read to whichever answers (a failover moves them all
    // to a mirror): no more in flight than the member taking fewest. A local primary's 32
    // on a PostgreSQL mirror's pool of 8 queue past the pool's connect timeout.
    const fewest = (f: (c: Capabilities) => number) =>
      Math.min(...members.map((m) => f(m.store.capabilities)));
    const parallelism = fewest((c) => c.parallelism);
    if (caps.createParallelism === undefined) return { ...caps, parallelism };
    return {
      ...caps,
      parallelism,
      createParallelism: fewest((c) => c.createParallelism ?? c.parallelism),
    };
  }

  /** The storage reads come from now. */
  get reader(): Member {
    return this.#reader;
  }

  /** Storages in the order reads should try them: the current reader first. */
  readOrder(): Member[] {
    return [this.#reader, ...this.members.filter((m) => m !== this.#reader)];
  }

  /** Tell the human something about the storages (failover, repair). */
  notice(message: string): void {
    this.#notice(message);
  }

  set forWrite(v: boolean) {
    this.#forWrite = v;
  }

  /**
   * The id of the trunk these storages hold, as this client knows it (trunk.json, cached or
   * read): a read fails over only to a mirror holding that trunk. A mirror path re-used
   * for another trunk would otherwise hand a fetch that trunk's refs and objects.
   */
  set trunkId(id: string) {
    this.#trunkId = id;
  }

  /** Why `m` cannot stand in for the primary: it holds another trunk, or no readable one. */
  async #otherTrunk(m: Member): Promise<string | null> {
    const want = this.#trunkId;
    if (want === null || m === this.primary) return null;
    let id: string | undefined;
    try {
      id = (await readMeta(m.store))?.id;
    } catch (e) {
      // Damaged, unsealed or of a newer format: no readable trunk.json. A store that cannot
      // be read fails as any read of it does.
      if (!(e instanceof TrunkError)) throw e;
    }
    if (id === want) return null;
    return `${describeMember(m)} ${
      typeof id === "string"
        ? `holds another trunk (id ${id}, not ${want})`
        : `holds no readable ${TRUNK_JSON}`
    }, so reads do not use it (remove it with trunks storage remove ${m.name}, or empty it and run trunks storage sync)`;
  }

  /**
   * Make sure reads have a storage that answers: probe the reader with a one-key list
   * (a local path that is not mounted, a dead endpoint, refused credentials) and move
   * to the next storage when it does not. Used when nothing about the trunk is cached.
   */
  async ensureReader(): Promise<Member> {
    await this.#withFailover("reaching the trunk", (s) => s.list("trunk.json"));
    return this.#reader;
  }

  /** Run a read on the reader; when it is unavailable, switch to the next storage once. */
  async #withFailover<T>(doing: string, op: (s: Store) => Promise<T>): Promise<T> {
    const tried: string[] = [];
    for (const m of this.readOrder()) {
      try {
        const other = m === this.#reader ? null : await this.#otherTrunk(m);
        if (other) {
          tried.push(other);
          continue;
        }
        const out = await op(m.store);
        if (m !== this.#reader) {
          this.#notice(
            `trunks: ${tried.join("; ")}; reading from ${m.role} "${m.name}" (${m.store.location})`,
          );
          this.#reader = m;
        }
        return out;
      } catch (e) {
        if (!isUnavailable(e) || this.members.length === 1) throw e;
        if (this.#forWrite && m === this.primary) {
          throw new StorageFailure(
            m,
            "unreachable",
            `${describeMember(m)} is unreachable (${
              firstLine(e)
            }); a push needs the primary (reads can use a mirror)`,
            { cause: e },
          );
        }
        tried.push(`${describeMember(m)} is unreachable (${firstLine(e)})`);
      }
    }
    throw new StorageFailure(
      this.primary,
      "unreachable",
      `no storage of this trunk answers while ${doing}: ${tried.join("; ")}`,
    );
  }

  get(key: string, range?: Range): Promise<ReadableStream<Uint8Array> | null> {
    return this.#withFailover(`reading ${key}`, (s) => s.get(key, range));
  }

  list(prefix: string, startAfter?: string, opts?: ListOptions): Promise<ListEntry[]> {
    return this.#withFailover(`listing ${prefix}`, (s) => s.list(prefix, startAfter, opts));
  }

  /** Every storage, in parallel; any failure fails the write and names the storage. */
  async put(key: string, data: PutData): Promise<void> {
    const { copies, drop } = fanOut(data, this.members.length);
    const results = await Promise.allSettled(
      this.members.map((m, i) => m.store.put(key, copies[i]).finally(() => drop(i))),
    );
    this.#throwFirst(results, this.members, `writing ${key}`);
  }

  /**
   * Decided on the primary; then the same bytes on each mirror. A mirror that already
   * holds the key with other bytes has diverged: reported, never overwritten.
   */
  async create(key: string, data: Uint8Array): Promise<boolean> {
    return (await this.createStamped(key, data)) !== null;
  }

  /** `create`, with the primary's stamp: a listing is read from the primary. */
  async createStamped(key: string, data: Uint8Array): Promise<CreatedStamp | null> {
    let created: CreatedStamp | null;
    try {
      created = await createStamped(this.primary.store, key, data);
    } catch (e) {
      throw memberError(this.primary, e, `creating ${key}`);
    }
    if (!created) return null;
    if (key.startsWith(REFS_PREFIX)) faultPoint("push:mid-mirror");
    const results = await Promise.allSettled(
      this.mirrors.map((m) => replicateCreate(m, key, data)),
    );
    this.#throwFirst(results, this.mirrors, `creating ${key} after the primary took it`);
    return created;
  }

  async delete(key: string): Promise<void> {
    const results = await Promise.allSettled(this.members.map((m) => m.store.delete(key)));
    this.#throwFirst(results, this.members, `deleting ${key}`);
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.members.map((m) => m.store.close()));
  }

  #throwFirst(results: PromiseSettledResult<unknown>[], members: Member[], doing: string): void {
    const errors = results.flatMap((r, i) =>
      r.status === "rejected" ? [memberError(members[i], r.reason, doing)] : []
    );
    if (errors.length === 0) return;
    if (errors.length === 1) throw errors[0];
    throw new StorageFailure(
      errors[0].member,
      errors[0].kind,
      errors.map((e) => e.message).join("; "),
      { cause: errors[0] },
    );
  }
}

/** Create `key` on a mirror with exactly `data`; equal bytes already there are fine. */
export async function replicateCreate(m: Member, key: string, data: Uint8Array): Promise<void> {
  let created: boolean;
  let existing: Uint8Array | null = null;
  try {
    created = await m.store.create(key, data);
    // Only equal bytes matter: no more than the primary's is read of a longer one.
    if (!created) {
      const body = await getAtMost(m.store, key, data.byteLength);
      existing = body && await readUpTo(body, data.byteLength);
    }
  } catch (e) {
    throw memberError(m, e, `creating ${key}`);
  }
  if (created || (existing && sameBytes(existing, data))) return;
  throw new StorageFailure(
    m,
    "diverged",
    `${
      describeMember(m)
    } has diverged: its ${key} differs from the primary's; nothing was overwritten (see trunks storage sync)`,
  );
}

export { sameBytes };
