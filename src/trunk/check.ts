/**
 * `trunks check`: verify a whole trunk and report every problem with the key it is in
 * and what to do. Segments are downloaded into a private scratch repository (SHA-256
 * against the name, `git index-pack` recomputing every object id, the stored index
 * compared with git's), ref logs must parse and chain, and every object any ref reaches
 * must be in a segment or be a large blob whose manifest and chunks reassemble to it.
 *
 * The result also carries the inventory compaction works from (src/trunk/gc.ts), so
 * `check --clean` reads everything once.
 */
import { createHash } from "./node_crypto.ts";
import {
  indexPackInto,
  initScratch,
  presentIn,
  type Reachable,
  reachableObjects,
} from "../git/compact.ts";
import { GitError } from "../git/run.ts";
import { PackFormatError } from "../pack/errors.ts";
import type { ObjectFormat } from "../pack/objects.ts";
import { PackIndex } from "../pack/pack_index.ts";
import {
  getAtMost,
  getBytes,
  type ListEntry,
  readUpTo,
  type Store,
  StoreError,
} from "../storage/store.ts";
import { type BlobManifest, decodeBlobManifest } from "./blob_manifest.ts";
import { decodeChunk } from "./chunk_codec.ts";
import { TrunkError } from "./errors.ts";
import { lostSegmentKeys } from "./lost_segments.ts";
import {
  blobKey,
  BLOBS_PREFIX,
  chunkKey,
  CHUNKS_PREFIX,
  foreignLayout,
  parseReflogKey,
  parseSnapshotKey,
  type RefLayout,
  refLayout,
  REFLOG_PREFIX,
  REFS_PREFIX,
  segmentIdxKey,
  segmentPackKey,
  segmentReplacesKey,
  snapshotKey,
  TRUNK_JSON,
} from "./layout.ts";
import { parseMeta, readTrunkJson as readTrunkJsonBytes, type TrunkMeta } from "./meta.ts";
import { mapLimit } from "./pool.ts";
import { DAMAGED_ARCHIVE_FIX, readArchive } from "./reflog.ts";
import { isDeleted, parseEntry, readEntryBytes, type RefEntry } from "./refs.ts";
import { encodeRef } from "./refcodec.ts";
import { readManifestBytes } from "./chunks.ts";
import {
  listSegmentKeys,
  readSidecars,
  type ReplacedList,
  replacedSegments,
  type SegmentListing,
  vouchedLists,
} from "./replaces.ts";
import { downloadSegmentPack, type SegmentInfo } from "./segments.ts";
import { parseSnapshot, snapshotMaxBytes } from "./snapshots.ts";

/** Something wrong with the trunk: `check` exits non-zero. */
export interface Problem {
  /** The store key the problem is in (relative to the trunk). */
  key: string;
  kind:
    | "trunk-json"
    | "foreign-entry"
    | "bad-ref-entry"
    | "ref-log-gap"
    | "bad-snapshot"
    | "bad-reflog-archive"
    | "ref-log-chain"
    | "dangling-ref"
    | "missing-object"
    | "corrupt-segment"
    | "corrupt-index"
    | "bad-sidecar"
    | "bad-manifest"
    | "missing-chunk"
    | "corrupt-chunk"
    | "blob-mismatch"
    | "local-repo"
    | "local-db";
  message: string;
  /** What to do about it. */
  fix: string;
  /** For `dangling-ref` and `missing-object`: the damaged ref (`trunks check --repair`). */
  ref?: string;
}

/** Worth knowing, not wrong: garbage `check --clean` removes, a HEAD naming nothing. */
export interface Note {
  key: string;
  kind: "stray-key" | "unreferenced-manifest" | "unreferenced-chunk" | "head" | "vanished";
  message: string;
}

export interface CheckStats {
  refs: number;
  refEntries: number;
  segments: number;
  packBytes: number;
  objects: number;
  reachableObjects: number;
  largeBlobs: number;
  chunks: number;
}

export interface CheckReport {
  trunk: string;
  ok: boolean;
  problems: Problem[];
  notes: Note[];
  stats: CheckStats;
}

export interface ListedEntry {
  key: string;
  modified: Date;
  entry: RefEntry;
}

/** What compaction needs, gathered by the check. */
export interface Inventory {
  meta: TrunkMeta;
  /** Local time just before the refs were listed: what the inventory's view is as of. */
  listedAt: number;
  /** The scratch repository holding every good segment's objects. */
  scratch: string;
  /** Every ref entry that parsed, with the store's time for it. */
  entries: ListedEntry[];
  /** Latest entry per ref (deleted refs included). */
  latest: Map<string, ListedEntry>;
  listing: SegmentListing;
  /** Compacted segment -> the ids it replaces. */
  replaces: Map<string, ReplacedList>;
  /** Verified segments and the objects each holds. */
  segmentObjects: Map<string, string[]>;
  /** What the live refs reach. */
  reachable: Reachable;
  /** Every `blobs/<oid>` key and every `chunks/<sha256>` key listed. */
  manifests: Map<string, ListEntry>;
  chunks: Map<string, ListEntry>;
}

export interface CheckOptions {
  /** A directory the check may fill (the scratch repository); the caller removes it. */
  workDir: string;
  /** Progress lines for a human (stderr). */
  log?: (line: string) => void;
}

/** What the check found so far: problems, notes and counts, filled in step by step. */
interface Findings {
  problems: Problem[];
  notes: Note[];
  stats: CheckStats;
}

/** The ref log as read and verified: every good entry, the latest per ref, the live ones. */
interface RefLog {
  listedAt: number;
  entries: ListedEntry[];
  latest: Map<string, ListedEntry>;
  /** Latest entries that name a value: neither deleted nor a symbolic ref. */
  live: ListedEntry[];
  /** Encoded names of refs whose newest entry is a problem: their value is unknown. */
  unreadable: Set<string>;
}

/** The segments as downloaded into the scratch repository and verified. */
interface Segments {
  scratch: string;
  listing: SegmentListing;
  replaces: Map<string, ReplacedList>;
  segmentObjects: Map<string, string[]>;
}

/** What the live refs reach, and the large-blob keys listed. */
interface Reach {
  reachable: Reachable;
  manifests: Map<string, ListEntry>;
  chunks: Map<string, ListEntry>;
  /** Chunks some manifest of a reachable large blob lists. */
  referencedChunks: Set<string>;
}

export async function checkTrunk(
  store: Store,
  opts: CheckOptions,
): Promise<{ report: CheckReport; inventory: Inventory | null }> {
  const found: Findings = {
    problems: [],
    notes: [],
    stats: {
      refs: 0,
      refEntries: 0,
      segments: 0,
      packBytes: 0,
      objects: 0,
      reachableObjects: 0,
      largeBlobs: 0,
      chunks: 0,
    },
  };
  const { problems, notes, stats } = found;
  const done = (inventory: Inventory | null) => ({
    report: { trunk: store.location, ok: problems.length === 0, problems, notes, stats },
    inventory,
  });
  const log = opts.log ?? (() => {});

  const meta = await readTrunkJson(store, found);
  if (!meta) return done(null);
  log("checking ref entries");
  const refLog = await checkRefLog(store, meta, found);
  noteHeadTarget(refLog, found);
  await checkArchives(store, meta, found);
  const segments = await checkSegments(store, meta, opts.workDir, log, found);
  log("checking that every ref's objects are stored");
  const reach = await checkReachability(store, meta, refLog, segments, found);
  checkReplacedReach(segments, reach.reachable, found);
  await noteGarbage(store, reach, found);
  problems.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  return done({
    meta,
    listedAt: refLog.listedAt,
    scratch: segments.scratch,
    entries: refLog.entries,
    latest: refLog.latest,
    listing: segments.listing,
    replaces: segments.replaces,
    segmentObjects: segments.segmentObjects,
    reachable: reach.reachable,
    manifests: reach.manifests,
    chunks: reach.chunks,
  });
}

const TRUNK_JSON_FIX =
  "restore trunk.json from a mirror or backup; nothing else can be checked without it";

/** trunk.json: present (else this is not a trunk) and of a known format (else a problem). */
async function readTrunkJson(store: Store, found: Findings): Promise<TrunkMeta | null> {
  // A damaged trunk.json is this check's finding (nothing else can be checked without it).
  const damaged = (e: unknown): null => {
    if (!(e instanceof TrunkError)) throw e;
    found.problems.push({
      key: TRUNK_JSON,
      kind: "trunk-json",
      message: e.message,
      fix: TRUNK_JSON_FIX,
    });
    return null;
  };
  let rawMeta: Uint8Array | null;
  try {
    rawMeta = await readTrunkJsonBytes(store);
  } catch (e) {
    return damaged(e);
  }
  if (!rawMeta) {
    throw new TrunkError(
      `no trunk at ${store.location} (no trunk.json); check the URL`,
      "not-a-trunk",
    );
  }
  try {
    const meta = parseMeta(new TextDecoder().decode(rawMeta), store.location);
    if (meta.objectFormat !== "sha1" && meta.objectFormat !== "sha256") {
      throw new TrunkError(`unknown object format ${JSON.stringify(meta.objectFormat)}`, "corrupt");
    }
    return meta;
  } catch (e) {
    return damaged(e);
  }
}

type KeyOfRef = { seq: number; key: string; modified: Date; size: number };

/** Ref log: every entry parses, belongs to this trunk, and chains to the one before. */
async function checkRefLog(store: Store, meta: TrunkMeta, found: Findings): Promise<RefLog> {
  const listedAt = Date.now();
  const layout = refLayout(meta.format);
  const { byRef, newestSnapshot } = await listRefEntryKeys(store, layout, found);
  const allKeys = [...byRef.values()].flat();
  const { parsed, gone } = await readRefEntries(store, meta, layout, allKeys, found);
  const entries: ListedEntry[] = [];
  const latest = new Map<string, ListedEntry>();
  const unreadable = new Set<string>();
  for (const [enc, list] of byRef) {
    list.sort((a, b) => a.seq - b.seq);
    const newest = list[list.length - 1].key;
    if (!parsed.has(newest) && !gone.has(newest)) unreadable.add(enc);
    const chained = chainRefEntries(list, parsed, gone, found);
    // One by one: a ref never pruned (a mirrored trunk) may have more entries than a
    // call takes arguments (~125,000).
    for (const e of chained.entries) entries.push(e);
    if (chained.last) latest.set(chained.last.entry.ref, chained.last);
  }
  found.stats.refEntries = allKeys.length;
  if (newestSnapshot !== null) {
    // Each list is sorted by seq above: its last key is the ref's latest.
    const maxBytes = snapshotMaxBytes([...byRef.values()].map((l) => l[l.length - 1]));
    await checkSnapshot(store, newestSnapshot, meta.id, layout, maxBytes, found);
  }
  const live = [...latest.values()].filter((l) => !isDeleted(l.entry) && !l.entry.symref);
  found.stats.refs = live.length;
  return { listedAt, entries, latest, live, unreadable };
}

/**
 * Every key under refs/, grouped by encoded ref, and the newest snapshot's seq; keys that
 * are neither are noted (one shaped as another format's entry is not one of this trunk).
 */
async function listRefEntryKeys(
  store: Store,
  layout: RefLayout,
  found: Findings,
): Promise<{ byRef: Map<string, KeyOfRef[]>; newestSnapshot: number | null }> {
  const byRef = new Map<string, KeyOfRef[]>();
  let newestSnapshot: number | null = null;
  for (const e of await store.list(REFS_PREFIX)) {
    const k = layout.parts(e.key);
    const snap = k ? null : parseSnapshotKey(e.key);
    if (snap !== null) {
      newestSnapshot = Math.max(newestSnapshot ?? 0, snap);
      continue;
    }
    if (!k) {
      const other = foreignLayout(layout, e.key);
      if (other) {
        // Either trunk.json's format is wrong (these are this trunk's own entries, and
        // a clean would drop every object only they reach) or another trunk once lived
        // here: a problem, so `--clean` deletes nothing until a person has looked.
        found.problems.push({
          key: e.key,
          kind: "foreign-entry",
          message:
            `${e.key} has format ${other.format}'s shape, but trunk.json says format ${layout.format}: it is not read`,
          fix:
            `if trunk.json's format is wrong, restore trunk.json from a mirror or backup; if the key is left from another trunk once at this URL, delete it`,
        });
        continue;
      }
      found.notes.push({
        key: e.key,
        kind: "stray-key",
        message: `${e.key} is not a ref entry key`,
      });
      continue;
    }
    let list = byRef.get(k.enc);
    if (!list) byRef.set(k.enc, list = []);
    list.push({ seq: k.seq, key: e.key, modified: e.modified, size: e.size });
  }
  return { byRef, newestSnapshot };
}

/** Every archive of pruned entries (`reflog/`, the audit trail) parses and is this trunk's. */
async function checkArchives(store: Store, meta: TrunkMeta, found: Findings): Promise<void> {
  const layout = refLayout(meta.format);
  const listed = (await store.list(REFLOG_PREFIX)).filter((e) => parseReflogKey(e.key) !== null);
  await mapLimit(listed, store.capabilities.parallelism, async (archive) => {
    const key = archive.key;
    try {
      await readArchive(store, archive, layout, meta.id);
    } catch (e) {
      if (!(e instanceof TrunkError)) throw e;
      found.problems.push({
        key,
        kind: "bad-reflog-archive",
        message: e.message,
        fix: DAMAGED_ARCHIVE_FIX,
      });
    }
  });
}

/** The newest snapshot (the one readers use) parses, is this trunk's, and so is each entry. */
async function checkSnapshot(
  store: Store,
  seq: number,
  trunkId: string,
  layout: RefLayout,
  maxBytes: number,
  found: Findings,
): Promise<void> {
  const key = snapshotKey(seq);
  const body = await getAtMost(store, key, maxBytes);
  if (!body) return; // replaced meanwhile by a newer one
  const raw = await readUpTo(body, maxBytes);
  try {
    if (!raw) {
      throw new TrunkError(
        `${key} is larger than the latest entries of every ref could fill (${maxBytes} bytes): readers do not read it`,
        "corrupt",
      );
    }
    const snap = parseSnapshot(new TextDecoder().decode(raw), key, seq, layout);
    if (snap.trunk !== trunkId) {
      throw new TrunkError(`${key} belongs to trunk ${snap.trunk}, not this one`, "corrupt");
    }
    for (const [k, v] of snap.entries) parseEntry(v, k, layout);
  } catch (e) {
    if (!(e instanceof TrunkError)) throw e;
    found.problems.push({
      key,
      kind: "bad-snapshot",
      message: e.message,
      fix:
        "delete it: readers then read ref entries one by one, and the next maintenance writes a new one",
    });
  }
}

/**
 * Each entry read (after the listing) and parsed; an unreadable one, or one of another
 * trunk, is a problem. `gone` holds the listed keys deleted since they were listed.
 */
async function readRefEntries(
  store: Store,
  meta: TrunkMeta,
  layout: RefLayout,
  keys: KeyOfRef[],
  found: Findings,
): Promise<{ parsed: Map<string, RefEntry>; gone: Set<string> }> {
  const parsed = new Map<string, RefEntry>();
  const gone = new Set<string>();
  await mapLimit(keys, store.capabilities.parallelism * 2, async ({ key }) => {
    try {
      const raw = await readEntryBytes(store, key);
      if (!raw) {
        gone.add(key); // removed while we looked: nothing to judge
        return;
      }
      const entry = parseEntry(new TextDecoder().decode(raw), key, layout);
      if (entry.trunk !== undefined && entry.trunk !== meta.id) {
        found.problems.push({
          key,
          kind: "bad-ref-entry",
          message: `${key} belongs to trunk ${entry.trunk}, not this one (${meta.id})`,
          fix: "it was copied in from another trunk: delete it if its ref's history is intact",
        });
        return;
      }
      parsed.set(key, entry);
    } catch (e) {
      if (!(e instanceof TrunkError)) throw e;
      found.problems.push({
        key,
        kind: "bad-ref-entry",
        message: e.message,
        fix: "restore this key from a mirror or backup; git ls-remote fails until then",
      });
    }
  });
  return { parsed, gone };
}

/**
 * One ref's entries in seq order: seqs without gaps (a log may start past 1: maintenance
 * archived its oldest entries to reflog/), each `old` the previous `new`.
 * Returns the good entries and the last one when it is good (the ref's value).
 *
 * A listing is not a snapshot: one made while pruning deletes this ref's oldest entries
 * can show entry n and miss n+1 (deleted before the listing reached it). Pruning deletes
 * a ref's entries strictly oldest first, so n was deleted before n+1, which is before the
 * listing ended and before n was read: a gap after an entry gone by its read is pruning
 * under way, not a loss. A gap after an entry still there is entries lost.
 */
function chainRefEntries(
  list: KeyOfRef[],
  parsed: Map<string, RefEntry>,
  gone: Set<string>,
  found: Findings,
): { entries: ListedEntry[]; last: ListedEntry | null } {
  const entries: ListedEntry[] = [];
  let last: ListedEntry | null = null;
  let prev: { key: string; entry: RefEntry } | null = null;
  for (let i = 0; i < list.length; i++) {
    const { seq, key, modified } = list[i];
    if (i > 0 && seq !== list[i - 1].seq + 1 && !gone.has(list[i - 1].key)) {
      found.problems.push({
        key,
        kind: "ref-log-gap",
        message: `${key} follows ${list[i - 1].key}: entries of this ref are missing`,
        fix: "restore the missing entries from a mirror or backup",
      });
    }
    const entry = parsed.get(key);
    if (!entry) {
      prev = null;
      continue;
    }
    const zero = "0".repeat(entry.new.length);
    if (prev && prev.entry.seq === seq - 1) {
      const was = prev.entry.symref ? zero : prev.entry.new;
      if (entry.old !== was) {
        found.problems.push({
          key,
          kind: "ref-log-chain",
          message: `${key} says ${entry.ref} was ${entry.old}, but ${prev.key} set it to ${was}`,
          fix: "the ref log was edited by hand or damaged; restore it from a mirror or backup",
        });
      }
    }
    prev = { key, entry };
    const listed = { key, modified, entry };
    entries.push(listed);
    if (i === list.length - 1) last = listed;
  }
  return { entries, last };
}

/**
 * HEAD naming a branch that does not exist is worth a note, not a problem; one whose newest
 * entry cannot be read exists (that entry is the problem named).
 */
function noteHeadTarget(refLog: RefLog, found: Findings): void {
  const headEntry = refLog.latest.get("HEAD");
  const head = headEntry?.entry;
  if (
    head?.symref && !refLog.live.some((l) => l.entry.ref === head.symref) &&
    !refLog.unreadable.has(encodeRef(head.symref))
  ) {
    found.notes.push({
      key: headEntry!.key,
      kind: "head",
      message: `HEAD names ${head.symref}, which does not exist; clones check out main, ` +
        `master or the first branch instead`,
    });
  }
}

/** Segments: SHA-256, index-pack, and the stored index against git's. */
async function checkSegments(
  store: Store,
  meta: TrunkMeta,
  workDir: string,
  log: (line: string) => void,
  found: Findings,
): Promise<Segments> {
  const listing = await listSegmentKeys(store);
  for (const s of listing.strays) {
    found.notes.push({
      key: s.key,
      kind: "stray-key",
      message: `${s.key} is not part of a complete segment (an interrupted upload?)`,
    });
  }
  const replaces = await readSidecars(store, listing, (key, e) => {
    found.problems.push({
      key,
      kind: "bad-sidecar",
      message: e.message,
      fix: "delete it: clients then download its segment in full, nothing is lost",
    });
  });
  const scratch = await initScratch(workDir, meta.objectFormat);
  const segmentObjects = new Map<string, string[]>();
  let checked = 0;
  // Up to four downloads and index-packs at once: with many small segments, process
  // start-up dominates and overlaps well.
  await mapLimit(listing.complete, Math.min(4, store.capabilities.parallelism), async (seg) => {
    const objects = await checkSegment(store, scratch, seg, meta.objectFormat, found);
    if (objects) segmentObjects.set(seg.id, objects);
    if (++checked % 50 === 0) log(`checked ${checked}/${listing.complete.length} segments`);
  });
  found.stats.segments = listing.complete.length;
  found.stats.objects = new Set([...segmentObjects.values()].flat()).size;
  checkWholeLists(replaces, segmentObjects, found);
  return { scratch, listing, replaces, segmentObjects };
}

/**
 * A merge's sidecar (`whole`) says its segment holds every object of each it lists: clients
 * then skip those, and maintenance deletes them. A list that lies, checked against the
 * segments' own objects, is named (clones otherwise fail on a ref whose objects they skipped).
 */
function checkWholeLists(
  replaces: Map<string, ReplacedList>,
  segmentObjects: Map<string, string[]>,
  found: Findings,
): void {
  for (const [id, r] of replaces) {
    const own = segmentObjects.get(id);
    if (!r.whole || !own) continue;
    const held = new Set(own);
    for (const x of r) {
      const lacking = x === id ? undefined : segmentObjects.get(x)?.find((o) => !held.has(o));
      if (lacking === undefined) continue;
      found.problems.push({
        key: segmentReplacesKey(id),
        kind: "bad-sidecar",
        message: `${
          segmentReplacesKey(id)
        } says its segment holds all of segment ${x}, but object ${lacking} is not in it`,
        fix: "delete it: clients then download its segment in full, nothing is lost",
      });
      break;
    }
  }
}

/**
 * Clients download the current segments and skip those a sidecar says are replaced: an
 * object a ref reaches that only a replaced segment holds means the list naming it lies
 * (a clean's list need not hold garbage, but holds all a ref reaches), and a clone fails
 * on that ref's objects.
 */
function checkReplacedReach(segments: Segments, reachable: Reachable, found: Findings): void {
  const { listing, replaces, segmentObjects } = segments;
  const vouched = vouchedLists(listing, replaces);
  const replaced = replacedSegments(listing, vouched);
  if (replaced.size === 0) return;
  const current = new Set<string>();
  for (const s of listing.complete) {
    if (!replaced.has(s.id)) { for (const o of segmentObjects.get(s.id) ?? []) current.add(o); }
  }
  const named = new Set(found.problems.map((p) => p.key));
  for (const s of listing.complete) {
    if (!replaced.has(s.id)) continue;
    const objects = segmentObjects.get(s.id) ?? [];
    const lost = objects.find((o) => reachable.present.has(o) && !current.has(o));
    if (lost === undefined) continue;
    const namer = [...vouched].find(([id, r]) => id !== s.id && r.includes(s.id))?.[0];
    const key = namer === undefined ? segmentPackKey(s.id) : segmentReplacesKey(namer);
    if (named.has(key)) continue;
    named.add(key);
    found.problems.push({
      key,
      kind: "bad-sidecar",
      message:
        `${key} says segment ${s.id} is replaced, but object ${lost}, which a ref reaches, is in no current segment: clients skip it`,
      fix: "delete it: clients then download its segment in full, nothing is lost",
    });
  }
}

/** One segment downloaded and verified; its objects, or null when it is bad or vanished. */
async function checkSegment(
  store: Store,
  scratch: string,
  seg: SegmentInfo,
  format: ObjectFormat,
  found: Findings,
): Promise<string[] | null> {
  const id = seg.id;
  const packKey = segmentPackKey(id);
  const tmp = `${scratch}/objects/pack/tmp_${id}.pack`;
  try {
    found.stats.packBytes += await downloadSegmentPack(
      store,
      id,
      tmp,
      undefined,
      undefined,
      seg.packSize,
    );
  } catch (e) {
    if (e instanceof TrunkError && e.code === "missing-object") {
      found.notes.push({
        key: packKey,
        kind: "vanished",
        message: `${packKey} was deleted while checking (a concurrent clean?)`,
      });
      return null;
    }
    if (!(e instanceof TrunkError)) throw e;
    found.problems.push({
      key: packKey,
      kind: "corrupt-segment",
      message: e.message,
      fix: "restore this key from a mirror or backup",
    });
    return null;
  }
  return await verifyPack(store, scratch, id, tmp, format, found.problems);
}

/** Reachability: every object a live ref reaches is in a segment or is a large blob. */
async function checkReachability(
  store: Store,
  meta: TrunkMeta,
  refLog: RefLog,
  segments: Segments,
  found: Findings,
): Promise<Reach> {
  const { scratch } = segments;
  const lost = lostSegmentKeysOf(refLog, segments);
  const presentTips = await checkTips(scratch, refLog.live, lost, found);
  const reachable = await walkRefs(
    scratch,
    refLog.live.filter((l) => presentTips.has(l.entry.new)),
    lost,
    found.problems,
  );
  found.stats.reachableObjects = reachable.present.size + reachable.missing.size;
  const [manifestList, chunkList] = await Promise.all([
    store.list(BLOBS_PREFIX),
    store.list(CHUNKS_PREFIX),
  ]);
  const manifests = new Map(manifestList.map((e) => [e.key.slice(BLOBS_PREFIX.length), e]));
  const chunks = new Map(chunkList.map((e) => [e.key.slice(CHUNKS_PREFIX.length), e]));
  found.stats.chunks = chunks.size;
  const unstored: string[] = [];
  const referencedChunks = new Set<string>();
  await mapLimit([...reachable.missing], store.capabilities.parallelism, async (oid) => {
    if (!manifests.has(oid)) {
      unstored.push(oid);
      return;
    }
    found.stats.largeBlobs++;
    const m = await verifyLargeBlob(store, oid, meta.objectFormat, chunks, found.problems);
    for (const c of m?.chunks ?? []) referencedChunks.add(c.sha256);
  });
  if (unstored.length) await attributeMissing(scratch, refLog.live, unstored, lost, found.problems);
  return { reachable, manifests, chunks, referencedChunks };
}

/** Per ref, the segment keys its entries name that are gone (lost_segments.ts). */
function lostSegmentKeysOf(refLog: RefLog, segments: Segments): Map<string, string[]> {
  return lostSegmentKeys(refLog.entries.map((l) => l.entry), segments.listing, segments.replaces);
}

/** How a damaged ref is repaired, and the keys it is missing (docs/check.md "Repair"). */
function damagedRefFix(ref: string, oid: string): string {
  return `run trunks check --repair in a clone that has ${oid.slice(0, 12)} (uploads the ` +
    `missing objects again), or trunks check --repair --roll-back (a new ref entry moves ` +
    `${ref} back to its last complete value; nothing is deleted); or push ${ref} again, ` +
    `or delete it (git push <remote> :${ref})`;
}

function missingKeysNote(ref: string, lost: Map<string, string[]>): string {
  const keys = lost.get(ref) ?? [];
  if (keys.length === 0) return "";
  return `; its entries name ${keys.join(", ")}, which ${keys.length === 1 ? "is" : "are"} ` +
    `missing`;
}

/** Every live ref's tip is in a segment, else the ref is dangling. Returns the tips present. */
async function checkTips(
  scratch: string,
  live: ListedEntry[],
  lost: Map<string, string[]>,
  found: Findings,
): Promise<Set<string>> {
  const tips = new Map<string, ListedEntry[]>();
  for (const l of live) {
    const list = tips.get(l.entry.new) ?? [];
    list.push(l);
    tips.set(l.entry.new, list);
  }
  const presentTips = await presentIn(scratch, tips.keys());
  for (const [oid, ls] of tips) {
    if (presentTips.has(oid)) continue;
    for (const l of ls) {
      found.problems.push({
        key: l.key,
        kind: "dangling-ref",
        ref: l.entry.ref,
        message: `${l.entry.ref} points at ${oid}, which no segment holds` +
          missingKeysNote(l.entry.ref, lost),
        fix: damagedRefFix(l.entry.ref, oid),
      });
    }
  }
  return presentTips;
}

/** Garbage (not a problem): what --clean removes once it is older than the grace period. */
async function noteGarbage(store: Store, reach: Reach, found: Findings): Promise<void> {
  const { reachable, manifests, chunks } = reach;
  const referencedChunks = new Set(reach.referencedChunks);
  for (const [oid, e] of manifests) {
    if (!reachable.missing.has(oid)) {
      found.notes.push({
        key: e.key,
        kind: "unreferenced-manifest",
        message: `${e.key} is a large blob no ref reaches`,
      });
    }
  }
  const unreachableManifests = [...manifests.keys()].filter((o) => !reachable.missing.has(o));
  await mapLimit(unreachableManifests, store.capabilities.parallelism, async (oid) => {
    try {
      const raw = await readManifestBytes(store, oid);
      if (!raw) return;
      for (const c of decodeBlobManifest(raw, blobKey(oid)).chunks) referencedChunks.add(c.sha256);
    } catch {
      // unreferenced and unreadable: garbage either way
    }
  });
  for (const [sha, e] of chunks) {
    if (!referencedChunks.has(sha)) {
      found.notes.push({
        key: e.key,
        kind: "unreferenced-chunk",
        message: `${e.key} belongs to no large-blob manifest`,
      });
    }
  }
}

/**
 * `git index-pack` a downloaded pack into the scratch repository and compare the stored
 * index with git's. Returns the pack's objects, or null when git rejects the pack.
 */
async function verifyPack(
  store: Store,
  scratch: string,
  id: string,
  tmp: string,
  format: ObjectFormat,
  problems: Problem[],
): Promise<string[] | null> {
  const packKey = segmentPackKey(id);
  let idxPath: string;
  try {
    idxPath = await indexPackInto(scratch, tmp);
  } catch (e) {
    if (!(e instanceof GitError)) throw e;
    problems.push({
      key: packKey,
      kind: "corrupt-segment",
      message: `${packKey} matches its SHA-256 but ${e.message}`,
      fix: "the pack was stored damaged by its writer; restore it from a mirror or backup",
    });
    return null;
  }
  const ours = new PackIndex(await Deno.readFile(idxPath), format, idxPath);
  const idxKey = segmentIdxKey(id);
  const fix = "delete this key and upload the index git builds for the pack " +
    "(git index-pack) in its place";
  const raw = await getBytes(store, idxKey);
  if (!raw) return ours.oids();
  try {
    const stored = new PackIndex(raw, format, idxKey);
    const [want, got] = [ours.oids(), stored.oids()];
    if (
      got.length !== want.length || got.some((o, i) => o !== want[i]) ||
      stored.packChecksum !== ours.packChecksum
    ) {
      problems.push({
        key: idxKey,
        kind: "corrupt-index",
        message: `${idxKey} does not list the objects of ${packKey}`,
        fix,
      });
    }
  } catch (e) {
    if (!(e instanceof PackFormatError)) throw e;
    problems.push({ key: idxKey, kind: "corrupt-index", message: e.message, fix });
  }
  return ours.oids();
}

/**
 * Everything the live refs reach. git's walk stops at a missing commit or tree (only
 * missing blobs are tolerated), so when the walk over all tips fails, each ref is walked
 * alone and every broken one is named.
 */
async function walkRefs(
  scratch: string,
  live: ListedEntry[],
  lost: Map<string, string[]>,
  problems: Problem[],
): Promise<Reachable> {
  try {
    return await reachableObjects(scratch, live.map((l) => l.entry.new));
  } catch (e) {
    if (!(e instanceof GitError)) throw e;
  }
  const all: Reachable = { present: new Map(), missing: new Set() };
  for (const l of live) {
    try {
      const r = await reachableObjects(scratch, [l.entry.new]);
      for (const [o, p] of r.present) all.present.set(o, p);
      for (const o of r.missing) all.missing.add(o);
    } catch (e) {
      if (!(e instanceof GitError)) throw e;
      const oid = /([0-9a-f]{40,64})/.exec(e.stderr)?.[1] ?? "an object";
      problems.push({
        key: l.key,
        kind: "missing-object",
        ref: l.entry.ref,
        message: `the history of ${l.entry.ref} is broken: ${oid} is in no segment` +
          missingKeysNote(l.entry.ref, lost),
        fix: damagedRefFix(l.entry.ref, l.entry.new),
      });
    }
  }
  return all;
}

/** Name, for each object no segment holds, a ref that reaches it. */
async function attributeMissing(
  scratch: string,
  live: ListedEntry[],
  unstored: string[],
  lost: Map<string, string[]>,
  problems: Problem[],
): Promise<void> {
  const left = new Set(unstored);
  for (const l of live) {
    if (left.size === 0) break;
    let r: Reachable;
    try {
      r = await reachableObjects(scratch, [l.entry.new]);
    } catch {
      continue; // its tip is missing: reported as a dangling ref
    }
    for (const oid of r.missing) {
      if (!left.delete(oid)) continue;
      problems.push({
        key: l.key,
        kind: "missing-object",
        ref: l.entry.ref,
        message: `object ${oid}, reachable from ${l.entry.ref}, is in no segment and has no ` +
          `large-blob manifest ${blobKey(oid)}` + missingKeysNote(l.entry.ref, lost),
        fix: damagedRefFix(l.entry.ref, l.entry.new),
      });
    }
  }
}

/** A large blob: manifest parses, every chunk exists and hashes right, and they add up. */
async function verifyLargeBlob(
  store: Store,
  oid: string,
  objectFormat: "sha1" | "sha256",
  chunks: Map<string, ListEntry>,
  problems: Problem[],
): Promise<BlobManifest | null> {
  const key = blobKey(oid);
  let m: BlobManifest;
  try {
    const raw = await readManifestBytes(store, oid);
    if (!raw) return null;
    m = decodeBlobManifest(raw, key);
    if (m.oid !== oid) {
      throw new TrunkError(`${key} describes ${m.oid}, not ${oid}`, "corrupt");
    }
  } catch (e) {
    if (!(e instanceof TrunkError)) throw e;
    problems.push({
      key,
      kind: "bad-manifest",
      message: e.message,
      fix: "restore it from a mirror or backup, or push the file again from a clone that has it",
    });
    return null;
  }
  const blobHash = createHash(objectFormat).update(`blob ${m.size}\0`);
  let ok = true;
  for (const c of m.chunks) {
    const ck = chunkKey(c.sha256);
    const stream = chunks.has(c.sha256) ? await store.get(ck).catch(missingAsNull) : null;
    if (!stream) {
      problems.push({
        key: ck,
        kind: "missing-chunk",
        message: `${ck} is missing; ${key} needs it`,
        fix: "restore it from a mirror or backup, or push the file again from a clone that has it",
      });
      return m;
    }
    // Raw chunks are c.size bytes, compressed ones shorter: read no further than that.
    const stored = await readAtMost(stream, c.size);
    let plain: Uint8Array | null = null;
    try {
      if (stored) plain = decodeChunk(stored, c.size, ck);
    } catch (e) {
      if (!(e instanceof TrunkError)) throw e;
    }
    if (!plain || createHash("sha256").update(plain).digest("hex") !== c.sha256) {
      problems.push({
        key: ck,
        kind: "corrupt-chunk",
        message:
          `${ck} does not hash to its name (or does not hold ${c.size} bytes); ${key} needs it`,
        fix: "restore it from a mirror or backup, or push the file again from a clone that has it",
      });
      ok = false;
    } else blobHash.update(plain);
  }
  if (ok) {
    const got = blobHash.digest("hex");
    if (got !== oid) {
      problems.push({
        key,
        kind: "blob-mismatch",
        message: `the chunks of ${key} reassemble to ${got}, not ${oid}`,
        fix: "restore it from a mirror or backup, or push the file again from a clone that has it",
      });
    }
  }
  return m;
}

/** The whole stream, or null (after cancelling it) once it runs past `max` bytes. */
async function readAtMost(
  stream: ReadableStream<Uint8Array>,
  max: number,
): Promise<Uint8Array | null> {
  const buf = new Uint8Array(max);
  let at = 0;
  for await (const part of stream) {
    if (at + part.byteLength > max) return null;
    buf.set(part, at);
    at += part.byteLength;
  }
  return buf.subarray(0, at);
}

function missingAsNull(e: unknown): null {
  if (e instanceof StoreError) return null;
  throw e;
}
