/**
 * THE push engine (DESIGN.md "Layers"): every rule of a push lives here, used by the
 * remote helper (git's objects, through git plumbing) and by the library (objects built
 * in memory). What only the pushing repository knows comes through `PushSource`.
 *
 * Order: read the state from the store; plan each ref in git's own words; upload large
 * blobs, then one segment; check no clean took what the push builds on (gc_guard) and
 * that the lease still holds; then one compare-and-swap ref entry per ref, and a new
 * trunk's HEAD last.
 *
 * Round trips (one-commit push, helper): the listing of refs (with the storage map's,
 * `list for-push`); then at once the pack and the index; then the entry: 5 requests. The
 * listing vouches for a cached base entry by its stamp (else a GET confirms it beside the
 * upload), and the GC guard's listing of segments goes with the upload only past half the
 * lease. Every check still comes before the entry it guards; none waits for another.
 */
import { badRefName } from "./ref_format.ts";
import { BatchedEntryWrites, type TrunkCache } from "./cache.ts";
import { describeError } from "./describe_error.ts";
import { faultPoint } from "./faults.ts";
import { hasLiveBranch, initialHead } from "./head.ts";
import { type BlobContent, type LargeBlobStats, uploadLargeBlobs } from "./large_blobs.ts";
import { elapsedSince, moment } from "./lease.ts";
import { mapLimit } from "./pool.ts";
import { isDeleted, type RefEntry, type RefState } from "./refs.ts";
import { type BegunWrite, MovedOnPrimaryOnly, Trunk, type WriteState } from "./trunk.ts";
import { failingTransfers, formatBytes, type OnProgress } from "./progress.ts";
import { segmentUploadSize } from "./segments.ts";

export interface PushSpec {
  /** What to push (a ref or object name the source resolves); empty deletes `dst`. */
  src: string;
  dst: string;
  /** `+src:dst`: move even when not a fast-forward. */
  force: boolean;
}

/** A segment the source built: pack and index as file paths (streamed) or bytes. */
export interface BuiltSegment {
  id: string;
  pack: string | Uint8Array;
  idx: string | Uint8Array;
  objects: number;
  bytes: number;
}

/** What only the repository being pushed from knows (git plumbing, or memory). */
export interface PushSource {
  /** The object `src` names, or null when it names none. */
  resolve(src: string): Promise<string | null>;
  /** Which of `oids` the source holds. */
  has(oids: string[]): Promise<Set<string>>;
  /** True when `ancestor` is reachable from `descendant`. */
  isAncestor(ancestor: string, descendant: string): Promise<boolean>;
  /** The branch the pusher has checked out (`refs/heads/x`), or null. */
  localHead(): Promise<string | null>;
  /**
   * Everything reachable from `tips` and not from `exclude` (the objects the trunk's
   * listed tips reach): one self-contained segment, or null when nothing is new, and the
   * large blobs set aside to go as chunks.
   */
  pack(
    tips: string[],
    exclude: string[],
  ): Promise<{ segment: BuiltSegment | null; largeBlobs: string[] }>;
  /** The content of large blobs, in turn. */
  readBlobs(oids: string[]): AsyncIterable<BlobContent>;
  /** Sizes of large blobs, before they are read (for a progress percentage). */
  blobSizes?(oids: string[]): Promise<Map<string, number>>;
  /**
   * True when the source's repository holds every object of the segments it pushes (git):
   * then they are marked ingested and its next fetch skips them.
   */
  readonly keepsPushedObjects: boolean;
}

export interface PushOptions {
  /** `--force` for every ref. */
  force?: boolean;
  dryRun?: boolean;
  /** `--force-with-lease`: ref -> the value it must still have ("" = must not exist). */
  cas?: Map<string, string>;
  /** Human-facing lines (progress, notices). */
  say?: (line: string) => void;
  /** Per-step lines (segment written, large blobs stored). */
  verbose?: boolean;
  /** Bytes of the segment and large-blob uploads as they move (see progress.ts). */
  onProgress?: OnProgress;
  /** This push's listing of the refs, just read from the store (git's `list for-push`). */
  listing?: WriteState;
}

export interface RefOutcome {
  ref: string;
  /** The new value pushed (zero: deleted). */
  oid?: string;
  /** Why the ref was not moved, in git's words; absent when it was. */
  error?: string;
  /**
   * The entry this push created (absent if another writer had written the same value); with
   * an `error`, it moved on the primary only (a mirror refused it).
   */
  entry?: RefEntry;
  /** The entry of another writer that won the compare-and-swap. */
  winner?: RefEntry | null;
  /** The store failed while creating (or before creating) this ref's entry. */
  failure?: unknown;
}

export interface PushReport {
  refs: RefOutcome[];
  segment: BuiltSegment | null;
  largeBlobs: LargeBlobStats;
  /** The state read from the store, updated with the entries written. */
  state: RefState;
  /**
   * The first entry (HEAD's included) the primary took and a mirror refused: every such
   * entry stands on the primary, in `state`, and the mirror is behind until caught up.
   */
  primaryOnly?: MovedOnPrimaryOnly;
}

interface Planned {
  spec: PushSpec;
  newOid: string;
  base: RefEntry | null;
}

const FORCE_RETRIES = 5;
/** Fast-forward checks run at once (each a git process in the helper). */
const ANCESTRY_CHECKS = 4;
/** Lease re-reads before giving up on a push that keeps running out of it. */
const LEASE_REREADS = 3;
export const CLEANED_MEANWHILE = "trunk was cleaned meanwhile; fetch, then push again";
export const OUTLIVED_LEASE =
  "the push took longer than the trunk's lease between its upload and its ref update; push again";

export async function push(
  trunk: Trunk,
  source: PushSource,
  specs: PushSpec[],
  opts: PushOptions = {},
): Promise<PushReport> {
  let begun: BegunWrite = await trunk.beginWrite(specs.map((s) => s.dst), opts.listing);
  for (;;) {
    const done = await pushOn(trunk, source, specs, opts, begun);
    if ("report" in done) return done.report;
    // The store contradicted the cache this push planned on: plan again on what it holds
    // (what was uploaded meanwhile is an unused segment, left to a clean).
    begun = { ws: done.again, verdict: Promise.resolve(null) };
  }
}

/**
 * One push on a begun write. Round trips: the store's word on the planned state, the
 * segment's pack and index and the GC guard's listing all go at once, then the entries.
 */
async function pushOn(
  trunk: Trunk,
  source: PushSource,
  specs: PushSpec[],
  opts: PushOptions,
  begun: BegunWrite,
): Promise<{ report: PushReport } | { again: WriteState }> {
  const say = opts.say ?? (() => {});
  let ws = begun.ws;
  const state = ws.state;
  if (opts.dryRun) {
    const again = await begun.verdict;
    if (again) return { again };
  }
  const errors = new Map<string, string>();
  // Which of the listed tips the source holds: the fast-forward checks' first question and
  // what the pack leaves out. Asked once (a git process in the helper), while the refs are
  // planned; at once when something will be packed, else only if a check needs it.
  let held: Promise<Set<string>> | undefined;
  const heldTips = () =>
    held ??= source.has(
      [...Trunk.liveRefs(state).values()].filter((e) => !e.symref).map((e) => e.new),
    );
  if (!opts.dryRun && specs.some((s) => s.src)) heldTips().catch(() => {});
  // The pusher's checked-out branch, for a new trunk's HEAD, asked now (a git process in the
  // helper): HEAD's entry is the push's last, and waiting for the answer there cost a first
  // push of 20,000 refs 50-280 ms after its entries. Only a preference: a failed question
  // leaves main, master or the first branch, never a failed push whose refs have moved.
  const asksHead = !opts.dryRun && !state.latest.has("HEAD") &&
    specs.some((s) => s.src && s.dst.startsWith("refs/heads/"));
  const headAsked = asksHead ? source.localHead().catch(() => null) : null;
  // Taken before the entries join `state`: after them every first push "had" its own.
  const hadBranches = asksHead && hasLiveBranch(state.latest);
  const planned = await plan(trunk, source, state, specs, opts, errors, heldTips);
  let segment: BuiltSegment | null = null;
  let largeBlobs: LargeBlobStats = { blobs: 0, chunks: 0, bytes: 0 };
  const tips = planned.map((p) => p.newOid).filter((o) => o !== trunk.zeroOid);
  if (tips.length && !opts.dryRun) {
    // Objects to leave out come from the tips the store lists, never from the cache.
    const exclude = [...await heldTips()];
    const built = await source.pack(tips, exclude);
    faultPoint("push:after-pack");
    if (built.largeBlobs.length) {
      // Chunks are many and content-addressed: sent only once the state is confirmed.
      const again = await begun.verdict;
      if (again) return { again };
    }
    // Large blobs as chunks, before the segment that refers to them.
    largeBlobs = await failingTransfers(
      opts.onProgress,
      (onProgress) =>
        uploadLargeBlobs(trunk, built.largeBlobs, (o) => source.readBlobs(o), {
          sizes: source.blobSizes && ((o) => source.blobSizes!(o)),
          onProgress,
          notice: say,
        }),
    );
    if (largeBlobs.blobs && opts.verbose) {
      say(
        `trunks: stored ${largeBlobs.blobs} large blob(s), ${formatBytes(largeBlobs.bytes)} new`,
      );
    }
    segment = built.segment;
    const own = segment;
    const uploadStart = moment();
    const [again] = await Promise.all([
      begun.verdict,
      own ? failingTransfers(opts.onProgress, (p) => uploadOwnSegment(trunk, own, p)) : undefined,
    ]);
    if (again) return { again };
    if (own) faultPoint("push:after-segments");
    const reupload = own
      ? { id: own.id, reupload: () => trunk.putSegment(own.id, own.pack, own.idx) }
      : undefined;
    const collected = withinHalfLease(trunk, ws)
      ? []
      : await trunk.collectedBase(exclude, reupload);
    if (collected.length) {
      for (const p of planned.splice(0)) errors.set(p.spec.dst, CLEANED_MEANWHILE);
    } else {
      const reread = await keepLease(trunk, ws, specs, reupload);
      if (reread !== ws) movedMeanwhile(planned, reread.state, opts, errors);
      ws = reread;
      // A clean keeps a segment's objects while it is younger than two leases (its
      // grace): entries pointing at it must be created within one lease of its upload.
      if (own && trunk.leaseMs > 0 && elapsedSince(uploadStart) > trunk.leaseMs) {
        for (const p of planned.splice(0)) errors.set(p.spec.dst, OUTLIVED_LEASE);
      }
    }
    if (own && source.keepsPushedObjects) trunk.markIngested([own.id]);
    if (own && opts.verbose) say(await wroteSegmentLine(own));
  } else if (!opts.dryRun) {
    // Deletions only: nothing to upload, the store's word comes before any entry.
    const again = await begun.verdict;
    if (again) return { again };
  }

  const outcomes = new Map<string, RefOutcome>();
  // One entry per ref, `createParallelism` creates in flight; remembered in one cache write.
  // A create the store fails is that ref's error in git's words, the others stand; after
  // a failure no further create starts (a store that is down would fail every one).
  const cache = new BatchedEntryWrites(trunk.cache);
  let failure: { e: unknown } | undefined;
  let primaryOnly: MovedOnPrimaryOnly | undefined;
  // An entry the primary took and a mirror refused: the helper's notice, the library's error.
  const behind = (e: MovedOnPrimaryOnly, line: string) => {
    primaryOnly ??= e;
    say(line);
  };
  try {
    await mapLimit(planned, trunk.createParallelism, async (p) => {
      const ref = p.spec.dst;
      if (opts.dryRun) return outcomes.set(ref, { ref, oid: p.newOid });
      if (failure) {
        const error = `not moved: ${describeError(failure.e)}`;
        return outcomes.set(ref, { ref, oid: p.newOid, error, failure: failure.e });
      }
      const force = p.spec.force || !!opts.force;
      const segments = segment ? [segment.id] : [];
      try {
        outcomes.set(ref, await moveRef(trunk, cache, p, segments, force, behind));
      } catch (e) {
        failure ??= { e };
        const error = `its entry was not written: ${describeError(e)}`;
        outcomes.set(ref, { ref, oid: p.newOid, error, failure: e });
      }
    });
  } finally {
    cache.flush();
  }
  // Nothing moved: the push failed as a whole, with the store's own error.
  if (failure && ![...outcomes.values()].some(landed)) throw failure.e;
  for (const o of outcomes.values()) {
    const written = o.entry ?? o.winner;
    if (written) state.latest.set(written.ref, written);
  }

  faultPoint("push:before-head");
  if (!opts.dryRun && !state.latest.has("HEAD")) {
    // Branches moved on the primary only count: clones of the primary show them, and the
    // pusher's choice must not wait for a push that finds them there (hadBranches).
    const pushed = [...outcomes.values()].filter((o) =>
      landed(o) && o.ref.startsWith("refs/heads/") && o.oid !== trunk.zeroOid
    ).map((o) => o.ref);
    if (pushed.length) {
      const target = initialHead(state, pushed, await headAsked, hadBranches)!;
      let head: RefEntry | null;
      try {
        const r = await trunk.updateRef({
          ref: "HEAD",
          new: trunk.zeroOid,
          symref: target,
          base: null,
          segments: [],
        });
        // Losing this race is fine: someone else chose HEAD first.
        head = r.ok ? r.entry : r.winner;
      } catch (e) {
        // git pushes no HEAD and has no line for it: the notice is the only word on it, and
        // a push whose refs moved is not failed for it (the next push records a HEAD).
        if (e instanceof MovedOnPrimaryOnly) {
          behind(e, `trunks: HEAD (${target}) recorded on the primary, but ${e.message}`);
          head = e.entry;
        } else {
          say(`trunks: HEAD (${target}) was not recorded: ${describeError(e)}`);
          head = null;
        }
      }
      if (head) state.latest.set("HEAD", head);
    }
  }
  faultPoint("push:after-refs");
  return {
    report: {
      refs: specs.map((s) =>
        outcomes.get(s.dst) ?? { ref: s.dst, error: errors.get(s.dst) ?? "not pushed" }
      ),
      segment,
      largeBlobs,
      state,
      primaryOnly,
    },
  };
}

/**
 * The verbose summary of the push's segment. Its size is what was stored, pack and
 * index, the same bytes the "Uploading segment" line counts: one push, one size.
 */
export async function wroteSegmentLine(own: BuiltSegment): Promise<string> {
  const stored = await segmentUploadSize(own.pack, own.idx);
  return `trunks: wrote segment ${own.id.slice(0, 12)} (${own.objects} objects, ${
    formatBytes(stored)
  })`;
}

/** The push's segment, its bytes reported as the store takes them. */
async function uploadOwnSegment(
  trunk: Trunk,
  own: BuiltSegment,
  onProgress?: OnProgress,
): Promise<void> {
  if (!onProgress) return await trunk.putSegment(own.id, own.pack, own.idx);
  const total = await segmentUploadSize(own.pack, own.idx);
  let bytes = 0;
  const report = (done: boolean) =>
    onProgress({
      kind: "segment-upload",
      bytes,
      total,
      items: done ? 1 : 0,
      itemsTotal: 1,
      done,
    });
  report(false);
  await trunk.putSegment(own.id, own.pack, own.idx, (n) => {
    bytes += n;
    report(false);
  });
  report(true);
}

/** Each ref's fate in git's words, against the state just read from the store. */
async function plan(
  trunk: Trunk,
  source: PushSource,
  state: RefState,
  specs: PushSpec[],
  opts: PushOptions,
  errors: Map<string, string>,
  /** Which of the listed live tips the source holds. */
  heldTips: () => Promise<Set<string>>,
): Promise<Planned[]> {
  const zero = trunk.zeroOid;
  const planned: (Planned | null)[] = [];
  // Moves that must be fast-forwards, checked after the loop: one `has` for all of them,
  // ancestry a few at a time (a process each in git), not one ref after another.
  const checks: { at: number; current: string }[] = [];
  for (const spec of specs) {
    // What readers refuse is never written (ref_format.ts): git checks its own rules, not
    // trunks' one more, and the library's callers check none.
    const badName = badRefName(spec.dst);
    if (badName) {
      errors.set(spec.dst, `invalid ref name: it ${badName}`);
      continue;
    }
    const base = state.latest.get(spec.dst) ?? null;
    const current = base && !isDeleted(base) ? (base.symref ? null : base.new) : null;
    const force = spec.force || !!opts.force;
    const expected = opts.cas?.get(spec.dst);
    if (expected !== undefined && (expected || zero) !== (current ?? zero)) {
      errors.set(spec.dst, "stale info");
      continue;
    }
    if (!spec.src) {
      if (!current) errors.set(spec.dst, "remote ref does not exist");
      else planned.push({ spec, newOid: zero, base });
      continue;
    }
    const newOid = await source.resolve(spec.src);
    if (!newOid) {
      errors.set(spec.dst, `src refspec ${spec.src} does not match any object`);
      continue;
    }
    if (current && current !== newOid && !force) {
      if (spec.dst.startsWith("refs/tags/")) {
        errors.set(spec.dst, "already exists");
        continue;
      }
      checks.push({ at: planned.length, current });
    }
    planned.push({ spec, newOid, base });
  }
  // Every `current` is a listed live tip (an entry neither deleted nor a symref).
  const held = checks.length ? await heldTips() : new Set();
  await mapLimit(checks, ANCESTRY_CHECKS, async ({ at, current }) => {
    const p = planned[at]!;
    if (!held.has(current)) errors.set(p.spec.dst, "fetch first");
    else if (!(await source.isAncestor(current, p.newOid))) {
      errors.set(p.spec.dst, "non-fast-forward");
    } else return;
    planned[at] = null;
  });
  return planned.filter((p): p is Planned => p !== null);
}

/**
 * The GC guard is not needed while the push is within half the lease of its listing
 * (`elapsedSince`): every deleter takes only what was superseded or replaced more than two
 * leases ago (DESIGN.md "Lease and grace"). A clean listing between this push's listing and
 * its entries retains every tip the push listed (live then, or superseded less than half a
 * lease before) and every segment younger than two leases (the push's own); a segment
 * deleted meanwhile was replaced more than two leases before the push's listing (a merge's
 * replacement holds all its objects). A lease of 0 (tests) always runs the guard.
 */
function withinHalfLease(trunk: Trunk, ws: WriteState): boolean {
  return trunk.leaseMs > 0 && sinceRead(ws) < trunk.leaseMs / 2;
}

function sinceRead(ws: WriteState): number {
  return elapsedSince({ at: ws.readAt, mono: ws.readMono });
}

/**
 * Ref entries are created within the lease of the last state read: past half of it, the
 * state is read again and the push's own segment must still be listed (put back if a
 * clean took it), so no clean can have collected what the entries will point at.
 */
async function keepLease(
  trunk: Trunk,
  ws: WriteState,
  specs: PushSpec[],
  own?: { id: string; reupload(): Promise<void> },
): Promise<WriteState> {
  // On both clocks (`elapsedSince`): a wall clock stepped back (NTP) skipped the re-read,
  // as did a machine suspended mid-push by the monotonic one alone, and the entries were
  // created on a base whose successor pruning had taken meanwhile.
  for (let i = 0; i < LEASE_REREADS && sinceRead(ws) > trunk.leaseMs / 2; i++) {
    ws = await trunk.stateForWrite(specs.map((s) => s.dst));
    if (own && !(await trunk.segments()).some((s) => s.id === own.id)) await own.reupload();
    if (trunk.leaseMs === 0) break;
  }
  return ws;
}

/**
 * The entries are created on the state read again, not on the first one: a ref moved since
 * is a lost race (`fetch first`; a plain force moves it from where it is now), as its
 * create would have been, had pruning not deleted its old next entry meanwhile (the key
 * of `base.seq + 1` is free again once it is archived).
 */
function movedMeanwhile(
  planned: Planned[],
  state: RefState,
  opts: PushOptions,
  errors: Map<string, string>,
): void {
  for (let i = planned.length - 1; i >= 0; i--) {
    const p = planned[i];
    const now = state.latest.get(p.spec.dst) ?? null;
    if ((now?.seq ?? 0) === (p.base?.seq ?? 0)) continue;
    if ((p.spec.force || opts.force) && !opts.cas?.has(p.spec.dst)) p.base = now;
    else {
      errors.set(p.spec.dst, opts.cas?.has(p.spec.dst) ? "stale info" : "fetch first");
      planned.splice(i, 1);
    }
  }
}

/**
 * The ref holds the pushed value on the primary, what its clones read: by this push's
 * entry (with an error when a mirror refused it) or another writer's of the same value.
 */
export function landed(o: RefOutcome): boolean {
  return !o.error || !!o.entry;
}

/** Create the ref's next entry; a lost race is `fetch first` (or retried when forced). */
async function moveRef(
  trunk: Trunk,
  cache: TrunkCache,
  p: Planned,
  segments: string[],
  force: boolean,
  behind: (e: MovedOnPrimaryOnly, line: string) => void,
): Promise<RefOutcome> {
  const ref = p.spec.dst;
  let base = p.base;
  let winner: RefEntry | null = null;
  for (let attempt = 0; attempt <= FORCE_RETRIES; attempt++) {
    faultPoint("push:between-refs");
    let r;
    try {
      r = await trunk.updateRef({ ref, new: p.newOid, base, segments }, cache);
    } catch (e) {
      if (!(e instanceof MovedOnPrimaryOnly)) throw e;
      // Its entry stands on the primary (the push's state holds it); git hears that this
      // ref is not everywhere, and the next push or `trunks storage sync` levels the mirror.
      behind(e, `trunks: ${ref} moved on the primary, but ${e.message}`);
      return {
        ref,
        oid: p.newOid,
        entry: e.entry,
        error: `moved on the primary only; mirror ${e.member.name} ${
          e.kind === "diverged" ? "has diverged" : "is behind"
        } (run trunks storage sync)`,
      };
    }
    if (r.ok) {
      faultPoint("push:after-ref");
      return { ref, oid: p.newOid, entry: r.entry };
    }
    winner = r.winner;
    if (winner && winner.new === p.newOid && !winner.symref) return { ref, oid: p.newOid, winner };
    if (!force || !winner) break;
    base = winner;
  }
  return { ref, oid: p.newOid, error: "fetch first", winner };
}
