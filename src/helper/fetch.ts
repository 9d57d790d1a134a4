/**
 * `fetch` in the remote helper: the fetch engine (src/trunk/fetch.ts) writing into the
 * repository git runs the helper in; `git index-pack` verifies and installs what it
 * downloads, several segments joined into one pack (src/pack/join.ts).
 */
import { missingObjects } from "../git/blobs.ts";
import { indexPack, type IngestedPack, ingestPack, ingestPacks, installPack } from "../git/pack.ts";
import {
  emptyRepoFormat,
  existingObjects,
  lackingCommit,
  objectFormat,
  objectsGitDir,
} from "../git/repo.ts";
import { PackIndex } from "../pack/pack_index.ts";
import {
  fetch,
  type FetchReport,
  type FetchSink,
  type PackHint,
  type Prefetch,
  prefetch,
  type StagedPack,
  type Want,
} from "../trunk/fetch.ts";
import { joinPacks, removeInputFiles } from "../pack/join.ts";
import type { Trunk } from "../trunk/trunk.ts";
import type { EarlyPlanListings } from "../trunk/plan_listing.ts";
import type { HelperOptions } from "./options.ts";
import { progressMeter } from "./io.ts";

/** A sink into a git repository, and the packs it installed. */
export interface GitSink extends FetchSink {
  installed: IngestedPack[];
}

/**
 * `connectivity`: git asked the helper to vouch for a clone's pack (`option
 * check-connectivity`): a whole pack is then indexed with its links checked, as git's
 * own clone does, and kept (`.keep`) until git has written the refs.
 */
export function gitSink(
  gitDir: string,
  opts: { connectivity?: boolean | (() => boolean) } = {},
): GitSink {
  // Packs go where git reads them: the main git dir's objects, from a linked work tree.
  gitDir = objectsGitDir(gitDir);
  const packDir = `${gitDir}/objects/pack`;
  const installed: IngestedPack[] = [];
  const connectivity = () =>
    typeof opts.connectivity === "function" ? opts.connectivity() : opts.connectivity;
  const options = (whole: boolean | undefined) =>
    connectivity() && whole ? { checkLinks: true, keep: `trunks fetch ${Deno.pid}` } : {};
  /** The pack at `${hidden}/staged.pack` indexed there; `hidden` is removed on a failure. */
  const indexStaged = async (
    hidden: string,
    hint: PackHint,
    signal: AbortSignal,
    underway?: () => void,
  ): Promise<StagedPack> => {
    // Synchronous: install waits on it between index-pack's end and the answer to git.
    const gone = (): Promise<void> => {
      try {
        Deno.removeSync(hidden, { recursive: true });
      } catch {
        // already gone
      }
      return Promise.resolve();
    };
    let indexed;
    try {
      // Links checked whenever the pack should be whole: whether git wants a clone's
      // connectivity vouched for is said only after the listing (a stricter check
      // costs index-pack nothing more).
      const indexing = indexPack(gitDir, `${hidden}/staged.pack`, {
        checkLinks: hint.whole,
        signal,
      });
      // index-pack was started by that call (a process, spawned before it returns).
      underway?.();
      indexed = await indexing;
    } catch (e) {
      await gone();
      throw e;
    }
    return {
      namesOutside: hint.whole && !indexed.selfContained,
      install: async (h) => {
        try {
          installed.push(await installPack(gitDir, indexed, options(h?.whole)));
        } finally {
          await gone();
        }
      },
      discard: gone,
    };
  };
  const stage = async (
    path: string,
    hint: PackHint,
    signal: AbortSignal,
    underway?: () => void,
  ): Promise<StagedPack> => {
    // Indexed in a directory of its own until git asks: git reads every `.idx` in
    // objects/pack whatever its name, and `git fetch` asks the helper for nothing when
    // the listed objects are already there: it would write refs to a pack that
    // `discard` then removes.
    const hidden = `${path.replace(/\.pack$/, "")}.staged`;
    try {
      Deno.mkdirSync(hidden);
      Deno.renameSync(path, `${hidden}/staged.pack`);
    } catch (e) {
      await Promise.all([
        Deno.remove(path).catch(() => {}),
        Deno.remove(hidden, { recursive: true }).catch(() => {}),
      ]);
      throw e;
    }
    return await indexStaged(hidden, hint, signal, underway);
  };
  return {
    installed,
    async downloadDir() {
      await Deno.mkdir(packDir, { recursive: true });
      return packDir;
    },
    ingest: async (path, hint) => {
      installed.push(await ingestPack(gitDir, path, options(hint?.whole)));
    },
    stage,
    // The join `ingestAll` makes, staged as one pack (a prefetch of several segments).
    stageAll: async (inputs, format, hint, signal, underway) => {
      // Joined straight into its staging directory (see `stage`), and the inputs removed
      // while index-pack runs: no rename and no removal between the join and index-pack.
      const hidden = `${packDir}/tmp_trunks_${crypto.randomUUID()}.staged`;
      let removed: Promise<unknown> | undefined;
      const removeInputs = () => removed ??= removeInputFiles(inputs);
      try {
        Deno.mkdirSync(hidden);
        await joinPacks(inputs, `${hidden}/staged.pack`, format);
        signal.throwIfAborted();
      } catch (e) {
        await Promise.all([
          Deno.remove(hidden, { recursive: true }).catch(() => {}),
          removeInputs(),
        ]);
        throw e;
      }
      try {
        const staging = indexStaged(hidden, hint, signal, underway);
        removeInputs();
        return await staging;
      } finally {
        await removeInputs();
      }
    },
    ingestAll: async (inputs, format, hint) => {
      const got = await ingestPacks(gitDir, inputs, format, options(hint?.whole));
      if (got) installed.push(got.pack);
    },
    // An object in a pack this fetch installed (index-pack verified it) is held: git is
    // asked only about the others, so a clone spawns no cat-file for its tips.
    has: async (oids) => {
      const unique = [...new Set(oids)];
      const left = new Set(await outside(installed, unique, () => true));
      const held = new Set(unique.filter((o) => !left.has(o)));
      for (const o of left.size ? await existingObjects([...left]) : []) held.add(o);
      return held;
    },
    missing: missingObjects,
    // A tip in a pack whose every link index-pack checked inside it has its whole history
    // there: only the others need a walk (git's connectivity check skips them likewise).
    lackingCommit: async (tips) =>
      lackingCommit(await outside(installed, tips, (p) => p.selfContained)),
  };
}

const indexes = new WeakMap<IngestedPack, Promise<PackIndex>>();

/** Those of `oids` that no installed pack `which` accepts holds. */
async function outside(
  packs: IngestedPack[],
  oids: string[],
  which: (p: IngestedPack) => boolean,
): Promise<string[]> {
  let left = oids;
  for (const p of packs.filter(which)) {
    if (left.length === 0) break;
    const format = left[0].length === 64 ? "sha256" : "sha1";
    let idx = indexes.get(p);
    if (!idx) {
      // index-pack wrote it into the repository (IngestedPack): read as git reads its own.
      idx = Deno.readFile(p.idx).then((b) => PackIndex.ofRepository(b, format, p.idx));
      indexes.set(p, idx);
    }
    const i = await idx;
    left = left.filter((oid) => i.find(oid) === undefined);
  }
  return left;
}

/** What the helper tells git after a fetch: the pack's lock, and whether git may skip its walk. */
export interface FetchReply {
  report: FetchReport;
  /** A `.keep` git removes once its refs are written (the `lock` line). */
  lock: string | null;
  /** The one pack fetched is self-contained and its links were checked (`connectivity-ok`). */
  connected: boolean;
}

/**
 * A clone's fetch begun while git reads the listing (see `Prefetch`), when this
 * repository holds no object yet (the caller checked that it has ingested nothing from
 * the trunk): then git asks for a fetch of everything next, unless it only lists (`git
 * ls-remote` in an empty repository, whose prefetch is discarded). Null otherwise.
 * `format`: `emptyRepoFormat(gitDir)`, when the caller started it already; `listed`: the
 * plan's listings, when they went out with the first ones (plan_listing.ts).
 */
export async function prefetchClone(
  trunk: Trunk,
  gitDir: string,
  opts: HelperOptions,
  format: Promise<string | null> = emptyRepoFormat(gitDir),
  listed?: EarlyPlanListings,
): Promise<{ prefetch: Prefetch; sink: GitSink } | null> {
  // A clone learns the trunk's object format from the listing, after the prefetch starts:
  // until then its repository may be in another (then index-pack would refuse the pack).
  if (await format !== trunk.objectFormat) return null;
  // Told whether to vouch for connectivity only after the listing: read when installing.
  const sink = gitSink(gitDir, { connectivity: () => opts.checkConnectivity ?? false });
  const p = prefetch(trunk, sink, listed);
  return p ? { prefetch: p, sink } : null;
}

export async function fetchRefs(
  trunk: Trunk,
  gitDir: string,
  wants: Want[],
  opts: HelperOptions,
  early?: { prefetch: Prefetch; sink: GitSink },
): Promise<FetchReply> {
  // A repository of the other format: its index-pack would call every segment corrupt. A
  // prefetch ran only in the trunk's format (prefetchClone).
  if (!early) trunk.requireFormat(await objectFormat(gitDir));
  const sink = early?.sink ?? gitSink(gitDir, { connectivity: opts.checkConnectivity });
  const keeps = () => sink.installed.flatMap((p) => p.keep ? [p.keep] : []);
  let report: FetchReport;
  try {
    report = await fetch(trunk, sink, wants, {
      onProgress: progressMeter(opts.progress),
      prefetched: early?.prefetch,
    });
  } catch (e) {
    await Promise.all(keeps().map((k) => Deno.remove(k).catch(() => {})));
    throw e;
  }
  // git takes one lock line; a fetch that installed more packs says nothing of any.
  const only = sink.installed.length === 1 ? sink.installed[0] : null;
  if (!only?.keep) await Promise.all(keeps().map((k) => Deno.remove(k).catch(() => {})));
  return {
    report,
    lock: only?.keep ?? null,
    connected: !!only?.keep && only.selfContained,
  };
}
