/**
 * Building and ingesting packs with git's own pack-objects and index-pack.
 */
import { type JoinInput, joinPacks, type JoinResult, removeInputFiles } from "../pack/join.ts";
import type { ObjectFormat } from "../pack/objects.ts";
import { packFileObjectCount } from "../pack/pack_format.ts";
import { git, GitError } from "./run.ts";

export interface BuiltPack {
  packPath: string;
  idxPath: string;
  objects: number;
}

/**
 * The pack pack-objects wrote under `base` (it prints the pack's name), or null when it
 * holds no object (its files are removed then).
 */
export async function writtenPack(base: string, printed: string): Promise<BuiltPack | null> {
  const hash = printed.trim();
  if (!/^[0-9a-f]{40,64}$/.test(hash)) {
    throw new GitError(`git pack-objects printed no pack name`, "", 0);
  }
  const packPath = `${base}-${hash}.pack`;
  const idxPath = `${base}-${hash}.idx`;
  const objects = await packFileObjectCount(packPath);
  if (objects === 0) {
    await Promise.all([Deno.remove(packPath), Deno.remove(idxPath)].map((p) => p.catch(() => {})));
    return null;
  }
  return { packPath, idxPath, objects };
}

export interface IngestOptions {
  progress?: boolean;
  /**
   * Check every object the pack names, as `git clone` has index-pack do
   * (`--check-self-contained-and-connected`): each must be in the pack or already in the
   * repository. Meant for a pack that should be whole; if the check fails the pack is
   * indexed once more without it, so a gap in the history is left for the caller's own
   * check to name (a lost segment), never reported as a corrupt pack.
   */
  checkLinks?: boolean;
  /**
   * Write `pack-<hash>.keep` holding this message before the pack goes in, as git's
   * fetch does: a repack meanwhile leaves the pack alone until refs name its objects.
   * Whoever asked removes it then (git, told of it by a helper's `lock` line).
   */
  keep?: string;
}

/** A pack `ingestPack` verified and installed. */
export interface IngestedPack {
  idx: string;
  /** Its keep file, when one was asked for and written (null: none, or not ours). */
  keep: string | null;
  /** Links checked, and every object the pack names is in it (a clone's one pack). */
  selfContained: boolean;
}

/**
 * Verify a downloaded pack with `git index-pack` (every object id recomputed) and
 * install it into the repository's object store. The pack file becomes
 * `pack-<hash>.pack` (renamed, never copied) and its index is renamed into place last,
 * so git never sees a pack without its index.
 */
export async function ingestPack(
  gitDir: string,
  tmpPack: string,
  opts: IngestOptions = {},
): Promise<IngestedPack> {
  return await installPack(gitDir, await indexPack(gitDir, tmpPack, opts), opts);
}

/** A pack index-pack verified and indexed, still under its temporary names. */
export interface IndexedPack {
  pack: string;
  idx: string;
  /** Its name (the hash index-pack printed). */
  hash: string;
  selfContained: boolean;
}

/**
 * The first half of `ingestPack`: `git index-pack` writes the index beside the pack,
 * under the pack's temporary name, where git never looks. Both files are removed if it
 * fails, or if `signal` stops it.
 */
export async function indexPack(
  gitDir: string,
  tmpPack: string,
  opts: IngestOptions & { signal?: AbortSignal } = {},
): Promise<IndexedPack> {
  const tmpIdx = tmpPack.replace(/\.pack$/, ".idx");
  // git's own fetch fsyncs a pack it receives (core.fsync's default) before a ref can
  // name its objects; index-pack given a file fsyncs only the index it writes. The pack's
  // flush runs beside index-pack's work, so it costs no extra time on a free core.
  const synced = syncData(tmpPack);
  synced.catch(() => {});
  try {
    const index = (checkLinks: boolean) =>
      git(
        [
          "index-pack",
          ...(opts.progress ? ["-v"] : []),
          ...(checkLinks ? ["--check-self-contained-and-connected"] : []),
          "-o",
          tmpIdx,
          tmpPack,
        ],
        // In the repository, so its object format applies wherever this process runs.
        // Exit code 1 with the check: connected, but naming objects outside the pack.
        {
          inheritStderr: opts.progress,
          env: { GIT_DIR: gitDir },
          okCodes: checkLinks ? [1] : [],
          signal: opts.signal,
        },
      );
    let res;
    let selfContained = false;
    if (opts.checkLinks) {
      res = await index(true).catch(async () => {
        await Deno.remove(tmpIdx).catch(() => {});
        return null;
      });
      selfContained = res?.code === 0;
    }
    opts.signal?.throwIfAborted();
    res ??= await index(false);
    const hash = new TextDecoder().decode(res.stdout).trim().split(/\s+/).pop()!;
    await synced;
    return { pack: tmpPack, idx: tmpIdx, hash, selfContained };
  } catch (e) {
    await Promise.all([tmpPack, tmpIdx].map((p) => Deno.remove(p).catch(() => {})));
    throw e;
  }
}

/**
 * The second half of `ingestPack`: the pack renamed into place, then its index (and a
 * keep, when asked for, before either). Its temporary files are removed if this fails.
 */
export async function installPack(
  gitDir: string,
  indexed: IndexedPack,
  opts: IngestOptions = {},
): Promise<IngestedPack> {
  const { pack: tmpPack, idx: tmpIdx, hash, selfContained } = indexed;
  let keep: string | null = null;
  try {
    // Synchronous calls: a clone installs its pack between index-pack's end and its answer
    // to git, and each async call cost a turn of the event loop.
    const packDir = `${gitDir}/objects/pack`;
    const finalPack = `${packDir}/pack-${hash}.pack`;
    const finalIdx = `${packDir}/pack-${hash}.idx`;
    let exists = true;
    try {
      Deno.statSync(finalIdx);
    } catch {
      exists = false;
    }
    if (exists) {
      await Promise.all([Deno.remove(tmpPack), Deno.remove(tmpIdx)]);
      return { idx: finalIdx, keep: null, selfContained };
    }
    if (opts.keep !== undefined) {
      const path = `${packDir}/pack-${hash}.keep`;
      // Another fetch's keep already there holds the pack as well: not ours to report.
      try {
        Deno.writeTextFileSync(path, `${opts.keep}\n`, { createNew: true });
        keep = path;
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      }
    }
    Deno.renameSync(tmpPack, finalPack);
    Deno.renameSync(tmpIdx, finalIdx);
    return { idx: finalIdx, keep, selfContained };
  } catch (e) {
    await Promise.all(
      [tmpPack, tmpIdx, ...(keep ? [keep] : [])].map((p) => Deno.remove(p).catch(() => {})),
    );
    throw e;
  }
}

/**
 * Install several downloaded packs as ONE pack: joined (src/pack/join.ts), then
 * verified and installed by `ingestPack`. A fetch of many segments so leaves one pack,
 * not one per segment. Inputs that come with their index lose objects an earlier
 * input already holds (`git verify-pack` refuses a pack holding an object twice);
 * the input files are removed either way.
 */
export async function ingestPacks(
  gitDir: string,
  inputs: JoinInput[],
  format: ObjectFormat,
  opts: IngestOptions = {},
): Promise<{ join: JoinResult; pack: IngestedPack } | null> {
  if (inputs.length === 0) return null;
  const joined = `${gitDir}/objects/pack/tmp_trunks_${crypto.randomUUID()}.pack`;
  let result: JoinResult;
  try {
    result = await joinPacks(inputs, joined, format);
  } finally {
    await removeInputFiles(inputs);
  }
  return { join: result, pack: await ingestPack(gitDir, joined, opts) };
}

/** The file's bytes on disk (fdatasync), so a crash never leaves a pack git counts on torn. */
async function syncData(path: string): Promise<void> {
  using f = await Deno.open(path, { read: true });
  await f.syncData();
}
