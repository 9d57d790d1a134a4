/**
 * A push: one new segment holding only what the trunk lacks, written before any ref
 * entry; then one exclusive create per ref. Per-ref results use git's own words.
 */
import { buildSplitPack } from "../git/split_pack.ts";
import {
  batchResolver,
  existingObjects,
  headSymref,
  isAncestor,
  isZeroOid,
  objectFormat,
} from "../git/repo.ts";
import { faultPoint } from "../trunk/faults.ts";
import { collectedBase } from "../trunk/gc_guard.ts";
import type { RefEntry, RefState } from "../trunk/refs.ts";
import { isDeleted } from "../trunk/refs.ts";
import { sha256File } from "../trunk/segments.ts";
import { Trunk } from "../trunk/trunk.ts";
import { mapLimit } from "../trunk/pool.ts";
import { StorageFailure } from "../trunk/mirrors.ts";
import type { HelperOptions } from "./options.ts";
import { formatBytes, say } from "./io.ts";
import { largeBlobThreshold, pushLargeBlobs } from "./largeblobs.ts";
import { type RemoteContext, requireGitDir } from "./resolve.ts";

export interface PushSpec {
  src: string;
  dst: string;
  force: boolean;
}

export interface PushResult {
  ref: string;
  error?: string;
}

interface Planned {
  spec: PushSpec;
  newOid: string;
  base: RefEntry | null;
}

const FORCE_RETRIES = 5;

export async function pushRefs(
  ctx: RemoteContext,
  specs: PushSpec[],
  opts: HelperOptions,
  listed?: RefState,
): Promise<PushResult[]> {
  const startedAt = Date.now();
  const threshold = largeBlobThreshold(); // a bad setting fails before anything is written
  const trunk = await ctx.trunkForWrite();
  // The state git compared against in `list for-push`; CAS catches anything newer.
  const state = listed ?? await trunk.refState();
  const zero = "0".repeat((await objectFormat()) === "sha256" ? 64 : 40);
  const results = new Map<string, string | undefined>();
  const planned: Planned[] = [];
  const resolve = await batchResolver(specs.map((s) => s.src));

  for (const spec of specs) {
    const base = state.latest.get(spec.dst) ?? null;
    const current = base && !isDeleted(base) ? base.new : null;
    const force = spec.force || opts.force;
    const expected = opts.cas.get(spec.dst);
    if (expected !== undefined && (expected || zero) !== (current ?? zero)) {
      results.set(spec.dst, "stale info");
      continue;
    }
    if (!spec.src) {
      if (!current) {
        results.set(spec.dst, "remote ref does not exist");
        continue;
      }
      planned.push({ spec, newOid: zero, base });
      continue;
    }
    let newOid: string;
    try {
      newOid = await resolve(spec.src);
    } catch {
      results.set(spec.dst, `src refspec ${spec.src} does not match any object`);
      continue;
    }
    if (current && current !== newOid && !force) {
      if (spec.dst.startsWith("refs/tags/")) {
        results.set(spec.dst, "already exists");
        continue;
      }
      if ((await existingObjects([current])).size === 0) {
        results.set(spec.dst, "fetch first");
        continue;
      }
      if (!(await isAncestor(current, newOid))) {
        results.set(spec.dst, "non-fast-forward");
        continue;
      }
    }
    planned.push({ spec, newOid, base });
  }

  const segments: string[] = [];
  let exclude: string[] = [];
  let collected: string[] = [];
  const tips = planned.map((p) => p.newOid).filter((o) => !isZeroOid(o));
  if (tips.length && !opts.dryRun) {
    const liveTips = [...Trunk.liveRefs(state).values()].map((e) => e.new);
    exclude = [...await existingObjects(liveTips)];
    const tmp = await Deno.makeTempDir({ dir: requireGitDir(ctx), prefix: "trunks-push-" });
    try {
      const split = await buildSplitPack(tips, exclude, tmp, threshold, {
        progress: opts.progress,
      });
      faultPoint("push:after-pack");
      // Large blobs as chunks, before the segment that refers to them.
      const large = await pushLargeBlobs(trunk, split.largeBlobs, opts);
      if (large.blobs && (opts.verbosity > 1 || opts.progress)) {
        say(`trunks: stored ${large.blobs} large blob(s), ${formatBytes(large.bytes)} new`);
      }
      const built = split.pack;
      if (built) {
        const id = await sha256File(built.packPath);
        const size = (await Deno.stat(built.packPath)).size;
        await trunk.putSegment(id, built.packPath, built.idxPath);
        faultPoint("push:after-segments");
        segments.push(id);
        collected = await collectedBase(trunk.store, trunk.meta.objectFormat, exclude, startedAt, {
          id,
          reupload: () => trunk.putSegment(id, built.packPath, built.idxPath),
        });
        // Our repository has every object of this segment already.
        trunk.cache.markIngested(trunk.id, [id]);
        if (opts.verbosity > 1 || opts.progress) {
          say(
            `trunks: wrote segment ${id.slice(0, 12)} (${built.objects} objects, ${
              formatBytes(size)
            })`,
          );
        }
      }
    } finally {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  }

  if (collected.length) {
    for (const p of planned.splice(0)) {
      results.set(p.spec.dst, "trunk was cleaned meanwhile; fetch, then push again");
    }
  }

  await mapLimit(planned, trunk.store.capabilities.parallelism, async (p) => {
    if (opts.dryRun) return results.set(p.spec.dst, undefined);
    results.set(p.spec.dst, await moveRef(trunk, p, segments, p.spec.force || opts.force));
  });

  faultPoint("push:before-head");
  if (!opts.dryRun && !state.latest.has("HEAD")) {
    await setInitialHead(trunk, state, planned, results);
  }
  faultPoint("push:after-refs");
  return specs.map((s) => ({ ref: s.dst, error: results.get(s.dst) }));
}

/** Create the ref's next entry; a lost race is `fetch first` (or retried when forced). */
async function moveRef(
  trunk: Trunk,
  p: Planned,
  segments: string[],
  force: boolean,
): Promise<string | undefined> {
  let base = p.base;
  for (let attempt = 0; attempt <= FORCE_RETRIES; attempt++) {
    faultPoint("push:between-refs");
    let r;
    try {
      r = await trunk.updateRef({ ref: p.spec.dst, new: p.newOid, base, segments });
    } catch (e) {
      // The primary took the entry but a mirror did not: say so for this ref; the next
      // push or `trunks storage sync` brings the mirror level.
      if (e instanceof StorageFailure && e.member.role === "mirror") {
        say(`trunks: ${p.spec.dst} moved on the primary, but ${e.message}`);
        return `moved on the primary only; mirror ${e.member.name} ${
          e.kind === "diverged" ? "has diverged" : "is behind"
        } (run trunks storage sync)`;
      }
      throw e;
    }
    if (r.ok) {
      faultPoint("push:after-ref");
      return undefined;
    }
    if (r.winner && r.winner.new === p.newOid && !r.winner.symref) return undefined;
    if (!force || !r.winner) return "fetch first";
    base = r.winner;
  }
  return "fetch first";
}

/**
 * A trunk's first HEAD: the local HEAD's branch if pushed, else main, master, or the
 * first. When the trunk already had branches but no HEAD (the first push died before
 * recording it), clones already show main, master or the first branch: that is recorded,
 * so a later push from a repository on another branch does not move it.
 */
async function setInitialHead(
  trunk: Trunk,
  state: RefState,
  planned: Planned[],
  results: Map<string, string | undefined>,
) {
  const pushed = planned.filter((p) =>
    p.spec.dst.startsWith("refs/heads/") && !isZeroOid(p.newOid) &&
    results.get(p.spec.dst) === undefined
  ).map((p) => p.spec.dst);
  if (pushed.length === 0) return;
  const had = [...Trunk.liveRefs(state).keys()].filter((r) => r.startsWith("refs/heads/"));
  const local = had.length ? null : await headSymref();
  const candidates = had.length ? had : pushed;
  const target =
    [local, "refs/heads/main", "refs/heads/master"].find((r) => r && candidates.includes(r)) ??
      candidates.sort()[0];
  const zero = "0".repeat(trunk.meta.objectFormat === "sha256" ? 64 : 40);
  // Losing this race is fine: someone else chose HEAD first.
  await trunk.updateRef({ ref: "HEAD", new: zero, symref: target, base: null, segments: [] });
}
