/**
 * A push that reuses stored chunks and manifests versus a clean deleting them.
 *
 * A push lists `chunks/` and `blobs/` and skips what it finds. A clean deletes what no
 * retained object needs and is older than the grace period. Without a handshake, a
 * chunk unreferenced for longer than the grace could be reused by a push at the moment
 * a clean deletes it, and the acknowledged push would name a missing chunk. Ages alone
 * cannot close this: re-uploading the chunk writes the same key the clean is deleting.
 *
 * The handshake (each side writes, then reads what the other wrote):
 * - the push writes a touch `gc/touch/<uuid>` naming what it reuses, then lists `gc/`:
 *   it waits for every clean still deleting (`gc/cleaning/<uuid>`) to finish and, when a
 *   clean ran or deleted anything since the push listed the store (`gc/cleaned`), lists
 *   again and uploads what went missing;
 * - a clean writes `gc/cleaning/<uuid>` before it lists the touches, spares whatever a
 *   touch younger than the grace period names, stops deleting once its budget is spent
 *   (so a crashed clean blocks nobody for longer), writes `gc/cleaned` after its last
 *   deletion if it deleted anything, and only then removes its marker.
 * On a store where a list sees every write that finished before it (every backend
 * trunks supports), either the clean sees the touch or the push sees the clean. A
 * touch outlives the push (the grace period is at least two leases, DESIGN.md "Lease
 * and grace"): once the push's ref entry exists, the ref keeps what it reused.
 * Pushes that reuse nothing, and cleans of trunks without large blobs, skip all this.
 */
import type { ListEntry, Store } from "../storage/store.ts";
import { blobKey, BLOBS_PREFIX, chunkKey, CHUNKS_PREFIX } from "./layout.ts";
import { TrunkError } from "./errors.ts";
import { elapsedSince, type Moment, moment } from "./lease.ts";
import { getSmall, TOUCH_MAX_BYTES } from "./small_objects.ts";

export const GC_PREFIX = "gc/";
const CLEANING_PREFIX = `${GC_PREFIX}cleaning/`;
const TOUCH_PREFIX = `${GC_PREFIX}touch/`;
const CLEANED_KEY = `${GC_PREFIX}cleaned`;

/** How long a clean may spend deleting large-blob garbage before it stops for this run. */
export const CLEAN_BUDGET_MS = 2 * 60 * 1000;
/** A clean stops this much before its budget, for request latency and clock rates. */
const MARGIN = 0.8;

export interface Reused {
  chunks: Set<string>;
  manifests: Set<string>;
}

export interface GuardOptions {
  /** Told once when the push waits for a clean. */
  onWait?: () => void;
  pollMs?: number;
}

/**
 * Make what a push reused safe from every clean, and return what a clean deleted
 * before the push could claim it (the caller uploads those again). `listedAt`: just before
 * the push listed `chunks/` and `blobs/`; the time since is `elapsedSince` (a wall clock
 * stepped back, or a machine suspended meanwhile, does not shorten it).
 */
export async function claimReused(
  store: Store,
  reused: Reused,
  listedAt: Moment,
  opts: GuardOptions = {},
): Promise<Reused> {
  const none = { chunks: new Set<string>(), manifests: new Set<string>() };
  if (reused.chunks.size === 0 && reused.manifests.size === 0) return none;
  const key = `${TOUCH_PREFIX}${crypto.randomUUID()}`;
  await store.put(
    key,
    new TextEncoder().encode(JSON.stringify({
      v: 1,
      chunks: [...reused.chunks],
      manifests: [...reused.manifests],
    })),
  );
  const listedBefore = elapsedSince(listedAt);
  let waited = false;
  for (;;) {
    const listing = await store.list(GC_PREFIX);
    // The store's clock, read from our own touch: no skew between machines.
    const now = listing.find((e) => e.key === key)?.modified.getTime();
    if (now === undefined) {
      // A store that does not list its own write yet: assume a clean ran.
      break;
    }
    const markers = listing.filter((e) => e.key.startsWith(CLEANING_PREFIX));
    // A clean past its budget deletes nothing more (or has crashed): no need to wait.
    if (markers.some((e) => e.modified.getTime() > now - CLEAN_BUDGET_MS)) {
      if (!waited) opts.onWait?.();
      waited = true;
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 1000));
      continue;
    }
    // When the push listed the store, in the store's clock (a minute of slack).
    const since = now - listedBefore - 60_000;
    const cleaned = listing.find((e) => e.key === CLEANED_KEY);
    const recent = cleaned !== undefined && cleaned.modified.getTime() >= since;
    if (!waited && markers.length === 0 && !recent) return none;
    break;
  }
  // A clean finished meanwhile: whatever it deleted before it could see the touch is
  // gone; every later clean sees the touch and spares it.
  const [chunks, blobs] = await Promise.all([
    store.list(CHUNKS_PREFIX),
    store.list(BLOBS_PREFIX),
  ]);
  const haveChunks = new Set(chunks.map((e) => e.key));
  const haveBlobs = new Set(blobs.map((e) => e.key));
  return {
    chunks: new Set([...reused.chunks].filter((c) => !haveChunks.has(chunkKey(c)))),
    manifests: new Set([...reused.manifests].filter((o) => !haveBlobs.has(blobKey(o)))),
  };
}

/** The clean's side: its marker, what pushes claimed, its deadline, its end. */
export interface CleanClaim {
  touched: Reused;
  /** False once the budget is spent: delete nothing more this run. */
  inTime(): boolean;
  /** Record that something was deleted (if so) and remove the marker. */
  finish(deletedAny: boolean): Promise<void>;
}

/**
 * Start deleting large-blob garbage: write the marker, then read the touches. Touches
 * older than the grace period (`old`) are deleted, as are markers of crashed cleans.
 */
export async function beginCleaning(
  store: Store,
  old: (d: Date) => boolean,
): Promise<CleanClaim> {
  const marker = `${CLEANING_PREFIX}${crypto.randomUUID()}`;
  await store.put(marker, new TextEncoder().encode("{}"));
  const started = Date.now();
  // The budget by `elapsedSince`: a wall clock stepped back (or, on the monotonic clock, a
  // machine suspended) kept a clean deleting past it, after pushes had taken its marker for
  // a crashed clean's and stopped waiting.
  const startedAt = moment();
  const listing = await store.list(GC_PREFIX);
  const touched: Reused = { chunks: new Set(), manifests: new Set() };
  const stale: ListEntry[] = [];
  const markedAt = listing.find((e) => e.key === marker)?.modified.getTime() ?? started;
  for (const e of listing) {
    if (e.key.startsWith(CLEANING_PREFIX)) {
      if (e.key !== marker && e.modified.getTime() < markedAt - 2 * CLEAN_BUDGET_MS) stale.push(e);
      continue;
    }
    if (!e.key.startsWith(TOUCH_PREFIX)) continue;
    if (old(e.modified)) {
      stale.push(e);
      continue;
    }
    const t = await readTouch(store, e.key);
    // An unreadable touch: spare everything this run rather than guess.
    if (!t) return spareAll(store, marker);
    for (const c of t.chunks) touched.chunks.add(c);
    for (const o of t.manifests) touched.manifests.add(o);
  }
  for (const e of stale) await store.delete(e.key);
  return {
    touched,
    inTime: () => elapsedSince(startedAt) < CLEAN_BUDGET_MS * MARGIN,
    finish: async (deletedAny) => {
      if (deletedAny) await store.put(CLEANED_KEY, new TextEncoder().encode("{}"));
      await store.delete(marker);
    },
  };
}

function spareAll(store: Store, marker: string): CleanClaim {
  return {
    touched: { chunks: new Set(), manifests: new Set() },
    inTime: () => false,
    finish: () => store.delete(marker),
  };
}

async function readTouch(store: Store, key: string): Promise<Reused | null> {
  let raw: Uint8Array | null;
  try {
    raw = await getSmall(store, key, TOUCH_MAX_BYTES, "touch");
  } catch (e) {
    if (e instanceof TrunkError) return null; // too large: unreadable, everything is spared
    throw e;
  }
  if (!raw) return { chunks: new Set(), manifests: new Set() }; // deleted meanwhile
  try {
    const o = JSON.parse(new TextDecoder().decode(raw));
    const hex = (x: unknown) => typeof x === "string" && /^[0-9a-f]{40,64}$/.test(x);
    if (!Array.isArray(o?.chunks) || !Array.isArray(o?.manifests)) return null;
    if (!o.chunks.every(hex) || !o.manifests.every(hex)) return null;
    return { chunks: new Set(o.chunks), manifests: new Set(o.manifests) };
  } catch {
    return null;
  }
}
