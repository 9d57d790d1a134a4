/**
 * `trunks check --clean`: compaction and garbage collection that never breaks a
 * concurrent pusher or reader.
 *
 * 1. The retained objects (ages measured from when the refs were listed): everything
 *    reachable from the live refs and from every ref value written within the grace
 *    period (old and new of recent entries: a push or fetch that listed refs up to a
 *    grace period ago relies on exactly those), plus every object of every segment
 *    younger than the grace period (a push that uploaded its segment but has not moved
 *    its ref yet).
 * 2. Those objects become one new segment, built by `git pack-objects` in the scratch
 *    repository the check filled. Its sidecar `segments/<id>.replaces` (every segment
 *    listed) is written before the segment, so whoever sees the new segment can tell it
 *    holds nothing new for a client that has the old ones.
 * 3. Segments replaced more than the grace period ago (by this clean's compaction or an
 *    earlier one, measured from its sidecar) are deleted (index first, so a listing never
 *    shows half a segment); the rest wait for a later clean: a reader that listed just
 *    before a compaction may still download what it replaced. Manifests
 *    no retained object needs, chunks no remaining manifest lists, and interrupted
 *    uploads go by the same rule, except what a push in flight claimed for reuse
 *    (reuse_guard.ts).
 *
 * Deletion ages are measured against the store's clock where it can be read (the
 * modified time of the sidecar just written), and never past the local clock. The
 * grace period must exceed the slowest push and any clock skew.
 */
import { packObjectList, presentIn, reachableObjects } from "../git/compact.ts";
import type { ListEntry, Store } from "../storage/store.ts";
import { decodeBlobManifest } from "./blob_manifest.ts";
import type { Inventory } from "./check.ts";
import { faultPoint } from "./faults.ts";
import {
  blobKey,
  chunkKey,
  parseSegmentKey,
  segmentIdxKey,
  segmentPackKey,
  segmentReplacesKey,
} from "./layout.ts";
import { mapLimit } from "./pool.ts";
import { refuseShortGrace } from "./lease.ts";
import { storeLag } from "../storage/probe.ts";
import { isDeleted } from "./refs.ts";
import { readManifestBytes } from "./chunks.ts";
import {
  deleteReplaced,
  encodeReplaces,
  listedTimes,
  replacedLongAgo,
  replacedSegments,
  replacedTimes,
  segmentKeysNow,
  vouchedLists,
} from "./replaces.ts";
import { beginCleaning, type CleanClaim } from "./reuse_guard.ts";
import { sha256File, storeCompacted } from "./segments.ts";

export const DEFAULT_GRACE_MS = 24 * 60 * 60 * 1000;

export interface CleanOptions {
  graceMs: number;
  /** Where the compacted pack is built (removed by the caller). */
  workDir: string;
  log?: (line: string) => void;
}

export interface CleanReport {
  graceSeconds: number;
  /** The new segment, or null when there was nothing to compact. */
  compacted: { id: string; replaces: number; objects: number; bytes: number } | null;
  deleted: {
    segments: string[];
    manifests: number;
    chunks: number;
    strays: number;
    tempFiles: number;
  };
  /** Replaced segments and garbage kept because they are younger than the grace period. */
  waiting: { segments: number; manifests: number; chunks: number; strays: number };
}

export async function cleanTrunk(
  store: Store,
  inv: Inventory,
  opts: CleanOptions,
): Promise<CleanReport> {
  const log = opts.log ?? (() => {});
  const grace = Math.max(0, opts.graceMs);
  // Only what was superseded or replaced more than two leases ago may go.
  refuseShortGrace(grace, inv.meta);
  const report: CleanReport = {
    graceSeconds: grace / 1000,
    compacted: null,
    deleted: { segments: [], manifests: 0, chunks: 0, strays: 0, tempFiles: 0 },
    waiting: { segments: 0, manifests: 0, chunks: 0, strays: 0 },
  };
  // Measured from when the refs were listed, not from now: a push that uploaded its
  // segment just before that listing and moved its ref just after is within the grace
  // period of the listing, however long the check took since.
  // Listed times are the store's clock: one behind ours by more than the grace made a push
  // in flight's segment look old, its objects left out of the compaction that replaces it,
  // and clones of the ref it then moved missed them.
  const behind = await storeLag(store);
  const retained = await retainedObjects(inv, inv.listedAt - behind - grace);
  const compaction = await compact(store, inv, retained.keep, opts.workDir, log);
  report.compacted = compaction.compacted;
  // Listed times are the store's clock: one behind ours makes all it stamped look older
  // (a push's half-uploaded segment taken for an interrupted one, and deleted). A
  // compaction read that clock from its sidecar; without one, the probe above tells it.
  const serverNow = Number.isFinite(compaction.serverNow)
    ? compaction.serverNow
    : Date.now() - behind;
  const cutoff = Math.min(Date.now(), serverNow) - grace;
  await deleteReplacedSegments(store, inv, compaction, retained.keep, cutoff, report);
  // Garbage found by its age alone is judged as of the check's listing, not as of now:
  // what was young when listed (half of an upload, a pack whose index was still on its
  // way; a chunk whose manifest was) may belong to a push acknowledged since, however long
  // the check and compaction took. (A replaced segment's age is its replacement's.)
  const listedCutoff = cutoff - Math.max(0, Date.now() - inv.listedAt);
  await deleteStrays(store, inv, listedCutoff, report);
  await collectLargeBlobs(store, inv, retained.missing, listedCutoff, log, report);
  report.deleted.tempFiles = await sweepTempFiles(store, cutoff);
  return report;
}

/**
 * 1. What must survive: everything the live refs and the ref values written since
 * `retainCutoff` reach, and every object of a segment younger than that. `missing` are
 * the reachable objects no segment holds (large blobs).
 */
async function retainedObjects(
  inv: Inventory,
  retainCutoff: number,
): Promise<{ keep: Map<string, string>; missing: Set<string> }> {
  const tips = new Set<string>();
  for (const l of inv.latest.values()) {
    if (!isDeleted(l.entry) && !l.entry.symref) tips.add(l.entry.new);
  }
  for (const l of inv.entries) {
    if (l.modified.getTime() < retainCutoff) continue;
    for (const o of [l.entry.old, l.entry.new]) if (!/^0+$/.test(o)) tips.add(o);
  }
  const reach = await reachableObjects(inv.scratch, [...await presentIn(inv.scratch, tips)]);
  const keep = new Map(reach.present);
  for (const s of inv.listing.complete) {
    if (s.modified.getTime() < retainCutoff) continue;
    for (const o of inv.segmentObjects.get(s.id) ?? []) if (!keep.has(o)) keep.set(o, "");
  }
  return { keep, missing: reach.missing };
}

interface Compaction {
  compacted: CleanReport["compacted"];
  /** The new segment's id (null when nothing was compacted). */
  newId: string | null;
  /** Segments whose objects the kept set now covers: deletable once old enough. */
  covered: Set<string>;
  /** When each covered segment was replaced (absent: garbage, not replaced). */
  replacedAt: Map<string, number>;
  /** The store's clock when the sidecar was written (Infinity when unknown). */
  serverNow: number;
}

/**
 * 2. Compact when there are several current segments, or garbage in the only one: the
 * kept objects become one segment, its sidecar written first.
 */
async function compact(
  store: Store,
  inv: Inventory,
  keep: Map<string, string>,
  workDir: string,
  log: (line: string) => void,
): Promise<Compaction> {
  const vouched = vouchedLists(inv.listing, inv.replaces);
  // Only what a verified compacted segment vouches for (a compacted segment equal to one
  // already stored names itself in its sidecar, below: that does not make it replaced).
  const verified = new Map([...vouched].filter(([id]) => inv.segmentObjects.has(id)));
  const replacedBefore = replacedSegments(inv.listing, verified);
  const current = inv.listing.complete.filter((s) => !replacedBefore.has(s.id));
  const hasGarbage = current.some((s) =>
    (inv.segmentObjects.get(s.id) ?? []).some((o) => !keep.has(o))
  );
  const out: Compaction = {
    compacted: null,
    newId: null,
    covered: new Set(replacedBefore),
    replacedAt: replacedTimes(inv.listing, vouched),
    serverNow: Infinity,
  };
  if (keep.size > 0 && (current.length > 1 || hasGarbage)) {
    log(`compacting ${current.length} segments (${keep.size} objects)`);
    const built = await packObjectList(inv.scratch, keep, workDir);
    const newId = await sha256File(built.packPath);
    // The result can equal a segment already stored (a push that wrote exactly these
    // objects). Its sidecar then names itself too, so "has every replaced segment"
    // still implies "has this one", and the push guard still sees that a clean ran.
    const exists = inv.listing.complete.some((s) => s.id === newId);
    const before = inv.replaces.get(newId);
    const replaces = [...new Set([...inv.listing.complete.map((s) => s.id), ...(before ?? [])])];
    const sidecar = segmentReplacesKey(newId);
    // Sidecars of replaced compacted segments go with them: carry what they said.
    const nested = new Map([...inv.replaces].filter(([id]) => id !== newId));
    const times = new Map([...(before?.listed ?? []), ...listedTimes(inv.listing)]);
    await storeCompacted(
      store,
      newId,
      built,
      encodeReplaces(replaces, nested, times),
      !exists ? "no" : replacedBefore.has(newId) ? "replaced" : "current",
      { afterSidecar: "gc:after-sidecar", afterSegment: "gc:after-segment" },
    );
    const stamp = (await store.list(sidecar)).find((e) => e.key === sidecar)?.modified;
    if (stamp) out.serverNow = stamp.getTime();
    out.newId = newId;
    out.compacted = {
      id: newId,
      replaces: replaces.filter((id) => id !== newId).length,
      objects: built.objects,
      bytes: (await Deno.stat(built.packPath)).size,
    };
    // Replaced now: a reader that listed just before may still download these.
    const now = Math.min(Date.now(), out.serverNow);
    for (const id of replaces) {
      out.covered.add(id);
      if (!out.replacedAt.has(id)) out.replacedAt.set(id, now);
    }
  } else if (keep.size === 0) {
    // No ref reaches anything and nothing is in flight: every segment is garbage.
    for (const s of inv.listing.complete) out.covered.add(s.id);
  }
  return out;
}

/** 3. Segments replaced before `cutoff`, index first; the rest wait. */
async function deleteReplacedSegments(
  store: Store,
  inv: Inventory,
  compaction: Compaction,
  keep: Map<string, string>,
  cutoff: number,
  report: CleanReport,
): Promise<void> {
  const doomed = inv.listing.complete.filter((s) =>
    compaction.covered.has(s.id) && s.id !== compaction.newId
  );
  // Replaced segments go two leases (the grace) after their replacement, not after their
  // own upload; garbage no compaction replaced goes by its own age.
  const old = doomed.filter((s) => {
    const at = compaction.replacedAt.get(s.id);
    return at === undefined ? s.modified.getTime() < cutoff : replacedLongAgo(s, at, cutoff);
  });
  // "Replaced" is a sidecar's word, and a sidecar can lie (damage, a faulty writer): a
  // segment holding an object the refs still need goes only when a segment that stays
  // holds it too (this clean's compaction holds every such object).
  const going = new Set(old.map((s) => s.id));
  const held = new Set<string>();
  if (compaction.newId === null) {
    for (const s of inv.listing.complete) {
      if (!going.has(s.id)) { for (const o of inv.segmentObjects.get(s.id) ?? []) held.add(o); }
    }
  }
  const deleteNow = compaction.newId !== null
    ? old
    : old.filter((s) =>
      !(inv.segmentObjects.get(s.id) ?? []).some((o) => keep.has(o) && !held.has(o))
    );
  report.waiting.segments = doomed.length - deleteNow.length;
  let first = true;
  await mapLimit(deleteNow, store.capabilities.parallelism, async (s) => {
    // Stored again since the check listed it (a push of the same pack): no longer replaced.
    if (!(await deleteReplaced(store, s, inv.listing))) return void report.waiting.segments++;
    report.deleted.segments.push(s.id);
    if (first) first = false, faultPoint("gc:between-deletes");
  });
}

/** Interrupted uploads older than `cutoff`. */
async function deleteStrays(
  store: Store,
  inv: Inventory,
  cutoff: number,
  report: CleanReport,
): Promise<void> {
  for (const e of inv.listing.strays) {
    if (e.modified.getTime() >= cutoff || !(await stillStray(store, e))) {
      report.waiting.strays++;
      continue;
    }
    await store.delete(e.key);
    report.deleted.strays++;
  }
}

/**
 * A segment's half, listed alone, is still alone and unchanged: a push whose upload was
 * interrupted and which is now run again uploads the same segment (its id is its pack's
 * hash) under the same keys, and completes it.
 */
async function stillStray(store: Store, listed: ListEntry): Promise<boolean> {
  const id = parseSegmentKey(listed.key)?.id;
  if (!id) return true;
  const now = await segmentKeysNow(store, id);
  if (now.get(listed.key) !== listed.modified.getTime()) return false;
  return !(now.has(segmentPackKey(id)) && now.has(segmentIdxKey(id)));
}

/**
 * Large blobs: manifests no retained object is, then chunks no remaining manifest lists,
 * both only when older than `cutoff` and not claimed by a push in flight
 * (reuse_guard.ts). `retainedMissing` are the retained large blobs.
 */
async function collectLargeBlobs(
  store: Store,
  inv: Inventory,
  retainedMissing: Set<string>,
  cutoff: number,
  log: (line: string) => void,
  report: CleanReport,
): Promise<void> {
  if (inv.manifests.size === 0 && inv.chunks.size === 0) return;
  const old = (d: Date) => d.getTime() < cutoff;
  const claim = await beginCleaning(store, old);
  let deletedAny = false;
  try {
    deletedAny = await deleteUnclaimed(store, inv, retainedMissing, old, claim, log, report);
  } finally {
    await claim.finish(deletedAny);
  }
}

/** Returns whether anything was deleted. */
async function deleteUnclaimed(
  store: Store,
  inv: Inventory,
  retainedMissing: Set<string>,
  old: (d: Date) => boolean,
  claim: CleanClaim,
  log: (line: string) => void,
  report: CleanReport,
): Promise<boolean> {
  let deletedAny = false;
  const keptManifests: string[] = [];
  for (const [oid, e] of inv.manifests) {
    if (retainedMissing.has(oid) || claim.touched.manifests.has(oid)) keptManifests.push(oid);
    else if (!old(e.modified) || !claim.inTime()) {
      keptManifests.push(oid), report.waiting.manifests++;
    } else {
      await store.delete(e.key);
      report.deleted.manifests++;
      deletedAny = true;
    }
  }
  const referenced = new Set<string>(claim.touched.chunks);
  let unreadable = false;
  await mapLimit(keptManifests, store.capabilities.parallelism, async (oid) => {
    try {
      const raw = await readManifestBytes(store, oid);
      if (raw) {
        for (const c of decodeBlobManifest(raw, blobKey(oid)).chunks) referenced.add(c.sha256);
      }
    } catch {
      unreadable = true;
    }
  });
  if (unreadable) {
    log("a large-blob manifest is unreadable: keeping every chunk this time");
    return deletedAny;
  }
  for (const [sha, e] of inv.chunks) {
    if (referenced.has(sha)) continue;
    if (!old(e.modified) || !claim.inTime()) {
      report.waiting.chunks++;
      continue;
    }
    await store.delete(chunkKey(sha));
    report.deleted.chunks++;
    deletedAny = true;
  }
  return deletedAny;
}

/**
 * Backends that write through temp files or parts expose what a crashed writer left:
 * local disk lists its temp files; Postgres (orphan parts) and SFTP (temp uploads)
 * sweep their own, given an age below which an upload may still be in progress.
 */
interface TempLister {
  listTemp(): Promise<{ path: string; modified: Date }[]>;
}
interface StaleSweeper {
  sweepStale(olderThanMs: number): Promise<number>;
}

export async function sweepTempFiles(store: Store, cutoff: number): Promise<number> {
  let s: unknown = store;
  const own = (o: unknown) =>
    !!o && typeof o === "object" && ("listTemp" in o || "sweepStale" in o);
  while (s && typeof s === "object" && !own(s) && "inner" in s) {
    s = (s as { inner: unknown }).inner;
  }
  if (!own(s)) return 0;
  if ("sweepStale" in (s as object)) {
    return await (s as StaleSweeper).sweepStale(Math.max(0, Date.now() - cutoff));
  }
  let n = 0;
  for (const t of await (s as TempLister).listTemp()) {
    if (t.modified.getTime() >= cutoff) continue;
    await Deno.remove(t.path).then(() => n++, () => {});
  }
  return n;
}
