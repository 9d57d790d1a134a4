/**
 * Building and ingesting packs with git's own pack-objects and index-pack.
 */
import { type JoinInput, joinPacks, type JoinResult } from "../pack/join.ts";
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

/**
 * Verify a downloaded pack with `git index-pack` (every object id recomputed) and
 * install it into the repository's object store. The pack file becomes
 * `pack-<hash>.pack` and its index is renamed into place last, so git never sees a
 * pack without its index.
 */
export async function ingestPack(
  gitDir: string,
  tmpPack: string,
  opts: { progress?: boolean } = {},
): Promise<void> {
  const tmpIdx = tmpPack.replace(/\.pack$/, ".idx");
  try {
    const res = await git(
      ["index-pack", ...(opts.progress ? ["-v"] : []), "-o", tmpIdx, tmpPack],
      // In the repository, so its object format applies wherever this process runs.
      { inheritStderr: opts.progress, env: { GIT_DIR: gitDir } },
    );
    const hash = new TextDecoder().decode(res.stdout).trim().split(/\s+/).pop()!;
    const packDir = `${gitDir}/objects/pack`;
    const finalPack = `${packDir}/pack-${hash}.pack`;
    const finalIdx = `${packDir}/pack-${hash}.idx`;
    const exists = await Deno.stat(finalIdx).then(() => true, () => false);
    if (exists) {
      await Promise.all([Deno.remove(tmpPack), Deno.remove(tmpIdx)]);
      return;
    }
    await Deno.rename(tmpPack, finalPack);
    await Deno.rename(tmpIdx, finalIdx);
  } catch (e) {
    await Promise.all([Deno.remove(tmpPack).catch(() => {}), Deno.remove(tmpIdx).catch(() => {})]);
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
  opts: { progress?: boolean } = {},
): Promise<JoinResult | null> {
  if (inputs.length === 0) return null;
  const joined = `${gitDir}/objects/pack/tmp_trunks_${crypto.randomUUID()}.pack`;
  let result: JoinResult;
  try {
    result = await joinPacks(inputs, joined, format);
  } finally {
    await Promise.all(inputs.map((i) => Deno.remove(i.pack).catch(() => {})));
  }
  await ingestPack(gitDir, joined, opts);
  return result;
}
