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
import type { ListedRefs, Trunk, WriteState } from "../trunk/trunk.ts";
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
  beforeCreate?: ListedRefs,
): Promise<PushResult[]> {
  const threshold = largeBlobThreshold(); // a bad setting fails before anything is written
  // Every src resolved by one git process, started first: it runs while the trunk opens for
  // writing and while the engine asks git which listed tips the repository holds.
  const resolving = batchResolver(specs.map((s) => s.src).filter(Boolean));
  resolving.catch(() => {}); // the engine's first `resolve` awaits it
  const tmp = await Deno.makeTempDir({ dir: requireGitDir(ctx), prefix: "trunks-push-" });
  const source = gitSource(tmp, threshold, opts, resolving);
  // No trunk at the location, refs/ listed empty: the push's pack is everything its srcs
  // reach (the engine leaves out only what the trunk lists), so git builds it while the
  // trunk is created (the probe and trunk.json's create), not after. Only built here:
  // nothing reaches the store before the trunk is open for writing.
  const ahead = beforeCreate?.entries.length === 0 && !opts.dryRun
    ? source.packAhead(specs.map((s) => s.src).filter(Boolean))
    : undefined;
  try {
    const trunk = await ctx.trunkForWrite();
    if (!listing && beforeCreate) listing = await trunk.createdState(beforeCreate);
    const { results, step } = await pushOnly(ctx, trunk, source, specs, opts, listing);
    await step;
    return results;
  } finally {
    // An unused or failed build is done before its files go.
    await ahead;
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
  source: PushSource,
  specs: PushSpec[],
  opts: HelperOptions,
  listing: WriteState | undefined,
): Promise<{ results: PushResult[]; step: Promise<void> }> {
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
): PushSource & { packAhead(srcs: string[]): Promise<void> } {
  type Built = Awaited<ReturnType<PushSource["pack"]>>;
  const build = async (tips: string[], exclude: string[]): Promise<Built> => {
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
  };
  // `packAhead`'s build: taken by the first `pack` asking for the same tips, nothing left out.
  let ahead: Promise<{ tips: Set<string>; built: Built | null } | undefined> | undefined;
  return {
    keepsPushedObjects: true,
    // git failing as a whole is the push's error; a src naming nothing is that ref's.
    resolve: async (src) => await (await resolving)(src).catch(() => null),
    has: existingObjects,
    isAncestor,
    localHead: headSymref,
    packAhead(srcs) {
      const settled = (async () => {
        const resolve = await resolving;
        const oids = await Promise.all(srcs.map((s) => resolve(s).catch(() => null)));
        const tips = new Set(oids.filter((o): o is string => o !== null));
        return { tips, built: tips.size ? await build([...tips], []) : null };
      })().catch(() => undefined);
      ahead = settled;
      return settled.then(() => {});
    },
    async pack(tips, exclude) {
      // Settled first, used or not: a build for other tips (a racer's trunk had refs, a spec
      // was refused) is only time lost, and its files share the directory.
      const mine = await ahead;
      ahead = undefined;
      const wanted = new Set(tips);
      if (
        mine?.built && exclude.length === 0 && wanted.size === mine.tips.size &&
        [...wanted].every((t) => mine.tips.has(t))
      ) return mine.built;
      return await build(tips, exclude);
    },
    readBlobs: catBlobs,
    blobSizes,
  };
}
