/**
 * Ref log pruning (DESIGN.md "Metadata that stays small"): an entry superseded by one
 * written more than two leases ago is archived to `reflog/` and deleted, so the listing
 * of `refs/` follows the number of refs, not the number of pushes.
 *
 * Why it is safe: a push creates its entry within a lease of reading the state it builds
 * on, so no push in flight can still be building on an entry whose successor is two
 * leases old, and the successor (kept) still makes its create fail. The latest entry of
 * a ref is never pruned, so a ref's highest seq never goes back.
 *
 * Order: archive first, then delete each ref's entries oldest first, so a kill leaves the
 * live log a contiguous tail of every ref (and at worst archives entries twice).
 */
import type { ListEntry, Store } from "../storage/store.ts";
import { storeLag } from "../storage/probe.ts";
import { type TrunkCache, vouchedEntries } from "./cache.ts";
import { faultPoint } from "./faults.ts";
import { TrunkError } from "./errors.ts";
import {
  parseReflogKey,
  type RefLayout,
  refLayout,
  REFLOG_PREFIX,
  reflogKey,
  REFS_PREFIX,
  type TrunkKeys,
} from "./layout.ts";
import { mapLimit } from "./pool.ts";
import { parseEntry, readEntryBytes } from "./refs.ts";
import {
  appendArchive,
  ARCHIVE_ENVELOPE_BYTES,
  ARCHIVE_MAX_BYTES,
  archivedBytes,
} from "./reflog.ts";

export interface PruneOptions {
  /** At most this many entries per run: each run is short and bounded. */
  max?: number;
  /** Current time in ms (tests). */
  now?: number;
  /** A listing of `refs/` just made (maintenance shares one). */
  listed?: ListEntry[];
  /** At most this many bytes per archive (tests); ARCHIVE_MAX_BYTES, which readers take. */
  maxArchiveBytes?: number;
}

export interface PruneReport {
  /** Entries archived and deleted. */
  pruned: number;
  /** The archive written, or null when nothing was prunable. */
  archive: string | null;
}

/** An entry that may go, and when (listed time, the store's clock) it was superseded. */
interface Doomed {
  key: string;
  supersededAt: number;
}

/**
 * Entries superseded past two leases, per ref oldest first (a prefix of each ref's log).
 * Only a higher seq supersedes: a listing that repeats a key (a server paging with an
 * inclusive marker) must not make a ref's latest entry look superseded by itself.
 */
function prunableEntries(
  listed: ListEntry[],
  layout: RefLayout,
  cutoff: number,
  max: number,
): Doomed[][] {
  const byRef = new Map<string, { seq: number; key: string; modified: number }[]>();
  for (const e of listed) {
    const k = layout.parts(e.key);
    if (!k) continue;
    let list = byRef.get(k.enc);
    if (!list) byRef.set(k.enc, list = []);
    list.push({ seq: k.seq, key: e.key, modified: e.modified.getTime() });
  }
  const out: Doomed[][] = [];
  let budget = max;
  for (const all of byRef.values()) {
    if (budget <= 0) break;
    all.sort((a, b) => a.seq - b.seq);
    const list = all.filter((e, i) => i === 0 || e.seq !== all[i - 1].seq);
    const doomed: Doomed[] = [];
    for (let i = 0; i + 1 < list.length && budget > 0; i++) {
      if (list[i + 1].modified >= cutoff) break;
      doomed.push({ key: list[i].key, supersededAt: list[i + 1].modified });
      budget--;
    }
    if (doomed.length) out.push(doomed);
  }
  return out;
}

/**
 * Archive then delete the entries superseded past two leases. Entries that do not parse
 * are left in place (and named by `trunks check`): nothing unreadable is archived away.
 */
export async function pruneRefLog(
  store: Store,
  cache: TrunkCache,
  trunk: TrunkKeys,
  leaseMs: number,
  opts: PruneOptions = {},
): Promise<PruneReport> {
  const trunkId = trunk.id;
  const layout = refLayout(trunk.format);
  const listed = opts.listed ?? await store.list(REFS_PREFIX);
  const now = opts.now ?? Date.now();
  const max = opts.max ?? 5000;
  let perRef = prunableEntries(listed, layout, now - 2 * leaseMs, max);
  // Judged by the store's clock (`storeLag`: three requests, only when something would go
  // by ours): entries one behind ours makes look prunable were archived, kept (below), and
  // archived again by every step until its clock caught up, the audit trail growing with
  // the square of a burst.
  if (perRef.length) {
    const lag = await storeLag(store);
    if (lag > 0) perRef = prunableEntries(listed, layout, now - lag - 2 * leaseMs, max);
  }
  const keys = perRef.flat().map((d) => d.key);
  if (keys.length === 0) return { pruned: 0, archive: null };
  // A cached copy stands in for the stored entry only while the listing vouches for it: a
  // copy of a key since created again (a trunk restored from an older backup) would be
  // archived in place of the entry deleted next.
  const doomed = new Set(keys);
  const listedOf = new Map(listed.filter((e) => doomed.has(e.key)).map((e) => [e.key, e]));
  const cached = vouchedEntries(cache, trunkId, listedOf).trusted;
  const raw = new Map<string, string>();
  await mapLimit(keys, store.capabilities.parallelism * 2, async (key) => {
    let text: string | undefined;
    try {
      text = cached.get(key) ??
        await readEntryBytes(store, key).then((b) => b ? new TextDecoder().decode(b) : undefined);
      if (text === undefined) return; // pruned meanwhile by another maintenance run
      const e = parseEntry(text, key, layout);
      if (e.trunk === undefined || e.trunk === trunkId) raw.set(key, text);
    } catch (e) {
      // Damaged (too large to read, or no entry): kept for trunks check to name. A store
      // failing the read fails the step.
      if (text === undefined && !(e instanceof TrunkError)) throw e;
    }
  });
  // Each ref's doomed entries stop at its first one that cannot be archived, or that
  // would make the archive larger than readers take (the rest wait for the next run).
  let room = (opts.maxArchiveBytes ?? ARCHIVE_MAX_BYTES) - ARCHIVE_ENVELOPE_BYTES;
  const archivable = perRef.map((list) => {
    const i = list.findIndex((d) => {
      const text = raw.get(d.key);
      if (text === undefined) return true;
      const bytes = archivedBytes(d.key, text);
      if (bytes > room) return true;
      room -= bytes;
      return false;
    });
    return i < 0 ? list : list.slice(0, i);
  }).filter((l) => l.length);
  const archived = new Map(archivable.flat().map((d) => [d.key, raw.get(d.key)!]));
  if (archived.size === 0) return { pruned: 0, archive: null };
  const archive = await appendArchive(store, trunkId, archived);
  faultPoint("maint:after-archive");
  // Listed times are the store's clock, `now` ours: a store whose clock is behind makes
  // entries look older than they are, and a push still within its lease would find its
  // base's successor deleted and create it again, acknowledged and lost. The archive just
  // created was stamped by the store's clock at or before this moment: how far behind it
  // is at least. Entries it puts within two leases stay (archived again next time).
  const behind = await storeBehind(store, archive);
  const cutoff = now - behind - 2 * leaseMs;
  const deletable = archivable.map((list) => {
    const i = list.findIndex((d) => d.supersededAt >= cutoff);
    return (i < 0 ? list : list.slice(0, i)).map((d) => d.key);
  }).filter((l) => l.length);
  let pruned = 0;
  await mapLimit(deletable, store.capabilities.parallelism, async (list) => {
    for (const key of list) {
      await store.delete(key);
      if (pruned++ === 0) faultPoint("maint:mid-prune");
    }
  });
  return { pruned, archive };
}

/**
 * How far (ms, at least 0) the store's clock is behind ours, from `key`'s listed time, a
 * key it just created; Infinity when the listing does not show it (nothing may then be
 * judged by listed times).
 */
async function storeBehind(store: Store, key: string): Promise<number> {
  const seq = parseReflogKey(key)!;
  const e = (await store.list(REFLOG_PREFIX, reflogKey(seq - 1))).find((x) => x.key === key);
  return e ? Math.max(0, Date.now() - e.modified.getTime()) : Infinity;
}
