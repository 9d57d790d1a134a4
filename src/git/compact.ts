/**
 * Git plumbing for `trunks check` and compaction, run against a private scratch
 * repository (never the user's): gather segments into it, walk what refs reach, and
 * pack a chosen set of objects into one self-contained pack.
 */
import { packFileObjectCount } from "../pack/pack_format.ts";
import { batchCheck, git, GitError } from "./run.ts";

const dec = new TextDecoder();

/** A bare scratch repository for the trunk's object format. */
export async function initScratch(dir: string, objectFormat: "sha1" | "sha256"): Promise<string> {
  const gitDir = `${dir}/scratch.git`;
  await git(["init", "-q", "--bare", `--object-format=${objectFormat}`, gitDir]);
  return gitDir;
}

/**
 * `git index-pack` a pack (every object id recomputed) and install it into the scratch
 * repository. Returns the index git wrote, to compare with the stored one.
 */
export async function indexPackInto(gitDir: string, packPath: string): Promise<string> {
  const tmpIdx = packPath.replace(/\.pack$/, ".idx");
  const res = await git(["index-pack", "-o", tmpIdx, packPath], {
    env: { GIT_DIR: gitDir },
  });
  const hash = dec.decode(res.stdout).trim().split(/\s+/).pop()!;
  const base = `${gitDir}/objects/pack/pack-${hash}`;
  await Deno.rename(packPath, `${base}.pack`);
  await Deno.rename(tmpIdx, `${base}.idx`);
  return `${base}.idx`;
}

/** Which of `oids` exist in the repository. */
export async function presentIn(gitDir: string, oids: Iterable<string>): Promise<Set<string>> {
  const unique = [...new Set(oids)];
  if (unique.length === 0) return new Set();
  const answers = await batchCheck("%(objectname) %(objecttype)", unique, {
    env: { GIT_DIR: gitDir },
  });
  const out = new Set<string>();
  for (const line of answers) {
    const [oid, type] = line.split(" ");
    if (type && type !== "missing") out.add(oid);
  }
  return out;
}

export interface Reachable {
  /** Present objects, with the path rev-list saw them at (a delta-search hint). */
  present: Map<string, string>;
  /** Reachable but absent: large blobs live as chunks, anything else is damage. */
  missing: Set<string>;
}

/** Every object reachable from `tips` (which must exist), tolerating missing ones. */
export async function reachableObjects(gitDir: string, tips: string[]): Promise<Reachable> {
  const present = new Map<string, string>();
  const missing = new Set<string>();
  if (tips.length === 0) return { present, missing };
  const res = await git(
    ["rev-list", "--objects", "--missing=print", "--stdin"],
    { stdin: [...new Set(tips)].join("\n") + "\n", env: { GIT_DIR: gitDir } },
  );
  for (const line of dec.decode(res.stdout).split("\n")) {
    if (!line) continue;
    if (line.startsWith("?")) {
      missing.add(line.slice(1).trim());
      continue;
    }
    const sp = line.indexOf(" ");
    if (sp < 0) present.set(line, "");
    else present.set(line.slice(0, sp), line.slice(sp + 1));
  }
  return { present, missing };
}

/**
 * One self-contained pack of exactly `objects` (oid -> path hint), written with its
 * index into `outDir`. Deltas are reused from the input packs where git can.
 */
export async function packObjectList(
  gitDir: string,
  objects: Map<string, string>,
  outDir: string,
): Promise<{ packPath: string; idxPath: string; objects: number }> {
  const input = [...objects].map(([oid, path]) => path ? `${oid} ${path}` : oid).join("\n") + "\n";
  const base = `${outDir}/compact`;
  const res = await git(
    ["pack-objects", "-q", "--delta-base-offset", base],
    { stdin: input, env: { GIT_DIR: gitDir } },
  );
  const hash = dec.decode(res.stdout).trim();
  if (!/^[0-9a-f]{40,64}$/.test(hash)) {
    throw new GitError("git pack-objects printed no pack name", "", 0);
  }
  const packPath = `${base}-${hash}.pack`;
  return {
    packPath,
    idxPath: `${base}-${hash}.idx`,
    objects: await packFileObjectCount(packPath),
  };
}
