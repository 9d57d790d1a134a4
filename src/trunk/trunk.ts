/**
 * An open trunk: its store, identity and the client's cache. Everything the helper,
 * CLI and library do to a trunk goes through these methods, so mirrors and
 * verification live in one place.
 */
import type { Store } from "../storage/store.ts";
import type { TrunkCache } from "./cache.ts";
import { TrunkError } from "./errors.ts";
import { checkWritable, metaForWrite, parseMeta, readMeta, type TrunkMeta } from "./meta.ts";
import {
  isDeleted,
  readRefState,
  type RefEntry,
  type RefState,
  StaleCacheError,
  writeRefEntry,
} from "./refs.ts";
import { listSegments, type SegmentInfo, uploadSegment } from "./segments.ts";
import { downloadSegmentVerified, uploadSegmentEverywhere } from "./segment_copies.ts";
import { MirroredStore } from "./mirrors.ts";

export interface RefUpdate {
  ref: string;
  /** New value; a zero oid deletes. */
  new: string;
  symref?: string;
  /** Entry the update is based on (null: the ref must not exist yet). */
  base: RefEntry | null;
  segments: string[];
}

export class Trunk {
  /** The create-exclusive check before this client's first write (meta.ts). */
  #writable: Promise<void> | undefined;

  constructor(
    readonly store: Store,
    public meta: TrunkMeta,
    readonly cache: TrunkCache,
    readonly writer: string,
  ) {}

  /**
   * Open an existing trunk; a location without trunk.json is "not a trunk". trunk.json
   * is cached per location, so an up-to-date fetch costs a single list.
   */
  static async open(store: Store, cache: TrunkCache, writer: string): Promise<Trunk> {
    const cached = cache.getMeta(store.location);
    if (cached) return new Trunk(store, parseMeta(cached, store.location), cache, writer);
    // Nothing known yet (fresh clone): find a storage that answers before reading.
    if (store instanceof MirroredStore) await store.ensureReader();
    const meta = await readMeta(store);
    if (!meta) {
      throw new TrunkError(
        `no trunk at ${store.location} (no trunk.json); check the URL, or push to create it`,
        "not-a-trunk",
      );
    }
    cache.putMeta(store.location, JSON.stringify(meta));
    return new Trunk(store, meta, cache, writer);
  }

  /** Open, creating the trunk when the location is empty (first push). */
  static async openOrCreate(
    store: Store,
    cache: TrunkCache,
    writer: string,
    objectFormat: "sha1" | "sha256",
  ): Promise<Trunk> {
    const meta = await metaForWrite(store, cache, objectFormat);
    cache.putMeta(store.location, JSON.stringify(meta));
    if (meta.objectFormat !== objectFormat) {
      throw new TrunkError(
        `trunk at ${store.location} holds ${meta.objectFormat} objects but this repository uses ${objectFormat}`,
        "format",
      );
    }
    const trunk = new Trunk(store, meta, cache, writer);
    trunk.#writable = Promise.resolve();
    return trunk;
  }

  get id(): string {
    return this.meta.id;
  }

  async refState(): Promise<RefState> {
    try {
      return await readRefState(this.store, this.cache, this.id);
    } catch (e) {
      if (!(e instanceof StaleCacheError)) throw e;
      // The trunk at this location was re-created: forget what we knew and re-read.
      this.cache.putMeta(this.store.location, undefined);
      const fresh = await readMeta(this.store);
      if (!fresh) {
        throw new TrunkError(`no trunk at ${this.store.location} any more`, "not-a-trunk");
      }
      this.meta = fresh;
      this.cache.putMeta(this.store.location, JSON.stringify(fresh));
      return await readRefState(this.store, this.cache, this.id);
    }
  }

  /** Live refs (deleted ones left out), name -> entry. */
  static liveRefs(state: RefState): Map<string, RefEntry> {
    return new Map([...state.latest].filter(([, e]) => !isDeleted(e)));
  }

  async segments(): Promise<SegmentInfo[]> {
    return await listSegments(this.store);
  }

  /** The primary and mirrors, when this trunk has mirrors (or was opened as a set). */
  get mirrored(): MirroredStore | null {
    return this.store instanceof MirroredStore ? this.store : null;
  }

  /**
   * Pack and index as file paths (streamed) or bytes; on every storage in parallel, each
   * reading the files itself; any failure names the storage.
   */
  async putSegment(id: string, pack: string | Uint8Array, idx: string | Uint8Array): Promise<void> {
    await this.writable();
    const set = this.mirrored;
    if (set) await uploadSegmentEverywhere(set, id, pack, idx);
    else await uploadSegment(this.store, id, pack, idx);
  }

  /**
   * Download and verify a segment; a copy that fails verification (or is missing) on
   * one storage is read from the next, and a corrupt copy is repaired from the good one.
   */
  async downloadSegment(id: string, dest: string): Promise<number> {
    return await downloadSegmentVerified(this.store, id, dest);
  }

  /**
   * Resolves once this client may write to the trunk (create-exclusive verified or
   * recorded, see meta.ts `checkWritable`); checked once per Trunk, before its first
   * segment or ref entry, whether it was opened with `open` or `openOrCreate`.
   */
  writable(): Promise<void> {
    return this.#writable ??= checkWritable(this.store, this.cache, this.meta);
  }

  /** Create the next entry of `update.ref`; `{ok:false}` when another writer won. */
  async updateRef(update: RefUpdate): ReturnType<typeof writeRefEntry> {
    await this.writable();
    const zero = "0".repeat(this.meta.objectFormat === "sha256" ? 64 : 40);
    const entry: RefEntry = {
      trunk: this.id,
      ref: update.ref,
      seq: (update.base?.seq ?? 0) + 1,
      old: update.base && !update.base.symref ? update.base.new : zero,
      new: update.new,
      ...(update.symref ? { symref: update.symref } : {}),
      time: new Date().toISOString(),
      writer: this.writer,
      segments: update.segments,
    };
    return await writeRefEntry(this.store, this.cache, this.id, entry);
  }
}
