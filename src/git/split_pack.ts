/**
 * A push's segment without its large blobs: `rev-list --objects` with a blob size
 * filter lists what the push sends, large blobs are printed as omitted (`~<oid>`) and
 * set aside, and the rest streams straight into `pack-objects` as an explicit object
 * list (with path names, so deltas are chosen as well as with `--revs`). The object
 * list is never held in memory.
 */
import { type BuiltPack, writtenPack } from "./pack.ts";
import { collectText, finished, spawnGit } from "./run.ts";

export interface SplitPack {
  /** The segment, or null when no object other than large blobs is new. */
  pack: BuiltPack | null;
  /** Blobs above the threshold the push sends: they go to the trunk as chunks. */
  largeBlobs: string[];
}

/**
 * Everything reachable from `tips` and not from `exclude`, as a self-contained pack
 * in `dir`, except blobs larger than `threshold` bytes, which are returned instead.
 */
export async function buildSplitPack(
  tips: string[],
  exclude: string[],
  dir: string,
  threshold: number,
  opts: { progress?: boolean } = {},
): Promise<SplitPack> {
  const revList = spawnGit([
    "rev-list",
    "--objects",
    `--filter=blob:limit=${threshold + 1}`,
    "--filter-print-omitted",
    "--stdin",
  ]);
  const base = `${dir}/segment`;
  const packObjects = spawnGit(
    ["pack-objects", "--delta-base-offset", opts.progress ? "--progress" : "-q", base],
    { stderr: opts.progress ? "inherit" : "piped" },
  );
  const revErr = collectText(revList.stderr);
  const packErr = opts.progress ? Promise.resolve("") : collectText(packObjects.stderr);
  const packOut = collectText(packObjects.stdout);

  const w = revList.stdin.getWriter();
  await w.write(new TextEncoder().encode(
    [...tips, ...exclude.map((o) => `^${o}`)].join("\n") + "\n",
  ));
  await w.close();

  const largeBlobs: string[] = [];
  const enc = new TextEncoder();
  const out = packObjects.stdin.getWriter();
  let rest = "";
  const forward = async (text: string) => {
    const lines = (rest + text).split("\n");
    rest = lines.pop()!;
    let keep = "";
    for (const line of lines) {
      if (line.startsWith("~")) largeBlobs.push(line.slice(1).trim());
      else if (line) keep += line + "\n";
    }
    if (keep) await out.write(enc.encode(keep));
  };
  try {
    for await (const text of revList.stdout.pipeThrough(new TextDecoderStream())) {
      await forward(text);
    }
    await forward("\n");
    await out.close();
  } catch (e) {
    await out.abort().catch(() => {});
    await finished(revList, "rev-list", revErr);
    throw e;
  }
  await finished(revList, "rev-list", revErr);
  await finished(packObjects, "pack-objects", packErr);
  return { pack: await writtenPack(base, await packOut), largeBlobs };
}
