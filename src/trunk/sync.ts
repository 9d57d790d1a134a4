/**
 * Bringing a mirror level with the primary: compare the ref logs entry by entry (bytes,
 * not just names), copy only the data the mirror lacks (segments, chunks, blob
 * manifests, storage maps), then replay the missing ref entries in seq order with the
 * primary's exact bytes. A mirror that holds an entry the primary lacks, or a different
 * entry at the same seq, has diverged: it is reported and never overwritten.
 */
import { storedChunkMatches } from "./chunk_codec.ts";
import { DEFAULT_CHUNKING } from "./chunker.ts";
import { createHash } from "./node_crypto.ts";
import { type OnBytes, refundableStream } from "../storage/flow.ts";
import type { ListEntry, Store } from "../storage/store.ts";
import { settleOrForget, type TrunkCache, vouchedEntries } from "./cache.ts";
import {
  BLOBS_PREFIX,
  CHUNKS_PREFIX,
  refLayout,
  REFLOG_PREFIX,
  REFS_PREFIX,
  SEGMENTS_PREFIX,
  STORAGES_PREFIX,
  TRUNK_JSON,
  type TrunkKeys,
} from "./layout.ts";
import { parseMeta, readTrunkJson } from "./meta.ts";
import { ENTRY_READ_MAX_BYTES } from "./refs.ts";
import { readMapBytes } from "./storage_map.ts";
import { getSmall } from "./small_objects.ts";
import {
  describeMember,
  type Member,
  memberError,
  replicateCreate,
  sameBytes,
  StorageFailure,
} from "./mirrors.ts";
import { mapLimit } from "./pool.ts";
import { TrunkError } from "./errors.ts";
import type { OnProgress } from "./progress.ts";
import { describeError } from "./describe_error.ts";

export type MirrorState = "in-sync" | "behind" | "caught-up" | "diverged" | "unreachable";

export interface MirrorReport {
  name: string;
  location: string;
  state: MirrorState;
  /** Ref entries the primary has and the mirror lacks (before any catch-up). */
  behind: number;
  /** Entries replayed onto the mirror by this call. */
  replayed: number;
  /** Objects (segment files, chunks, manifests) copied onto the mirror. */
  copied: number;
  copiedBytes: number;
  /** One line: why it is diverged or unreachable. */
  detail?: string;
}

export interface SyncOptions {
  /** false: only compare (status); true: copy and replay (push, storage sync). */
  write: boolean;
  /** Progress lines for a human (storage sync). */
  progress?: (line: string) => void;
  /** Bytes copied onto each mirror as they move (`target` names the mirror). */
  onProgress?: OnProgress;
  /** Also check what a push can skip (data and storage maps of a mirror with every entry). */
  thorough?: boolean;
  /** Other mirrors: where an object corrupt on the primary may be copied from. */
  alternates?: Member[];
  /** The primary's `refs/` listing, started no earlier than the given time (shared). */
  primaryRefs?: (notBefore: number) => Promise<ListEntry[]>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Cache id for ref entries and trunk.json as read from one mirror, with their listed stamps. */
function mirrorCacheId(trunkId: string, m: Member): string {
  return `${trunkId}@${m.url}`;
}

/**
 * Bytes of `keys` on `store`: from the cache where the listing vouches for the cached
 * copy (same size and stamp, trunk/cache.ts), else read and cached with their stamps. A
 * same-size rewrite (a restore from backup) lists another stamp, so it is read again. A
 * listed key that cannot be read any more is left out.
 */
async function entryBytes(
  store: Store,
  cache: TrunkCache,
  cacheId: string,
  keys: string[],
  listed: Map<string, ListEntry>,
): Promise<Map<string, Uint8Array>> {
  const wanted = new Map(keys.flatMap((k) => listed.has(k) ? [[k, listed.get(k)!]] : []));
  const { trusted, doubtful } = vouchedEntries(cache, cacheId, wanted);
  const out = new Map<string, Uint8Array>();
  for (const [k, v] of trusted) out.set(k, enc.encode(v));
  const fetched = new Map<string, string>();
  await mapLimit(
    keys.filter((k) => !out.has(k)),
    store.capabilities.parallelism * 2,
    async (k) => {
      // Ref entries, or trunk.json: the larger bound is an entry's.
      const b = await getSmall(store, k, ENTRY_READ_MAX_BYTES, "ref entry or trunk.json");
      if (!b) return;
      out.set(k, b);
      fetched.set(k, dec.decode(b));
    },
  );
  settleOrForget(cache, cacheId, fetched, wanted, doubtful);
  return out;
}

function listedOf(list: ListEntry[]): Map<string, ListEntry> {
  return new Map(list.map((e) => [e.key, e]));
}

/**
 * Compare one mirror with the primary and (with `write`) catch it up. Never throws for
 * the mirror's own problems: they come back as `unreachable` or `diverged`.
 */
export async function syncMirror(
  primary: Member,
  mirror: Member,
  cache: TrunkCache,
  trunk: TrunkKeys,
  opts: SyncOptions,
): Promise<MirrorReport> {
  const report: MirrorReport = {
    name: mirror.name,
    location: mirror.store.location,
    state: "in-sync",
    behind: 0,
    replayed: 0,
    copied: 0,
    copiedBytes: 0,
  };
  try {
    await syncInto(primary, mirror, cache, trunk, opts, report);
  } catch (e) {
    // Only the mirror's own failures become its state; the primary's propagate.
    if (!(e instanceof StorageFailure) || e.member.name !== mirror.name) throw e;
    report.state = e.kind === "diverged" ? "diverged" : "unreachable";
    report.detail = e.message;
  }
  return report;
}

async function syncInto(
  primary: Member,
  mirror: Member,
  cache: TrunkCache,
  trunk: TrunkKeys,
  opts: SyncOptions,
  report: MirrorReport,
): Promise<void> {
  const trunkId = trunk.id;
  // Entries are compared and replayed in the primary's shape; a mirror's trunk.json is
  // the primary's (ensureSameTrunk), so it has the same format.
  const layout = refLayout(trunk.format);
  const diverged = (why: string) =>
    new StorageFailure(
      mirror,
      "diverged",
      `${describeMember(mirror)} has diverged from the primary: ${why}; nothing was overwritten`,
    );
  const onMirror = <T>(doing: string, p: Promise<T>) =>
    p.catch((e) => {
      throw memberError(mirror, e, doing);
    });

  // 1. The same trunk (same id), or an empty place for one.
  const hasMeta = await ensureSameTrunk(primary, mirror, cache, trunk, opts.write, diverged);

  // 2. Ref logs, entry by entry. The mirror is listed first: entries reach the primary
  // before any mirror, so a primary listed afterwards has every entry the mirror showed
  // and a concurrent push never looks like divergence.
  const mList = hasMeta ? await onMirror("listing refs/", mirror.store.list(REFS_PREFIX)) : [];
  const pList = await (opts.primaryRefs?.(performance.now()) ?? primary.store.list(REFS_PREFIX));
  const pRefs = pList.filter((e) => layout.parts(e.key));
  const mRefs = mList.filter((e) => layout.parts(e.key));
  const pListed = listedOf(pRefs);
  const mListed = listedOf(mRefs);
  const extra = mRefs.find((e) => !pListed.has(e.key));
  if (extra) throw diverged(`it has ${extra.key}, which the primary does not`);
  const common = mRefs.map((e) => e.key);
  const missing = pRefs.filter((e) => !mListed.has(e.key)).map((e) => e.key);
  report.behind = missing.length;
  if (common.length) {
    const [pb, mb] = await Promise.all([
      entryBytes(primary.store, cache, trunkId, common, pListed),
      onMirror(
        "reading ref entries",
        entryBytes(mirror.store, cache, mirrorCacheId(trunkId, mirror), common, mListed),
      ),
    ]);
    for (const k of common) {
      const a = pb.get(k);
      const b = mb.get(k);
      if (a && b && !sameBytes(a, b)) throw diverged(`its ${k} differs from the primary's`);
    }
  }
  if (!opts.write) {
    report.state = missing.length ? "behind" : "in-sync";
    return;
  }

  // 3. Data before entries, so a replayed entry never points at missing objects. A mirror
  // with every entry may still have lost data (a lifecycle rule, a cleanup by hand): an
  // explicit sync (`thorough`) compares the data too, else it would call it in sync.
  if (missing.length || opts.thorough) {
    const prefixes = [SEGMENTS_PREFIX, CHUNKS_PREFIX, BLOBS_PREFIX];
    const todos = await Promise.all(prefixes.map((p) => lacking(primary, mirror, p)));
    const all = todos.flat();
    const moved = { bytes: 0, items: 0 };
    const progress = opts.onProgress;
    const tell = (done: boolean, failed = false) =>
      progress?.({
        kind: "mirror-copy",
        target: mirror.name,
        ...moved,
        total: all.reduce((n, e) => n + e.size, 0),
        itemsTotal: all.length,
        done,
        ...(failed ? { failed } : {}),
      });
    const counted: Counted | undefined = progress && {
      onBytes: (n) => {
        moved.bytes += n;
        tell(false);
      },
      onObject: () => {
        moved.items++;
        tell(false);
      },
    };
    if (all.length) tell(false);
    try {
      for (const [i, prefix] of prefixes.entries()) {
        await copyMissing(primary, mirror, prefix, todos[i], report, { ...opts, counted });
      }
    } catch (e) {
      // The line ends where it stood; a later sync of this mirror starts a new one.
      if (all.length) tell(false, true);
      throw e;
    }
    if (all.length) tell(true);
  }
  // Storage maps: written everywhere at once, so only a mirror that missed entries (or
  // an explicit sync) needs them checked.
  if (missing.length || opts.thorough) await copyMissingCreates(primary, mirror, STORAGES_PREFIX);
  // The audit archive (reflog/): pruned entries live nowhere else, so a mirror added to a
  // pruned trunk (or one that missed an archive) would show a trail missing them once
  // reads fail over to it, or once it is promoted.
  if (missing.length || opts.thorough) await copyMissingCreates(primary, mirror, REFLOG_PREFIX);

  // 4. Replay: per ref in seq order, refs in parallel.
  if (missing.length) {
    const bytes = await entryBytes(primary.store, cache, trunkId, missing, pListed);
    const byRef = new Map<string, string[]>();
    for (const k of missing) {
      const enc = layout.parts(k)!.enc;
      byRef.set(enc, [...byRef.get(enc) ?? [], k]);
    }
    const replayed = new Map<string, string>();
    await mapLimit([...byRef.values()], mirror.store.capabilities.parallelism, async (keys) => {
      for (const k of keys.sort()) {
        const b = bytes.get(k);
        if (!b) continue; // removed from the primary meanwhile (GC): nothing to replay
        await replicateCreate(mirror, k, b);
        replayed.set(k, dec.decode(b));
        report.replayed++;
      }
    });
    cache.putEntries(mirrorCacheId(trunkId, mirror), replayed);
    opts.progress?.(`${mirror.name}: replayed ${entries(report.replayed)}`);
  }
  report.state = report.replayed > 0 || report.copied > 0 ? "caught-up" : "in-sync";
}

/**
 * The mirror holds this trunk (same trunk.json id and format), or nothing yet: then, when
 * writing, it gets the primary's exact trunk.json. False when there is none (read-only).
 */
async function ensureSameTrunk(
  primary: Member,
  mirror: Member,
  cache: TrunkCache,
  trunk: TrunkKeys,
  write: boolean,
  diverged: (why: string) => StorageFailure,
): Promise<boolean> {
  // One list says whether trunk.json is there and which stored object it is: a cached copy
  // counts only while the listing vouches for it, so a mirror wiped or restored from a
  // backup is seen as it now is (and gets trunk.json again).
  const trunkId = trunk.id;
  const cacheId = mirrorCacheId(trunkId, mirror);
  let raw: Uint8Array | null = null;
  try {
    const listed = (await mirror.store.list(TRUNK_JSON)).find((e) => e.key === TRUNK_JSON);
    if (listed) {
      const one = new Map([[TRUNK_JSON, listed]]);
      raw = (await entryBytes(mirror.store, cache, cacheId, [TRUNK_JSON], one)).get(TRUNK_JSON) ??
        null;
    }
  } catch (e) {
    throw memberError(mirror, e, `reading ${TRUNK_JSON}`);
  }
  if (!raw) {
    if (!write) return false;
    const mine = await readTrunkJson(primary.store);
    if (!mine) throw new Error(`${primary.store.location} has no ${TRUNK_JSON}`);
    try {
      if (!(await mirror.store.create(TRUNK_JSON, mine))) {
        raw = await readTrunkJson(mirror.store);
      } else raw = mine;
    } catch (e) {
      throw memberError(mirror, e, `creating ${TRUNK_JSON}`);
    }
    if (!raw) throw memberError(mirror, new Error(`${TRUNK_JSON} vanished`), "creating it");
  }
  const text = dec.decode(raw);
  const { id, format } = parseMeta(text, mirror.store.location);
  if (id !== trunkId) {
    throw diverged(`it holds a different trunk (id ${id}, the primary's is ${trunkId})`);
  }
  // Entries are replayed in the primary's shape: a mirror of another format would hold
  // them where its own readers never look.
  if (format !== trunk.format) {
    throw diverged(
      `its ${TRUNK_JSON} says format ${format}, the primary's format ${trunk.format}`,
    );
  }
  return true;
}

/** What a copy tells as it goes: bytes as they flow, and each object once it is written. */
interface Counted {
  onBytes: OnBytes;
  onObject: () => void;
}

/** Keys under `prefix` the primary lists and the mirror does not. */
async function lacking(primary: Member, mirror: Member, prefix: string): Promise<ListEntry[]> {
  const [have, want] = await Promise.all([
    mirror.store.list(prefix).catch((e) => {
      throw memberError(mirror, e, `listing ${prefix}`);
    }),
    primary.store.list(prefix),
  ]);
  const present = new Set(have.map((e) => e.key));
  return want.filter((e) => !present.has(e.key));
}

/** Copy `todo` (keys under `prefix` the mirror lacks); segment packs before their indexes. */
async function copyMissing(
  primary: Member,
  mirror: Member,
  prefix: string,
  todo: ListEntry[],
  report: MirrorReport,
  opts: SyncOptions & { counted?: Counted },
): Promise<void> {
  if (todo.length === 0) return;
  // A listed .idx means a complete segment: write every pack first.
  const phases = prefix === SEGMENTS_PREFIX
    ? [todo.filter((e) => !e.key.endsWith(".idx")), todo.filter((e) => e.key.endsWith(".idx"))]
    : [todo];
  for (const phase of phases) {
    await mapLimit(phase, Math.min(4, mirror.store.capabilities.parallelism), async (e) => {
      if (await copyObject(primary, mirror, e.key, opts)) {
        report.copied++;
        report.copiedBytes += e.size;
      }
      opts.counted?.onObject();
    });
  }
  // With a progress meter drawing in place, its line says it (a line here would break it).
  if (!opts.counted) {
    opts.progress?.(`${mirror.name}: copied ${todo.length} object(s) under ${prefix}`);
  }
}

/** Segment packs: the name is the SHA-256 of the bytes. */
function expectedSha256(key: string): string | null {
  return /^segments\/([0-9a-f]{64})\.pack$/.exec(key)?.[1] ?? null;
}

/**
 * A chunk's name is the SHA-256 of its plain bytes, which may be stored compressed
 * (chunk_codec.ts): read whole (a few MiB at most), checked, then written.
 */
async function copyChunk(
  from: Member,
  to: Member,
  key: string,
  sha: string,
  onBytes?: OnBytes,
): Promise<boolean> {
  const src = await from.store.get(key);
  if (!src) return false;
  const limit = DEFAULT_CHUNKING.max + 1024;
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const part of src) {
    size += part.byteLength;
    if (size > limit) break;
    parts.push(part);
  }
  const bytes = new Uint8Array(Math.min(size, limit));
  let at = 0;
  for (const p of parts) bytes.set(p, at), at += p.byteLength;
  if (size > limit || !storedChunkMatches(bytes, sha)) {
    throw new TrunkError(
      `${key} on ${
        describeMember(from)
      } is corrupt (it does not hold the chunk its name says); run trunks check`,
      "corrupt",
    );
  }
  try {
    await to.store.put(key, bytes);
  } catch (e) {
    throw memberError(to, e, `writing ${key}`);
  }
  onBytes?.(bytes.byteLength);
  return true;
}

/**
 * Stream one object from `from` to `to`. A segment pack or chunk is hashed on the way
 * and the copy fails (nothing written) when it does not match its name, so a damaged
 * copy never spreads. False when `from` does not have it.
 */
async function copyVerified(
  from: Member,
  to: Member,
  key: string,
  onBytes?: OnBytes,
): Promise<boolean> {
  const chunk = /^chunks\/([0-9a-f]{64})$/.exec(key)?.[1];
  if (chunk) return await copyChunk(from, to, key, chunk, onBytes);
  const got = await from.store.get(key);
  if (!got) return false;
  // Counted as the mirror takes it; a failed copy takes its bytes back.
  const { stream: src, takeBack } = refundableStream(got, onBytes);
  const want = expectedSha256(key);
  let body = src;
  let corrupt: string | null = null;
  if (want) {
    const h = createHash("sha256");
    body = src.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, c) {
          h.update(chunk);
          c.enqueue(chunk);
        },
        flush() {
          const got = h.digest("hex");
          if (got === want) return;
          corrupt = got;
          // Erroring the stream makes the put fail: the target never gets the bad bytes.
          throw new Error(`${key} does not match its SHA-256`);
        },
      }),
    );
  }
  try {
    await to.store.put(key, body);
  } catch (e) {
    takeBack();
    if (corrupt) {
      throw new TrunkError(
        `${key} on ${describeMember(from)} is corrupt (its SHA-256 is ${
          (corrupt as string).slice(0, 12)
        }…); run trunks check`,
        "corrupt",
      );
    }
    throw memberError(to, e, `writing ${key}`);
  }
  return true;
}

/**
 * Copy one object from the primary to the mirror. When the primary's copy is corrupt,
 * a good copy on another mirror is used instead and the primary is repaired from it.
 */
async function copyObject(
  primary: Member,
  mirror: Member,
  key: string,
  opts: SyncOptions & { counted?: Counted },
): Promise<boolean> {
  try {
    return await copyVerified(primary, mirror, key, opts.counted?.onBytes);
  } catch (e) {
    if (!(e instanceof TrunkError && e.code === "corrupt")) throw e;
    for (const alt of opts.alternates ?? []) {
      try {
        if (!(await copyVerified(alt, mirror, key, opts.counted?.onBytes))) continue;
      } catch (altError) {
        // The alternate is down or bad too; a failure writing the mirror is the mirror's.
        if (altError instanceof StorageFailure && altError.member.name === mirror.name) {
          throw altError;
        }
        continue;
      }
      try {
        await copyVerified(mirror, primary, key);
        opts.progress?.(
          `${
            e.message.replace(/; run trunks check$/, "")
          }: copied from ${alt.role} "${alt.name}" instead, and repaired the primary's copy`,
        );
      } catch (repairError) {
        opts.progress?.(
          `${key}: copied from ${alt.role} "${alt.name}"; repairing the primary failed: ${
            describeError(repairError)
          }`,
        );
      }
      return true;
    }
    throw e;
  }
}

/** Exclusive-create keys (storage maps) the mirror lacks, with the primary's bytes. */
async function copyMissingCreates(primary: Member, mirror: Member, prefix: string): Promise<void> {
  const [have, want] = await Promise.all([
    mirror.store.list(prefix).catch((e) => {
      throw memberError(mirror, e, `listing ${prefix}`);
    }),
    primary.store.list(prefix),
  ]);
  const present = new Set(have.map((e) => e.key));
  for (const e of want) {
    if (present.has(e.key)) continue;
    const b = await readMapBytes(primary.store, e.key);
    if (b) await replicateCreate(mirror, e.key, b);
  }
}

/** Sync every mirror in parallel; one report per mirror, in the given order. */
export async function syncMirrors(
  primary: Member,
  mirrors: Member[],
  cache: TrunkCache,
  trunk: TrunkKeys,
  opts: SyncOptions,
): Promise<MirrorReport[]> {
  if (mirrors.length === 0) return [];
  // One primary list serves every mirror whose own list finished before it started.
  let shared: { started: number; list: Promise<ListEntry[]> } | null = null;
  const primaryRefs = opts.primaryRefs ?? ((notBefore: number) => {
    if (!shared || shared.started < notBefore) {
      shared = { started: performance.now(), list: primary.store.list(REFS_PREFIX) };
    }
    return shared.list;
  });
  return await Promise.all(
    mirrors.map((m) =>
      syncMirror(primary, m, cache, trunk, {
        ...opts,
        primaryRefs,
        alternates: (opts.alternates ?? mirrors).filter((x) => x !== m),
      })
    ),
  );
}

function entries(n: number): string {
  return `${n} ref entr${n === 1 ? "y" : "ies"}`;
}

/** One line per mirror for a human: in sync / caught up N entries / behind / diverged. */
export function describeReport(r: MirrorReport): string {
  switch (r.state) {
    case "in-sync":
      return `${r.name}: in sync`;
    case "behind":
      return `${r.name}: behind by ${r.behind} entr${r.behind === 1 ? "y" : "ies"}`;
    case "caught-up":
      if (r.replayed === 0) {
        return `${r.name}: had every entry; copied ${r.copied} missing object(s)`;
      }
      return `${r.name}: caught up ${r.replayed} entr${r.replayed === 1 ? "y" : "ies"}${
        r.copied ? ` (copied ${r.copied} object(s))` : ""
      }`;
    case "diverged":
    case "unreachable":
      return r.detail ?? `${r.name}: ${r.state}`;
  }
}
