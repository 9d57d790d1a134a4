/**
 * A fetch: every segment this repository has not ingested yet is downloaded (verified
 * by SHA-256 as it streams), checked by `git index-pack`, and only then installed.
 */
import { ingestPack } from "../git/pack.ts";
import { TrunkError } from "../trunk/errors.ts";
import { faultPoint } from "../trunk/faults.ts";
import { mapLimit } from "../trunk/pool.ts";
import { planFetch } from "../trunk/replaces.ts";
import type { Trunk } from "../trunk/trunk.ts";
import type { HelperOptions } from "./options.ts";
import { formatBytes, say } from "./io.ts";
import { type RemoteContext, requireGitDir } from "./resolve.ts";

const RELISTS = 3;

export async function fetchSegments(
  trunk: Trunk,
  ctx: RemoteContext,
  opts: HelperOptions,
): Promise<{ segments: number; bytes: number }> {
  // A segment listed but gone when downloaded was compacted meanwhile: list again, and
  // the compacted segment that replaced it is fetched instead.
  for (let attempt = 0;; attempt++) {
    try {
      return await fetchOnce(trunk, ctx, opts);
    } catch (e) {
      if (!(e instanceof TrunkError && e.code === "missing-object") || attempt >= RELISTS) throw e;
    }
  }
}

async function fetchOnce(
  trunk: Trunk,
  ctx: RemoteContext,
  opts: HelperOptions,
): Promise<{ segments: number; bytes: number }> {
  const plan = await planFetch(trunk.store, trunk.cache.ingested(trunk.id));
  if (plan.alreadyHave.length) trunk.cache.markIngested(trunk.id, plan.alreadyHave);
  const need = plan.download.map((d) => d.segment);
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
  await mapLimit(plan.download, Math.min(4, trunk.store.capabilities.parallelism), async (d) => {
    const seg = d.segment;
    const tmp = `${packDir}/tmp_trunks_${crypto.randomUUID()}.pack`;
    bytes += await trunk.downloadSegment(seg.id, tmp);
    faultPoint("fetch:after-download");
    const mine = indexing.then(() => ingestPack(gitDir, tmp));
    indexing = mine.catch(() => {});
    await mine;
    faultPoint("fetch:after-ingest");
    trunk.cache.markIngested(trunk.id, [seg.id, ...d.covers]);
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
