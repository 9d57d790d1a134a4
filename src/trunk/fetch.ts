/**
 * THE fetch engine: every segment the repository has not ingested is downloaded
 * (verified by SHA-256 as it streams), handed to the repository to verify and install,
 * and only then marked ingested; large blobs the segments left out follow as one
 * verified pack. What only the repository can do comes through `FetchSink`.
 */
import { TrunkError } from "./errors.ts";
import { faultPoint } from "./faults.ts";
import { storedBlobs } from "./chunks.ts";
import type { LargeBlobStats } from "./large_blobs.ts";
import { segmentPackKey } from "./layout.ts";
import { type FetchPlan, planFetch } from "./replaces.ts";
import type { EarlyPlanListings } from "./plan_listing.ts";
import { copySegmentPack, readSegmentIndex, type SegmentInfo } from "./segments.ts";
import { type JoinInput, removeInputFiles } from "../pack/join.ts";
import type { Trunk } from "./trunk.ts";
import { failingTransfers, type OnProgress } from "./progress.ts";

/** What the engine knows of a pack it hands to the repository. */
export interface PackHint {
  /**
   * The fetch's only pack, from a trunk that keeps no large blob out of its segments:
   * every object it names should be in it or in the repository already, so the
   * repository may check its links as it indexes it (what `git clone` does).
   */
  whole: boolean;
}

/** The repository a fetch writes into. */
export interface FetchSink {
  /** A directory for downloads, on the filesystem the repository's packs live on. */
  downloadDir(): Promise<string>;
  /** Verify and install a downloaded pack (the file is consumed, or removed on failure). */
  ingest(path: string, hint?: PackHint): Promise<void>;
  /**
   * `ingest` in two steps, so the work can start before git asks for it: the pack is
   * verified now (its links checked when `hint.whole`) and stays under temporary names
   * git never reads; installed or removed later. `signal` stops it (files removed). A
   * repository that cannot leaves this out: then nothing is fetched before git asks.
   * `underway` is called once the verification runs in another process (index-pack
   * started), when this process is free for other work.
   */
  stage?(
    path: string,
    hint: PackHint,
    signal: AbortSignal,
    underway?: () => void,
  ): Promise<StagedPack>;
  /**
   * Join several downloaded packs into one and install it (files consumed either way);
   * `idx` is each pack's stored index, so an object in two packs is kept once. A
   * repository that cannot join leaves this out and gets one pack per segment.
   */
  ingestAll?(
    inputs: Downloaded[],
    format: "sha1" | "sha256",
    hint?: PackHint,
  ): Promise<void>;
  /**
   * `ingestAll` in two steps, as `stage` is `ingest`'s: the packs joined into one that is
   * verified and indexed now, under temporary names git never reads (the input files are
   * consumed either way). Left out by a repository that cannot: then a prefetch of several
   * segments stages nothing.
   */
  stageAll?(
    inputs: Downloaded[],
    format: "sha1" | "sha256",
    hint: PackHint,
    signal: AbortSignal,
    underway?: () => void,
  ): Promise<StagedPack>;
  /** Which of `oids` the repository holds. */
  has(oids: string[]): Promise<Set<string>>;
  /** Objects reachable from `oids` that the repository still lacks. */
  missing(oids: string[]): Promise<string[]>;
  /**
   * A commit in the history of `oids` that the repository lacks, or null when that history
   * is whole. A sink that cannot tell leaves this out (then the repository's own check,
   * git's connectivity check, has the last word).
   */
  lackingCommit?(oids: string[]): Promise<string | null>;
}

/** A pack verified and indexed by the repository, not yet installed (`FetchSink.stage`). */
export interface StagedPack {
  /** What `ingest` would have done last: install it, as `hint` says. */
  install(hint?: PackHint): Promise<void>;
  /**
   * Staged as `whole`, its links name objects outside it: what its segments left out (a
   * large blob) was not in the lists the hint came from.
   */
  namesOutside?: boolean;
  /** Remove its files. */
  discard(): Promise<void>;
}

/** What git asked for: an object and the ref that names it. */
export interface Want {
  oid: string;
  ref: string;
}

export interface FetchReport {
  segments: number;
  bytes: number;
  largeBlobs: LargeBlobStats | null;
}

const RELISTS = 3;
const STALE_MS = 60 * 60 * 1000;

export async function fetch(
  trunk: Trunk,
  sink: FetchSink,
  wants: Want[],
  opts: { onProgress?: OnProgress; prefetched?: Prefetch } = {},
): Promise<FetchReport> {
  const early = await opts.prefetched?.take() ?? null;
  // Listed beside the segments, not after them: whether the segments' packs are whole
  // is known before they are installed, and the listing costs no round trip of its own.
  const listedBlobs = early?.blobs ?? storedBlobs(trunk.store);
  listedBlobs.catch(() => {}); // awaited below; not an unhandled rejection meanwhile
  const got = await fetchSegments(
    trunk,
    sink,
    opts.onProgress,
    // Unknown is not whole; the listing's own failure surfaces below.
    listedBlobs.then((b) => b.size === 0, () => false),
    early,
  );
  let [held, blobs] = await Promise.all([sink.has(wants.map((w) => w.oid)), listedBlobs]);
  if (early?.listedEarly && wants.some((w) => !held.has(w.oid))) {
    // Its segments were listed beside the refs, not after them: a push that landed between
    // the two listings stored a segment the plan did not see. Listed again, after the refs
    // (and the large blobs with them: the push may have stored one too).
    await fetchSegments(trunk, sink, opts.onProgress);
    [held, blobs] = await Promise.all([
      sink.has(wants.map((w) => w.oid)),
      storedBlobs(trunk.store),
    ]);
  } else if (early?.listedEarly && blobs.size === 0 && early.pack?.namesOutside) {
    // The large blobs too were listed beside the refs: a push that landed between stored a
    // large file's list before its segment, which the segments' listing showed and the
    // blobs' did not (their pages answered first). Listed again, after the refs (as above).
    blobs = await storedBlobs(trunk.store);
  }
  if (blobs.size === 0 && wants.some((w) => !held.has(w.oid))) {
    if (await refetchDistrusted(trunk, sink, opts.onProgress)) {
      held = await sink.has(wants.map((w) => w.oid));
    }
  }
  await requireWholeHistory(trunk, sink, wants.filter((w) => held.has(w.oid)), opts.onProgress);
  const absent = wants.filter((w) => !held.has(w.oid));
  if (blobs.size === 0) {
    // No large blobs: a wanted object no segment held is a damaged trunk, said as such
    // rather than as git's "did not send all necessary objects".
    if (absent.length) {
      throw new TrunkError(noSegmentHolds(trunk, absent[0], absent.length), "missing-object");
    }
    return { ...got, largeBlobs: null };
  }
  const lacking = await sink.missing([...new Set(wants.map((w) => w.oid))]);
  if (lacking.length === 0) return { ...got, largeBlobs: null };
  const dir = await sink.downloadDir();
  const tmp = `${dir}/tmp_trunks_${crypto.randomUUID()}.pack`;
  let large: LargeBlobStats | null;
  try {
    // Loaded only for a fetch of large files: every clone imports this module first.
    const { largeBlobPack } = await import("./large_blobs.ts");
    large = await failingTransfers(
      opts.onProgress,
      (p) => largeBlobPack(trunk, lacking, tmp, p),
    );
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw nameTheRef(e, wants, lacking);
  }
  if (large) await sink.ingest(tmp);
  return { ...got, bytes: got.bytes + (large?.bytes ?? 0), largeBlobs: large };
}

/**
 * Every commit behind the wanted tips is in the repository now. A segment missing from
 * the middle of the history (deleted, or lost with a restore) would otherwise surface as
 * git's "did not send all necessary objects"; this says which segment and what to do,
 * and the fetch fails before git creates or moves any ref.
 */
async function requireWholeHistory(
  trunk: Trunk,
  sink: FetchSink,
  wants: Want[],
  onProgress?: OnProgress,
): Promise<void> {
  if (!sink.lackingCommit || wants.length === 0) return;
  // Once each: a clone of 20,000 branches at one commit wants one object 20,000 times.
  const tips = [...new Set(wants.map((w) => w.oid))];
  let gap = await sink.lackingCommit(tips);
  if (!gap) return;
  // A compaction that ran since the listing may hold it: list and fetch once more.
  await fetchSegments(trunk, sink, onProgress);
  gap = await sink.lackingCommit(tips);
  if (!gap) return;
  if (await refetchDistrusted(trunk, sink, onProgress)) {
    gap = await sink.lackingCommit(tips);
    if (!gap) return;
  }
  // Loaded only to name a damaged trunk's lost segment.
  const lost = await import("./lost_segments.ts")
    .then((m) => m.findLostSegments(trunk.store, trunk.cache, trunk.meta))
    .catch(() => null);
  const named = wants.find((w) => lost?.has(w.ref)) ?? wants[0];
  const keys = lost?.get(named.ref) ?? [];
  const what = keys.length ? keys.join(", ") : "a segment";
  throw new TrunkError(
    `${named.ref} cannot be fetched whole: ${what} (holding commit ${gap.slice(0, 12)} of ` +
      `its history) ${keys.length > 1 ? "are" : "is"} missing from ${trunk.location}; ` +
      `restore ${keys.length > 1 ? "them" : "it"} from a backup or mirror, or run trunks ` +
      `check --repair; no ref was created or moved`,
    "missing-object",
  );
}

/**
 * The repository lacks an object of a segment the cache says it ingested (its pack
 * deleted or pruned since, or put by an older trunks where git does not read it): the
 * cache does not outrank the store, so its marks are dropped and every segment fetched
 * again, once, before the trunk is called damaged. False when nothing was marked.
 */
async function refetchDistrusted(
  trunk: Trunk,
  sink: FetchSink,
  onProgress?: OnProgress,
): Promise<boolean> {
  const marked = [...trunk.ingested()];
  if (marked.length === 0) return false;
  trunk.cache.forgetIngested(trunk.id, marked);
  await fetchSegments(trunk, sink, onProgress);
  return true;
}

function noSegmentHolds(trunk: Trunk, w: Want, n: number): string {
  return `${w.ref} points at ${w.oid}, which no segment of ${trunk.location} holds${
    n > 1 ? ` (${n} refs affected)` : ""
  }; the trunk is damaged, run trunks check`;
}

/** An object no segment holds: say which ref wanted it. */
function nameTheRef(e: unknown, wants: Want[], lacking: string[]): unknown {
  if (!(e instanceof TrunkError) || e.code !== "missing-object") return e;
  const named = wants.find((w) => lacking.includes(w.oid));
  if (!named) return e;
  return new TrunkError(`${named.ref} (${named.oid.slice(0, 12)}): ${e.message}`, e.code);
}

/**
 * Download and install every segment not yet ingested. `noBlobsLeftOut`: the trunk keeps
 * no large blob out of its segments (then a fetch's one pack is whole, see PackHint).
 */
export async function fetchSegments(
  trunk: Trunk,
  sink: FetchSink,
  onProgress?: OnProgress,
  noBlobsLeftOut: Promise<boolean> = Promise.resolve(false),
  early: Prefetched | null = null,
): Promise<{ segments: number; bytes: number }> {
  // A segment listed but gone when downloaded was compacted meanwhile: list again, and
  // the compacted segment that replaced it is fetched instead.
  for (let attempt = 0;; attempt++) {
    try {
      return await failingTransfers(
        onProgress,
        (p) => fetchOnce(trunk, sink, noBlobsLeftOut, p, attempt === 0 ? early : null),
      );
    } catch (e) {
      if (!(e instanceof TrunkError && e.code === "missing-object") || attempt >= RELISTS) throw e;
    }
  }
}

async function fetchOnce(
  trunk: Trunk,
  sink: FetchSink,
  noBlobsLeftOut: Promise<boolean>,
  onProgress?: OnProgress,
  early: Prefetched | null = null,
): Promise<{ segments: number; bytes: number }> {
  const plan = early?.plan ?? await planFetch(trunk.store, trunk.ingested());
  trunk.markIngested(plan.alreadyHave);
  const need = plan.download.map((d) => d.segment);
  if (need.length === 0) return { segments: 0, bytes: 0 };
  // A size the listing left out (a plain segment on local disk, see planFetch) is not
  // guessed: the meter then has no total (0) and shows segments done, and the result is
  // the bytes counted as they came.
  const sized = need.every((s) => Number.isSafeInteger(s.packSize) && s.packSize >= 0);
  const total = sized ? need.reduce((a, s) => a + s.packSize, 0) : 0;
  const moved = () => sized ? total : bytes;
  let done = 0;
  // Counted as the pieces arrive; what a failed download took is taken back.
  let bytes = 0;
  const report = (final = false) =>
    onProgress?.({
      kind: "segment-download",
      bytes,
      total,
      items: done,
      itemsTotal: need.length,
      done: final,
    });
  const flowing = (onProgress || !sized)
    ? (n: number) => {
      bytes += n;
      report();
    }
    : undefined;
  report();
  if (early?.pack) {
    await early.pack.install({ whole: await noBlobsLeftOut });
    faultPoint("fetch:after-ingest");
    trunk.markIngested(plan.download.flatMap((d) => [d.segment.id, ...d.covers]));
    done = need.length;
    bytes = early.bytes;
    report(true);
    return { segments: need.length, bytes: moved() };
  }
  const dir = await sink.downloadDir();
  await sweepStaleDownloads(dir);
  if (sink.ingestAll && plan.download.length > 1) {
    const joined = await fetchJoined(trunk, sink, plan, dir, noBlobsLeftOut, flowing, () => {
      done++;
      report();
    });
    if (joined) {
      report(true);
      return { segments: need.length, bytes: moved() };
    }
    [done, bytes] = [0, 0];
  }
  // Downloads overlap; the repository installs one segment at a time. The first failure
  // stops the rest, and every download not installed is removed: nothing half-written.
  let installing = Promise.resolve();
  const { fail, failure, signal } = firstFailure();
  const pending = new Set<string>();
  const one = async (d: (typeof plan.download)[number]) => {
    const seg = d.segment;
    const tmp = `${dir}/tmp_trunks_${crypto.randomUUID()}.pack`;
    pending.add(tmp);
    await trunk.downloadSegment(seg.id, tmp, flowing, signal, seg.packSize);
    faultPoint("fetch:after-download");
    // One segment is the fetch's whole pack; of several (a join that failed), each
    // may name objects in another not installed yet.
    const whole = plan.download.length === 1 && await noBlobsLeftOut;
    const mine = installing.then(async () => {
      if (failure()) return false;
      await sink.ingest(tmp, { whole });
      return true;
    }).catch((e) => {
      throw unreadable(trunk, seg.id, e);
    });
    installing = mine.then(() => {}, () => {});
    if (!(await mine)) return;
    pending.delete(tmp);
    faultPoint("fetch:after-ingest");
    trunk.markIngested([seg.id, ...d.covers]);
    done++;
    report();
  };
  let next = 0;
  const worker = async () => {
    while (!failure() && next < plan.download.length) {
      await one(plan.download[next++]).catch(fail);
    }
  };
  const workers = downloadWorkers(trunk, plan.download.length, 1);
  await Promise.all(Array.from({ length: workers }, worker));
  const failed = failure();
  if (failed) {
    await Promise.all([...pending].map((p) => Deno.remove(p).catch(() => {})));
    throw failed.e;
  }
  report(true);
  return { segments: need.length, bytes: moved() };
}

/**
 * Every segment downloaded (with its stored index), then installed as ONE pack: a clone
 * after thousands of pushes leaves one pack, not one per segment, and git does not slow
 * down searching them. False when the join or its index-pack failed (an index that does
 * not match its pack): the caller then installs each segment on its own, verified as
 * always. A failed download stops the rest and every download is removed.
 */
async function fetchJoined(
  trunk: Trunk,
  sink: FetchSink,
  plan: FetchPlan,
  dir: string,
  noBlobsLeftOut: Promise<boolean>,
  onBytes: ((n: number) => void) | undefined,
  downloaded: () => void,
): Promise<boolean> {
  const inputs = await downloadWithIndexes(trunk, plan, dir, onBytes, downloaded);
  try {
    await sink.ingestAll!(inputs, trunk.meta.objectFormat, { whole: await noBlobsLeftOut });
  } catch {
    return false;
  } finally {
    await removeInputFiles(inputs);
  }
  faultPoint("fetch:after-ingest");
  trunk.markIngested(plan.download.flatMap((d) => [d.segment.id, ...d.covers]));
  return true;
}

/** A segment downloaded for a join, with its stored index. */
type Downloaded = JoinInput & { idx: Uint8Array };

/**
 * Packs up to this size are downloaded into memory for a join, up to `IN_MEMORY_TOTAL` in
 * all: after a burst of pushes the newest segments are dozens of a few KB each, and a file
 * for each (made, copied, hashed from, joined from, removed) cost a clone after 2,000
 * pushes (48 such segments) ~30 ms of wall and CPU time at load ~9.
 */
const IN_MEMORY_MAX = 256 << 10;
const IN_MEMORY_TOTAL = 16 << 20;

/**
 * Which segments a join downloads into memory, each with the most bytes its read may take
 * before it goes to a file instead. A listed size (untrusted) that is not a size counts as
 * large; a size left out of the listing (NaN: local disk's plain segments, see `planFetch`)
 * may be small: it tries memory up to IN_MEMORY_MAX, which it holds of the total.
 */
export function inMemoryLimits(segments: SegmentInfo[]): Map<string, number> {
  let held = 0;
  const out = new Map<string, number>();
  for (const s of segments) {
    const size = Number.isNaN(s.packSize) ? IN_MEMORY_MAX : s.packSize;
    if (!Number.isSafeInteger(size) || size < 0 || size > IN_MEMORY_MAX) continue;
    if (held + size > IN_MEMORY_TOTAL) continue;
    held += size;
    out.set(s.id, size);
  }
  return out;
}

/**
 * Every segment of `plan` downloaded into `dir`, or into memory when small (each verified
 * by SHA-256), with its stored index, for a join. The first failure stops the rest, and
 * every download is removed.
 */
async function downloadWithIndexes(
  trunk: Trunk,
  plan: FetchPlan,
  dir: string,
  onBytes: ((n: number) => void) | undefined,
  downloaded: () => void = () => {},
): Promise<Downloaded[]> {
  const inputs: Downloaded[] = [];
  const pending = new Set<string>();
  const { fail, failure, signal } = firstFailure();
  let next = 0;
  // Chosen before any download, by the listed sizes, each read stopped past its own
  // limit: what is held stays within IN_MEMORY_TOTAL whatever the store sends and whatever
  // order they finish in.
  const inMemory = inMemoryLimits(plan.download.map((d) => d.segment));
  const download = async (s: SegmentInfo): Promise<string | Uint8Array> => {
    const id = s.id;
    const listed = inMemory.get(id);
    const bytes = listed === undefined
      ? null
      : await trunk.downloadSegmentBytes(id, listed, signal);
    if (bytes) {
      onBytes?.(bytes.byteLength);
      return bytes;
    }
    const pack = `${dir}/tmp_trunks_${crypto.randomUUID()}.pack`;
    pending.add(pack);
    await trunk.downloadSegment(id, pack, onBytes, signal, s.packSize);
    return pack;
  };
  // A failure is known as it happens, not once the segment's other read ends.
  const watched = <T>(p: Promise<T>) =>
    p.catch((e) => {
      fail(e);
      throw e;
    });
  const worker = async () => {
    while (!failure() && next < plan.download.length) {
      const d = plan.download[next++];
      const [pack, idx] = await Promise.allSettled([
        watched(download(d.segment)),
        watched(readSegmentIndex(trunk.store, d.segment.id)),
      ]);
      if (pack.status === "rejected" || idx.status === "rejected") continue;
      inputs.push({ pack: pack.value, idx: idx.value, name: segmentPackKey(d.segment.id) });
      faultPoint("fetch:after-download");
      downloaded();
    }
  };
  const workers = downloadWorkers(trunk, plan.download.length, 2);
  await Promise.all(Array.from({ length: workers }, worker));
  const failed = failure();
  if (failed) {
    await Promise.all([...pending].map((p) => Deno.remove(p).catch(() => {})));
    throw failed.e;
  }
  return inputs;
}

/**
 * What a prefetch left ready: its plan, the lists it made, and the one pack it staged (its
 * segments joined when several; null when there was nothing to stage or the repository
 * cannot stage a join: the fetch then downloads by this plan, made after the refs were
 * listed as its own would be, without listing `segments/` again).
 */
export interface Prefetched {
  plan: FetchPlan;
  blobs: Promise<Set<string>>;
  pack: StagedPack | null;
  /** What the staged pack's segments took to download. */
  bytes: number;
  /** Planned from listings sent beside the refs', not after them (plan_listing.ts). */
  listedEarly: boolean;
}

/**
 * A fetch begun before git asks for it. Git reads a clone's listing of refs before it
 * asks for anything, and a fetch downloads every segment the repository has not
 * ingested whatever git wants: so the segments are downloaded, verified by SHA-256, and
 * verified and indexed by the repository (`stage`, or `stageAll` joining several) meanwhile,
 * its index-pack running beside the listing's work (on a store that copies files itself,
 * local disk, the copy is hashed while index-pack reads it). Nothing is installed: `fetch`
 * installs it once git asks (`take`), as the fetch it saves would have; `discard`
 * stops it and removes its files when git asks for nothing (`git ls-remote`).
 *
 * Listed after the refs, as a fetch lists after git's listing: every segment and large
 * blob those refs need is in its lists (a push stores both before its ref entries). Any
 * failure leaves nothing staged, and the fetch then runs in full, which says why.
 */
export class Prefetch {
  readonly #abort = new AbortController();
  readonly #result: Promise<Prefetched | null>;
  #taken = false;
  /**
   * Resolves (never rejects) once the prefetch needs this process no more for a while:
   * its pack's index-pack started, or it ended; at once on a store that cannot copy
   * files itself (its download waits on the network, not on this thread). A caller with
   * other work for the event loop (the listing's answer, which git reads before it asks
   * for the fetch that waits on index-pack) does it after this: done first, it held
   * index-pack back by its own length (~30 ms at the corpus's 323 refs).
   */
  readonly underway: Promise<void>;

  constructor(trunk: Trunk, sink: FetchSink, listed?: EarlyPlanListings) {
    const signal = this.#abort.signal;
    let underway!: () => void;
    this.underway = new Promise((resolve) => underway = resolve);
    if (!trunk.store.copyToFile) underway();
    this.#result = stageOne(trunk, sink, signal, underway, listed).catch(() => null).finally(
      underway,
    );
  }

  /** What was staged (waiting for it), once; null when nothing was. */
  async take(): Promise<Prefetched | null> {
    if (this.#taken) return null;
    this.#taken = true;
    return await this.#result;
  }

  /** Stop it and remove what it staged, unless taken. */
  async discard(): Promise<void> {
    if (this.#taken) return;
    this.#taken = true;
    this.#abort.abort();
    await (await this.#result)?.pack?.discard();
  }
}

/** Start a prefetch, when the sink can stage; see `Prefetch`. */
export function prefetch(
  trunk: Trunk,
  sink: FetchSink,
  listed?: EarlyPlanListings,
): Prefetch | null {
  return sink.stage ? new Prefetch(trunk, sink, listed) : null;
}

/**
 * A prefetch's work: the plan, and when it is one segment, that segment downloaded and
 * staged; null when stopped.
 */
async function stageOne(
  trunk: Trunk,
  sink: FetchSink,
  signal: AbortSignal,
  underway: () => void,
  listed?: EarlyPlanListings,
): Promise<Prefetched | null> {
  const blobs = storedBlobs(trunk.store, listed?.blobs);
  blobs.catch(() => {}); // a failed listing leaves nothing staged
  const plan = await planFetch(trunk.store, trunk.ingested(), listed?.segments);
  const listedEarly = listed !== undefined;
  if (signal.aborted) return null;
  if (plan.alreadyHave.length || plan.download.length === 0) {
    return { plan, blobs, pack: null, bytes: 0, listedEarly };
  }
  if (plan.download.length > 1) {
    const got = { bytes: 0 };
    const pack = await stageJoined(trunk, sink, plan, blobs, signal, underway, got);
    return { plan, blobs, pack, bytes: got.bytes, listedEarly };
  }
  const dir = await sink.downloadDir();
  const pack = `${dir}/tmp_trunks_${crypto.randomUUID()}.pack`;
  const { id, packSize } = plan.download[0].segment;
  // Copied by the store itself where it can (local disk), verified beside index-pack below.
  const copied = await copySegmentPack(trunk.store, id, pack, signal, packSize);
  let bytes = copied?.size ?? 0;
  if (!copied) {
    underway();
    // Stopped at the next piece once discarded (the download then removes its file).
    bytes = await trunk.downloadSegment(
      id,
      pack,
      (n) => {
        if (n > 0) signal.throwIfAborted();
      },
      undefined,
      packSize,
    );
  }
  faultPoint("fetch:after-download");
  if (signal.aborted) {
    await Promise.all([Deno.remove(pack).catch(() => {}), copied?.verified.catch(() => {})]);
    return null;
  }
  // Unknown is not whole; the listing's own failure surfaces in the fetch that takes it.
  const whole = await blobs.then((b) => b.size === 0, () => false);
  if (!copied) {
    return { plan, blobs, pack: await sink.stage!(pack, { whole }, signal), bytes, listedEarly };
  }
  // Every segment's SHA-256 is checked before git can see it, this one too: index-pack
  // reads the copy while its hash is checked (index-pack parses untrusted packs, as any
  // git fetch does, and writes only into the staging directory git never reads), and the
  // staged pack is handed on, the only way to `install` it, once the hash has matched:
  // the hash read the very file index-pack read (see `copySegmentPack`). On a mismatch
  // it is discarded and nothing is staged: the fetch then runs in full and names the
  // corrupt segment, as it does without a prefetch.
  let staged: StagedPack;
  try {
    staged = await sink.stage!(pack, { whole }, signal, underway);
  } catch (e) {
    await copied.verified.catch(() => {}); // its file handle closed before this fails
    throw e;
  }
  try {
    await copied.verified;
  } catch (e) {
    await staged.discard();
    throw e;
  }
  return { plan, blobs, pack: staged, bytes, listedEarly };
}

/**
 * A prefetch of several segments (a clone after many pushes: the merged segments and the
 * newest pushes'): each downloaded and verified by SHA-256, then joined and indexed by the
 * repository (`stageAll`), as the fetch would after git asks. Null when the repository
 * cannot stage a join, or the prefetch was stopped; a failure leaves nothing staged.
 */
async function stageJoined(
  trunk: Trunk,
  sink: FetchSink,
  plan: FetchPlan,
  blobs: Promise<Set<string>>,
  signal: AbortSignal,
  underway: () => void,
  got: { bytes: number },
): Promise<StagedPack | null> {
  if (!sink.stageAll) return null;
  const dir = await sink.downloadDir();
  // Stopped at the next piece once discarded (a download then removes its file).
  const inputs = await downloadWithIndexes(trunk, plan, dir, (n) => {
    if (n > 0) signal.throwIfAborted();
    got.bytes += n;
  });
  if (signal.aborted) {
    await removeInputFiles(inputs);
    return null;
  }
  // Unknown is not whole; the listing's own failure surfaces in the fetch that takes it.
  const whole = await blobs.then((b) => b.size === 0, () => false);
  return await sink.stageAll(inputs, trunk.meta.objectFormat, { whole }, signal, underway);
}

/** A pack the repository refused: name the key it came from. */
function unreadable(trunk: Trunk, id: string, e: unknown): Error {
  const why = (e instanceof Error ? e.message : String(e)).split("\n")[0];
  return new TrunkError(
    `segment ${segmentPackKey(id)} on ${trunk.location} is unreadable (${why}); run trunks check`,
    "corrupt",
  );
}

/**
 * Segments downloaded at once: as many as keep the store's requests in flight, each
 * `perSegment` of them (a join reads a pack and its index). A clone or fetch after a run of
 * pushes reads dozens of small segments (maintenance merges them every ~50 pushes), each a
 * round trip to a distant store: at 4 at a time, a clone of 50 waited 13 rounds for them
 * (~650 ms at 50 ms a request). Memory does not grow with it: what is held in memory is
 * bounded before any download (`inMemoryLimits`), the rest streams to files.
 */
function downloadWorkers(trunk: Trunk, segments: number, perSegment: number): number {
  return Math.max(1, Math.min(Math.floor(trunk.parallelism / perSegment), segments));
}

/**
 * The first failure of downloads run at once, and a signal that stops the others: with a
 * store's worth in flight (16 on local disk), each read to its end before the failure was
 * reported (or the fetch listed again, a segment compacted away meanwhile) and thrown away.
 */
function firstFailure(): {
  fail: (e: unknown) => void;
  failure: () => { e: unknown } | null;
  signal: AbortSignal;
} {
  let first = null as { e: unknown } | null;
  const stop = new AbortController();
  return {
    fail: (e) => {
      first ??= { e };
      stop.abort();
    },
    failure: () => first,
    signal: stop.signal,
  };
}

/** Downloads left by a fetch that was killed; an hour old means nobody is writing them. */
async function sweepStaleDownloads(dir: string): Promise<void> {
  for await (const f of Deno.readDir(dir)) {
    if (!f.name.startsWith("tmp_trunks_")) continue;
    const p = `${dir}/${f.name}`;
    const st = await Deno.stat(p).catch(() => null);
    if (st?.mtime && Date.now() - st.mtime.getTime() > STALE_MS) {
      // A directory: a staged prefetch (helper/fetch.ts `stage`).
      await Deno.remove(p, { recursive: st.isDirectory }).catch(() => {});
    }
  }
}
