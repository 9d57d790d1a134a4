/**
 * `fetch` in the remote helper: the fetch engine (src/trunk/fetch.ts) writing into the
 * repository git runs the helper in; `git index-pack` verifies and installs what it
 * downloads, several segments joined into one pack (src/pack/join.ts).
 */
import { missingObjects } from "../git/blobs.ts";
import { ingestPack, ingestPacks } from "../git/pack.ts";
import { existingObjects, lackingCommit } from "../git/repo.ts";
import { fetch, type FetchReport, type FetchSink, type Want } from "../trunk/fetch.ts";
import type { Trunk } from "../trunk/trunk.ts";
import type { HelperOptions } from "./options.ts";
import { progressMeter } from "./io.ts";

export function gitSink(gitDir: string): FetchSink {
  const packDir = `${gitDir}/objects/pack`;
  return {
    async downloadDir() {
      await Deno.mkdir(packDir, { recursive: true });
      return packDir;
    },
    ingest: (path) => ingestPack(gitDir, path),
    ingestAll: async (inputs, format) => {
      await ingestPacks(gitDir, inputs, format);
    },
    has: existingObjects,
    missing: missingObjects,
    lackingCommit,
  };
}

export async function fetchRefs(
  trunk: Trunk,
  gitDir: string,
  wants: Want[],
  opts: HelperOptions,
): Promise<FetchReport> {
  return await fetch(trunk, gitSink(gitDir), wants, {
    onProgress: progressMeter(opts.progress),
  });
}
