/**
 * The express corpus: real history (323 refs, about 53,000 objects) kept in the repository
 * as a git bundle fixture, so a clone of the project alone runs its own tests and benchmarks.
 * See tests/fixtures/README.md for its source and licence.
 */
import { type Env, ok } from "./env.ts";

/** The bundle's path, resolved from this module (never from the current directory). */
export const CORPUS = decodeURIComponent(
  new URL("../tests/fixtures/express.bundle", import.meta.url).pathname,
);

/** A mirror clone of the corpus (323 refs), made once per test process. */
let corpus: Promise<string> | undefined;
export function corpusMirror(e: Env): Promise<string> {
  return corpus ??= (async () => {
    const dir = `${await Deno.makeTempDir({ prefix: "trunks-corpus-" })}/express.git`;
    await mirrorCorpus(e, dir);
    return dir;
  })();
}

/**
 * `git clone --mirror` of the corpus bundle into `dir`. A bundle does not say which branch
 * HEAD names, so git points HEAD at init.defaultBranch (`main`), which the express corpus
 * lacks: HEAD is set to its default branch, `master`, so clones check it out.
 */
export async function mirrorCorpus(e: Env, dir: string): Promise<void> {
  await ok(e, "git", ["clone", "-q", "--mirror", CORPUS, dir]);
  await ok(e, "git", ["symbolic-ref", "HEAD", "refs/heads/master"], { cwd: dir });
  await ok(e, "git", ["rev-parse", "--verify", "-q", "HEAD"], { cwd: dir });
}
