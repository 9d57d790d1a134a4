/**
 * A fetch: every segment this repository has not ingested yet is downloaded (verified
 * by SHA-256 as it streams), checked by `git index-pack`, and only then installed.
 */
import { ingestPack } from "../git/pack.ts";
import { faultPoint } from "../trunk/faults.ts";
import { mapLimit } from "../trunk/pool.ts";
import type { Trunk } from "../trunk/trunk.ts";
import type { HelperOptions } from "./helper.ts";
import { formatBytes, say } from "./io.ts";
import { type RemoteContext, requireGitDir } from "./resolve.ts";

export async function fetchSegments(
  trunk: Trunk,
  ctx: RemoteContext,
  opts: HelperOptions,
): Promise<{ segments: number; bytes: number }> {
  const ingested = trunk.cache.ingested(trunk.id);
  const need = (await trunk.segments()).filter((s) => !ingested.has(s.id));
  if (need.length === 0) return { segments: 0, bytes: 0 };
  const total = need.reduce((a, s) => a + s.packSize, 0);
  let done = 0;
  let bytes = 0;
  const progress = (final = false) => {
    if (!opts.progress) return;
    const pct = total ? Math.floor((bytes / total) * 100) : 100;
    say(
      `Downloading segments: ${pct}% (${done}/${need.length}), ${formatBytes(bytes)}${
        final ? ", done.\n" : "\r"
      }`,
    );
  };
  const gitDir = requireGitDir(ctx);
  const packDir = `${gitDir}/objects/pack`;
  await Deno.mkdir(packDir, { recursive: true });
  await sweepStaleDownloads(packDir);
  // Downloads overlap; index-pack runs on one segment at a time (it is multi-threaded).
  let indexing = Promise.resolve();
  await mapLimit(need, Math.min(4, trunk.store.capabilities.parallelism), async (seg) => {
    const tmp = `${packDir}/tmp_trunks_${crypto.randomUUID()}.pack`;
    bytes += await trunk.downloadSegment(seg.id, tmp);
    faultPoint("fetch:after-download");
    const mine = indexing.then(() => ingestPack(gitDir, tmp));
    indexing = mine.catch(() => {});
    await mine;
    faultPoint("fetch:after-ingest");
    trunk.cache.markIngested(trunk.id, [seg.id]);
    done++;
    progress();
  });
  progress(true);
  return { segments: need.length, bytes };
}

const STALE_MS = 60 * 60 * 1000;

/** Downloads left by a fetch that was killed; an hour old means nobody is writing them. */
async function sweepStaleDownloads(packDir: string): Promise<void> {
  for await (const f of Deno.readDir(packDir)) {
    if (!f.name.startsWith("tmp_trunks_")) continue;
    const p = `${packDir}/${f.name}`;
    const st = await Deno.stat(p).catch(() => null);
    if (st?.mtime && Date.now() - st.mtime.getTime() > STALE_MS) {
      await Deno.remove(p).catch(() => {});
    }
  }
}
