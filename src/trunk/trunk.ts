/**
 * An open trunk: its store, identity and the client's cache. Everything the helper,
 * CLI and library do to a trunk goes through these methods, so mirrors, verification
 * and the rule "the store is the truth; the cache only saves requests" live in one place.
 */
import type { OnBytes } from "../storage/flow.ts";
import type { ListEntry, Store } from "../storage/store.ts";
import { checkedRows, type TrunkCache } from "./cache.ts";
import { TrunkError } from "./errors.ts";
import {
  checkWritable,
  ensureMeta,
  metaForWrite,
  parseMeta,
  parseMetaAsync,
  readMeta,
  type TrunkMeta,
} from "./meta.ts";
import { type RefLayout, refLayout } from "./layout.ts";
import { leaseMs, refuseShortGrace } from "./lease.ts";
import {
  entryWriter,
  ForeignEntryError,
  isDeleted,
  parseAhead,
  readEntryBytes,
  readRefState,
  type RefEntry,
  type RefState,
  StaleCacheError,
  writeRefEntry,
} from "./refs.ts";
import type { SegmentInfo } from "./segments.ts";
import { MirroredStore, StorageFailure } from "./mirrors.ts";
import { seal } from "./seal.ts";
import type { OwnSegment } from "./gc_guard.ts";
import { type MapEntry, type StorageMap, writeMap } from "./storage_map.ts";
import type { MirrorReport, SyncOptions } from "./sync.ts";
// Segments, garbage-collection guards and mirror sync are imported where used: with
// node:crypto and node:zlib under them they would cost every `git fetch` ~40 ms of start-up
// (an up-to-date fetch reads refs only).
const segmentsCode = () => import("./segments.ts");
const segmentCopies = () => import("./segment_copies.ts");

export interface RefUpdate {
  ref: string;
  /** New value; a zero oid deletes. */
  new: string;
  symref?: string;
  /** Entry the update is based on (null: the ref must not exist yet). */
  base: RefEntry | null;
  segments: string[];
}

/** A listing of refs/ and when it was read (as WriteState's `readAt` and `readMono`). */
export interface ListedRefs {
  entries: ListEntry[];
  readAt: number;
  readMono: number;
}

/** The state a write builds on, read from the store, and when that read started. */
export interface WriteState {
  state: RefState;
  /** Wall clock (ms), compared with the store's times. */
  readAt: number;
  /** `performance.now()` then; the time since is `elapsedSince` of both (lease.ts). */
  readMono: number;
}

/**
 * A push's state, to plan on at once, and the store's word on it still in flight (the
 * GETs that confirm the cached entries the listing named): `verdict` resolves to null when
 * the store agrees, or to the state read again when it contradicted the cache. Nothing
 * may be created on the planned state before `verdict` resolved to null.
 */
export interface BegunWrite {
  ws: WriteState;
  verdict: Promise<WriteState | null>;
}

export class Trunk {
  /** The create-exclusive check before this client's first write (meta.ts). */
  #writable: Promise<void> | undefined;

  /** This process won trunk.json's exclusive create (openOrCreate): see `createdState`. */
  #created = false;

  /** The state `createdState` gave: its first verdict reads nothing (see there). */
  #createdState: RefState | undefined;

  /** Who this client's ref entries name (refs.ts `entryWriter`). */
  readonly writer: string;

  /**
   * Whether the trunk's storage map names a mirror, as whoever opened this trunk read the
   * map (a push reads it anyway); undefined when it was not read. Automatic maintenance
   * counts no pruning work on such a trunk (maintenance.ts `autoStepAfterPush`).
   */
  mapNamesMirrors: boolean | undefined;

  constructor(
    readonly store: Store,
    public meta: TrunkMeta,
    readonly cache: TrunkCache,
    writer: string,
  ) {
    this.writer = entryWriter(writer);
    if (store instanceof MirroredStore) store.trunkId = meta.id;
  }

  /**
   * Open an existing trunk; a location without trunk.json is "not a trunk". trunk.json
   * is cached per location, so an up-to-date fetch costs a single list: the helper's
   * next step, `refState`, vouches for it (every entry carries the trunk's id, and a
   * write checks it against the store: `stateForWrite`). `fromStore`: read trunk.json
   * whatever the cache holds, for a caller that shows the trunk's id and format before
   * anything vouched for them (the library).
   */
  static async open(
    store: Store,
    cache: TrunkCache,
    writer: string,
    { fromStore = false, early }: {
      fromStore?: boolean;
      /** trunk.json's bytes, read from `store` already (see `readMeta`). */
      early?: Promise<Uint8Array | null>;
    } = {},
  ): Promise<Trunk> {
    const cached = cache.getMeta(store.location);
    if (cached && !fromStore) {
      return new Trunk(store, await parseMetaAsync(cached, store.location), cache, writer);
    }
    // Nothing known yet (fresh clone): find a storage that answers before reading.
    if (store instanceof MirroredStore) await store.ensureReader();
    const meta = await readMeta(store, early);
    if (!meta) {
      cache.putMeta(store.location, undefined);
      throw new TrunkError(
        `no trunk at ${store.location} (no trunk.json); check the URL, or push to create it`,
        "not-a-trunk",
      );
    }
    Trunk.#cacheMeta(cache, store.location, meta, cached);
    return new Trunk(store, meta, cache, writer);
  }

  /**
   * Cache trunk.json as read from the store; the cached entries of the trunk it replaced
   * at this location (`held`: what the cache said) go with it.
   */
  static #cacheMeta(
    cache: TrunkCache,
    location: string,
    meta: TrunkMeta,
    held: string | undefined,
  ): void {
    let heldId: string | undefined;
    try {
      heldId = held ? parseMeta(held, location).id : undefined;
    } catch {
      // a damaged cached copy: nothing of it to trust or forget
    }
    if (heldId !== undefined && heldId !== meta.id) cache.forgetEntries(heldId);
    cache.putMeta(location, JSON.stringify(meta));
  }

  /**
   * Open, creating the trunk when the location is empty (first push). The one place a
   * trunk is opened for writing: checks of the location before its first write go here.
   */
  static async openOrCreate(
    store: Store,
    cache: TrunkCache,
    writer: string,
    objectFormat: "sha1" | "sha256",
    settings: {
      leaseSeconds?: number;
      fromStore?: boolean;
      /** trunk.json was just read from `store` and found absent (meta.ts `ensureMetaCreated`). */
      absent?: boolean;
    } = {},
  ): Promise<Trunk> {
    const held = cache.getMeta(store.location);
    const { meta, created } = await metaForWrite(store, cache, objectFormat, settings);
    Trunk.#cacheMeta(cache, store.location, meta, held);
    const trunk = new Trunk(store, meta, cache, writer);
    trunk.requireFormat(objectFormat);
    trunk.#writable = Promise.resolve();
    trunk.#created = created;
    return trunk;
  }

  /**
   * A first push's state, read from nothing more, when this process has just created the
   * trunk (won trunk.json's exclusive create) and `before`, a listing of refs/ made before
   * that create, was empty: the trunk was this process's and empty when created. Its
   * verdict then reads neither refs/ nor trunk.json again: an entry a writer raced in since
   * holds the key one of ours needs (ref entries are created exclusively), and trunk.json
   * is the one just written. Undefined otherwise, or once asked: the push reads as ever.
   */
  async createdState(
    before: ListedRefs,
  ): Promise<WriteState | undefined> {
    const created = this.#created;
    this.#created = false;
    if (!created || before.entries.length > 0) return undefined;
    const state = await this.refState([]);
    if (state.latest.size > 0 || state.foreign) return undefined;
    this.#createdState = state;
    return { state, readAt: before.readAt, readMono: before.readMono };
  }

  /**
   * A writer's objects must be of this trunk's format: another's pack and ids would leave
   * refs no clone can fetch.
   */
  requireFormat(objectFormat: "sha1" | "sha256"): void {
    if (this.meta.objectFormat !== objectFormat) {
      throw new TrunkError(
        `trunk at ${this.store.location} holds ${this.meta.objectFormat} objects but this repository uses ${objectFormat}; use it from a ${this.meta.objectFormat} repository (git clone; for an empty trunk, git init --object-format=${this.meta.objectFormat}), or push to a new trunk`,
        "format",
      );
    }
  }

  get id(): string {
    return this.meta.id;
  }

  get location(): string {
    return this.store.location;
  }

  get objectFormat(): "sha1" | "sha256" {
    return this.meta.objectFormat;
  }

  /** The zero oid of this trunk's object format (a deleted ref, or a symref's value). */
  get zeroOid(): string {
    return "0".repeat(this.meta.objectFormat === "sha256" ? 64 : 40);
  }

  /** Where this trunk keeps its ref entries: its own format's shape (layout.ts). */
  get layout(): RefLayout {
    return refLayout(this.meta.format);
  }

  /** How many requests the store takes at once. */
  get parallelism(): number {
    return this.store.capabilities.parallelism;
  }

  /** Creates to keep in flight (a push's ref entries): see `Capabilities.createParallelism`. */
  get createParallelism(): number {
    const caps = this.store.capabilities;
    return caps.createParallelism ?? caps.parallelism;
  }

  /** The lease of this trunk in ms (DESIGN.md "Lease and grace"). */
  get leaseMs(): number {
    return leaseMs(this.meta);
  }

  /** A clean's grace must cover two leases of this trunk (lease.ts). */
  requireGrace(graceMs: number): void {
    refuseShortGrace(graceMs, this.meta);
  }

  #adopt(meta: TrunkMeta): void {
    if (meta.id !== this.meta.id) {
      this.cache.forgetEntries(this.meta.id);
      // Another trunk now: its own create-exclusive record decides before the next write.
      this.#writable = undefined;
    }
    this.meta = meta;
    if (this.store instanceof MirroredStore) this.store.trunkId = meta.id;
    this.cache.putMeta(this.store.location, JSON.stringify(meta));
  }

  /** `stored` (trunk.json as the store holds it) is the trunk this one was opened as. */
  #sameTrunk(stored: TrunkMeta): boolean {
    return stored.id === this.id && stored.format === this.meta.format;
  }

  /** Forget what the cache says about this trunk's refs (it contradicted the store). */
  #dropCache(): void {
    this.cache.forgetEntries(this.id);
    this.cache.putMeta(this.store.location, undefined);
  }

  /**
   * Read ahead, while a listing of the refs is out, what matching it will need: the
   * cached entries (one query), and those recorded as checked parsed. Nothing here is
   * used unless that listing vouches for it (`refState`).
   */
  readAhead(): void {
    const rows = this.cache.preload?.(this.id);
    if (rows) parseAhead(checkedRows(rows), this.layout);
  }

  /** The refs' state; `listing`: the store's listing of `refs/`, when just made. */
  async refState(listing?: ListEntry[]): Promise<RefState> {
    // trunk.json as the store now holds it, when read here already (not read twice).
    let stored: TrunkMeta | undefined;
    try {
      const state = await readRefState(this.store, this.cache, this.meta, listing);
      // Keys shaped as another format's entries: a trunk re-created here in that format
      // (the rest left from this one, which still vouch for the cached trunk.json), so
      // trunk.json itself is asked. One GET, only where such keys are listed.
      if (!state.foreign) return state;
      const meta = await readMeta(this.store);
      if (!meta || this.#sameTrunk(meta)) return state;
      stored = meta;
    } catch (e) {
      if (!(e instanceof StaleCacheError)) throw e;
    }
    // The trunk at this location was re-created or restored: forget and re-read.
    this.#dropCache();
    const fresh = stored ?? await readMeta(this.store);
    if (!fresh) {
      throw new TrunkError(`no trunk at ${this.store.location} any more`, "not-a-trunk");
    }
    this.#adopt(fresh);
    try {
      return await readRefState(this.store, this.cache, this.meta);
    } catch (e) {
      // Still another trunk's with trunk.json as it now is: copied in, not a replaced trunk.
      throw e instanceof ForeignEntryError ? e.definite() : e;
    }
  }

  /**
   * The state a push builds on, read from the store, never from the cache alone: the
   * latest entries of `refs` (the refs the push moves) are read again unless this
   * listing just read them, and trunk.json is read when no such entry vouches for the
   * trunk's id (new refs only). Any contradiction (an entry that differs from its cached
   * copy, trunk.json gone or with another id) drops this trunk's cache and re-reads: a
   * wiped trunk is re-created, a restored or replaced one is seen as it now is. Cost over
   * a cached listing: one small GET. `listing`: this push's own listing of the refs, just
   * made (git's `list for-push`), used instead of listing again.
   */
  async stateForWrite(refs: string[], listing?: WriteState): Promise<WriteState> {
    const begun = await this.beginWrite(refs, listing);
    return await begun.verdict ?? begun.ws;
  }

  /**
   * `stateForWrite` without waiting for the store's word on the cached entries: a push
   * plans, packs and uploads its segment while those GETs are in flight (a segment is
   * immutable and harmless if unused), and creates its entries only once `verdict` said
   * the state holds. Saves a round trip on every push.
   */
  async beginWrite(refs: string[], listing?: WriteState): Promise<BegunWrite> {
    const readAt = listing?.readAt ?? Date.now();
    const readMono = listing?.readMono ?? performance.now();
    let listed: RefState;
    try {
      listed = listing?.state ?? await readRefState(this.store, this.cache, this.meta);
    } catch (e) {
      if (!(e instanceof StaleCacheError)) throw e;
      const ws = { state: await this.#reread(), readAt, readMono };
      await this.writable();
      return { ws, verdict: Promise.resolve(null) };
    }
    const created = listed === this.#createdState;
    this.#createdState = undefined;
    const verdict = created ? Promise.resolve(null) : this.#verdict(listed, refs, readAt, readMono);
    // Marked handled here; the caller awaits it before creating anything.
    verdict.catch(() => {});
    // Before the push writes anything (large-blob chunks included).
    await this.writable();
    return { ws: { state: listed, readAt, readMono }, verdict };
  }

  async #verdict(
    listed: RefState,
    refs: string[],
    readAt: number,
    readMono: number,
  ): Promise<WriteState | null> {
    // trunk.json is read beside the entries when none of them can vouch for the trunk's id,
    // or when keys of another format's shape are listed: entries left from this trunk
    // vouch for nothing once a trunk was re-created here in that format.
    const vouched = !listed.foreign && refs.some((r) => listed.latest.get(r)?.trunk === this.id);
    const [bases, meta] = await Promise.all([
      this.#checkBases(listed, refs),
      vouched ? undefined : readMeta(this.store),
    ]);
    if (bases === "stale") return { state: await this.#reread(), readAt, readMono };
    if (bases === "confirmed" && vouched) return null;
    if (meta && this.#sameTrunk(meta)) return null;
    return { state: await this.#reread(meta ?? null), readAt, readMono };
  }

  /**
   * The cache contradicted the store: forget it and read the trunk as it now is
   * (created again when trunk.json is gone: a wiped store).
   */
  async #reread(known?: TrunkMeta | null): Promise<RefState> {
    this.#dropCache();
    const format = this.meta.objectFormat;
    const meta = known !== undefined ? known : await readMeta(this.store);
    this.#adopt(meta ?? await ensureMeta(this.store, format));
    this.requireFormat(format);
    return await this.refState();
  }

  /**
   * The latest entries of `refs` against the store: "stale" when one differs from (or is
   * missing behind) the cached copy; "confirmed" when one, as stored, carries this
   * trunk's id; "unknown" when none does (new refs, or entries older than ids). Entries
   * the listing already vouched for (`RefState.fresh`: read, or listed with the stamp
   * recorded for the cached copy) are the store's word and cost no GET.
   */
  async #checkBases(
    state: RefState,
    refs: string[],
  ): Promise<"stale" | "confirmed" | "unknown"> {
    const bases = refs.flatMap((r) => {
      const e = state.latest.get(r);
      return e ? [e] : [];
    });
    const layout = this.layout;
    const cached = bases.filter((e) => !state.fresh?.has(layout.entryKey(e.ref, e.seq)));
    const stored = await Promise.all(
      cached.map((e) => readEntryBytes(this.store, layout.entryKey(e.ref, e.seq))),
    );
    if (stored.some((raw, i) => !raw || !sameEntry(new TextDecoder().decode(raw), cached[i]))) {
      return "stale";
    }
    return bases.some((e) => e.trunk === this.id) ? "confirmed" : "unknown";
  }

  /** Live refs (deleted ones left out), name -> entry. */
  static liveRefs(state: RefState): Map<string, RefEntry> {
    return new Map([...state.latest].filter(([, e]) => !isDeleted(e)));
  }

  async segments(): Promise<SegmentInfo[]> {
    return await (await segmentsCode()).listSegments(this.store);
  }

  /** The primary and mirrors, when this trunk has mirrors (or was opened as a set). */
  get mirrored(): MirroredStore | null {
    return this.store instanceof MirroredStore ? this.store : null;
  }

  /**
   * Pack and index as file paths (streamed) or bytes; on every storage in parallel, each
   * reading the files itself; any failure names the storage.
   */
  async putSegment(
    id: string,
    pack: string | Uint8Array,
    idx: string | Uint8Array,
    onBytes?: OnBytes,
  ): Promise<void> {
    await this.writable();
    const set = this.mirrored;
    if (set) await (await segmentCopies()).uploadSegmentEverywhere(set, id, pack, idx, onBytes);
    else await (await segmentsCode()).uploadSegment(this.store, id, pack, idx, onBytes);
  }

  /**
   * Download and verify a segment; a copy that fails verification (or is missing) on
   * one storage is read from the next, and a corrupt copy is repaired from the good one.
   * `signal`: stops it; `listed`: its listed size, which no copy may exceed (see
   * `downloadSegmentPack`).
   */
  async downloadSegment(
    id: string,
    dest: string,
    onBytes?: OnBytes,
    signal?: AbortSignal,
    listed?: number,
  ): Promise<number> {
    return await (await segmentCopies()).downloadSegmentVerified(
      this.store,
      id,
      dest,
      onBytes,
      signal,
      listed,
    );
  }

  /**
   * A small segment's pack, downloaded into memory and verified as `downloadSegment`'s;
   * null (nothing held) when the store sends more than `limit` bytes.
   */
  async downloadSegmentBytes(
    id: string,
    limit: number,
    signal?: AbortSignal,
  ): Promise<Uint8Array | null> {
    return await (await segmentCopies()).downloadSegmentBytesVerified(
      this.store,
      id,
      limit,
      signal,
    );
  }

  /**
   * Resolves once this client may write to the trunk (create-exclusive verified or
   * recorded, see meta.ts `checkWritable`); checked once per Trunk, before its first
   * segment or ref entry, whether it was opened with `open` or `openOrCreate`.
   */
  writable(): Promise<void> {
    return this.#writable ??= checkWritable(this.store, this.cache, this.meta);
  }

  /**
   * Which of `base` no listed segment holds now (putting `own` back first if it is gone);
   * see gc_guard.
   */
  async collectedBase(base: string[], own?: OwnSegment): Promise<string[]> {
    const { collectedBase } = await import("./gc_guard.ts");
    return await collectedBase(this.store, this.meta.objectFormat, base, own);
  }

  /** Segments this client's repository holds every object of. */
  ingested(): Set<string> {
    return this.cache.ingested(this.id);
  }

  markIngested(segmentIds: string[]): void {
    if (segmentIds.length) this.cache.markIngested(this.id, segmentIds);
  }

  forgetIngested(segmentIds: string[]): void {
    if (segmentIds.length) this.cache.forgetIngested(this.id, segmentIds);
  }

  /** Bring every mirror level with the primary (see sync.ts). */
  async syncMirrors(opts: SyncOptions): Promise<MirrorReport[]> {
    const set = this.mirrored;
    if (!set || set.mirrors.length === 0) return [];
    const { syncMirrors } = await import("./sync.ts");
    return await syncMirrors(set.primary, set.mirrors, this.cache, this.meta, opts);
  }

  /** Write the next storage map entry. */
  async writeStorageMap(storages: MapEntry[], previousSeq: number): Promise<StorageMap> {
    return await writeMap(this.store, storages, this.writer, previousSeq);
  }

  /**
   * Create the next entry of `update.ref`; `{ok:false}` when another writer won. `cache`:
   * where the created entry is remembered (a push of many refs batches them). Throws
   * `MovedOnPrimaryOnly` when the primary took the entry and a mirror did not.
   */
  async updateRef(
    update: RefUpdate,
    cache: TrunkCache = this.cache,
  ): ReturnType<typeof writeRefEntry> {
    await this.writable();
    const entry: RefEntry = {
      trunk: this.id,
      ref: update.ref,
      seq: (update.base?.seq ?? 0) + 1,
      old: update.base && !update.base.symref ? update.base.new : this.zeroOid,
      new: update.new,
      ...(update.symref ? { symref: update.symref } : {}),
      time: new Date().toISOString(),
      writer: this.writer,
      segments: update.segments,
    };
    try {
      return await writeRefEntry(this.store, cache, this.meta, entry);
    } catch (e) {
      // A mirror fails only after the primary took the create (mirrors.ts): the entry
      // stands on the primary, what its clones read, whatever the mirror did.
      if (e instanceof StorageFailure && e.member.role === "mirror") {
        throw new MovedOnPrimaryOnly(e, seal(entry));
      }
      throw e;
    }
  }
}

/**
 * A ref entry the primary took and a mirror refused (down, full, diverged): `entry` is the
 * ref's value on the primary now; the next push or `trunks storage sync` replays it onto
 * the mirror. Still the mirror's StorageFailure, for callers that only name the mirror.
 */
export class MovedOnPrimaryOnly extends StorageFailure {
  constructor(failure: StorageFailure, readonly entry: RefEntry) {
    super(failure.member, failure.kind, failure.message, { cause: failure.cause });
  }
}

/** The stored text describes the same entry (whatever its key order or spacing). */
function sameEntry(raw: string, e: RefEntry): boolean {
  try {
    const o = JSON.parse(raw);
    return o.sum !== undefined ? o.sum === e.sum : JSON.stringify(o) === JSON.stringify(e);
  } catch {
    return false;
  }
}
