/**
 * A bare repository whose receiving side makes every ref it writes durable, as a trunk
 * does: git's default syncs no ref (a push it called done can vanish in a power loss), so
 * plain `git push` to a bare repository is a floor, not trunks' durability. With these
 * settings receive-pack fsyncs each loose ref file it writes (20,000 refs: 20,001 fsyncs,
 * strace -f -c); it still syncs no directory, where trunks syncs the ones its names go in.
 * `core.fsyncMethod=fsync` is git's default on Linux, set here too: a user's config saying
 * `writeout-only` (no flush of the disk's cache) or `batch` would otherwise weaken it.
 */
import { type Env, ok } from "./env.ts";

export const REF_FSYNC_CONFIG: ReadonlyArray<[string, string]> = [
  ["core.fsync", "reference"],
  ["core.fsyncMethod", "fsync"],
];

/** `git init --bare` at `path`, with git's own ref fsync turned on in its config. */
export async function initBareSyncingRefs(e: Env, path: string): Promise<void> {
  await ok(e, "git", ["init", "-q", "--bare", path]);
  for (const [key, value] of REF_FSYNC_CONFIG) {
    await ok(e, "git", ["config", key, value], { cwd: path });
  }
}
