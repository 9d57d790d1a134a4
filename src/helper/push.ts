/**
 * `push` in the remote helper: git's refspecs handed to the push engine (src/trunk/push.ts),
 * with the local repository as its source through git plumbing; the results go back to
 * git in its own words.
 */
import { blobSizes, catBlobs } from "../git/blobs.ts";
import { buildSplitPack } from "../git/split_pack.ts";
import { batchResolver, existingObjects, headSymref, isAncestor } from "../git/repo.ts";
import { largeBlobThreshold } from "../trunk/large_blobs.ts";
import { push, type PushSource, type PushSpec } from "../trunk/push.ts";
import type { Trunk, WriteState } from "../trunk/trunk.ts";
import type { ListEntry } from "../storage/store.ts";
import { sha256File } from "../trunk/segments.ts";
import type { HelperOptions } from "./options.ts";
import { progressMeter, say } from "./io.ts";
import { type RemoteContext, requireGitDir } from "./resolve.ts";
import { afterPush } from "./auto_maintenance.ts";

export type { PushSpec };

export interface PushResult {
  ref: string;
  error?: string;
}

export async function pushRefs(
  ctx: RemoteContext,
  specs: PushSpec[],
  opts: HelperOptions,
  listing?: WriteState,
  beforeCreate?: { entries: ListEntry[]; readAt: number; readMono: number },
): Promise<PushResult[]> {
  const threshold = largeBlobThreshold(); // a bad setting fails before anything is written
  // Every src resolved by one git process, started first: it runs while the trunk opens for
  // writing and while the engine asks git which listed tips the repository holds.
  const resolving = batchResolver(specs.map((s) => s.src).filter(Boolean));
  resolving.catch(() => {}); // the engine's first `resolve` awaits it
  const trunk = await ctx.trunkForWrite();
  if (!listing && beforeCreate) listing = await trunk.createdState(beforeCreate);
  const tmp = await Deno.makeTempDir({ dir: requireGitDir(ctx), prefix: "trunks-push-" });
  try {
    const { results, step } = await pushOnly(
      ctx,
      trunk,
      tmp,
      threshold,
      specs,
      opts,
      listing,
      resolving,
    );
    await step;
    return results;
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/**
 * The push, and the maintenance step after it already started: awaited by the caller once
 * this frame, which holds the push's report and state, is gone (they are garbage while the
 * step reads and encodes every ref's entry again).
 */
async function pushOnly(
  ctx: RemoteContext,
  trunk: Trunk,
  tmp: string,
  threshold: number,
  specs: PushSpec[],
  opts: HelperOptions,
  listing: WriteState | undefined,
  resolving: Promise<(src: string) => Promise<string>>,
): Promise<{ results: PushResult[]; step: Promise<void> }> {
  const source = gitSource(tmp, threshold, opts, resolving);
  const report = await push(trunk, source, specs, {
    force: opts.force,
    dryRun: opts.dryRun,
    cas: opts.cas,
    say,
    verbose: opts.verbosity > 1 || opts.progress,
    onProgress: progressMeter(opts.progress),
    listing,
  });
  const results = report.refs.map((r) => ({ ref: r.ref, error: r.error }));
  const step = opts.dryRun
    ? Promise.resolve()
    : afterPush(ctx, trunk, report.state, results.filter((r) => !r.error).length);
  return { results, step };
}

/** The repository git runs the helper in, as the push engine's source. */
function gitSource(
  tmp: string,
  threshold: number,
  opts: HelperOptions,
  resolving: Promise<(src: string) => Promise<string>>,
): PushSource {
  return {
    keepsPushedObjects: true,
    // git failing as a whole is the push's error; a src naming nothing is that ref's.
    resolve: async (src) => await (await resolving)(src).catch(() => null),
    has: existingObjects,
    isAncestor,
    localHead: headSymref,
    async pack(tips, exclude) {
      const split = await buildSplitPack(tips, exclude, tmp, threshold, {
        progress: opts.progress,
      });
      const built = split.pack;
      if (!built) return { segment: null, largeBlobs: split.largeBlobs };
      return {
        segment: {
          id: await sha256File(built.packPath),
          pack: built.packPath,
          idx: built.idxPath,
          objects: built.objects,
          bytes: (await Deno.stat(built.packPath)).size,
        },
        largeBlobs: split.largeBlobs,
      };
    },
    readBlobs: catBlobs,
    blobSizes,
  };
}
