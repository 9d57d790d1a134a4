/**
 * Start-up cost of trunks, as people feel it:
 * - `trunks --version` (the binary's bare start),
 * - `git ls-remote` on a local trunk (git -> git-remote-trunks -> list refs) against
 *   `git ls-remote` on a bare repository holding the same commit. The difference is what
 *   the remote helper adds; the target is under 150 ms.
 *
 *   deno run -A bench/startup.ts [--runs N] [--trunks PATH] [--url TRUNK_URL] [--check]
 *
 * --trunks (or TRUNKS_BIN): the executable to measure, e.g. dist/trunks-x86_64-unknown-linux-gnu;
 *   default `deno run -A main.ts` (slower than the compiled binary).
 * --url: measure an existing trunk (`trunks::...`) instead of pushing a fresh local one.
 * --check: exit 1 when the helper adds 150 ms or more.
 * Results are also written to bench/results/startup-<time>.json.
 */
import "./run_tmp.ts";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { installHelper, selfCommand, type TrunksCommand } from "../src/cli/install_helper.ts";

const TARGET_MS = 150;

interface Options {
  runs: number;
  trunks: TrunksCommand;
  url?: string;
  check: boolean;
}

function parseArgs(args: string[]): Options {
  let runs = 15;
  let bin = Deno.env.get("TRUNKS_BIN");
  let url: string | undefined;
  let check = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--runs") runs = Number(args[++i]);
    else if (a === "--trunks") bin = args[++i];
    else if (a === "--url") url = args[++i];
    else if (a === "--check") check = true;
    else {throw new Error(
        `bench: unknown argument '${a}'; see the comment at the top of bench/startup.ts`,
      );}
  }
  if (!Number.isInteger(runs) || runs < 1) {
    throw new Error("bench: --runs needs a positive integer");
  }
  const trunks = bin ? { path: bin, args: [] } : selfCommand();
  return { runs, trunks, url, check };
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

async function timed(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Result> {
  const t0 = performance.now();
  const out = await new Deno.Command(cmd, {
    args,
    cwd: opts.cwd,
    env: opts.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - t0;
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr), ms };
}

function firstLine(s: string): string {
  return s.split("\n").find((l) => l.trim())?.trim() ?? "(no output)";
}

/** Median of N runs after two warm-ups (page cache, code cache); fails on any failed run. */
async function median(
  label: string,
  runs: number,
  run: () => Promise<Result>,
): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs + 2; i++) {
    const r = await run();
    if (r.code !== 0) {
      throw new Error(`bench: ${label} failed (exit ${r.code}): ${firstLine(r.stderr)}`);
    }
    if (i >= 2) times.push(r.ms);
  }
  times.sort((a, b) => a - b);
  const mid = Math.floor(times.length / 2);
  return times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
}

/** A git environment that ignores the user's config and has an identity. */
function gitEnv(home: string, path: string): Record<string, string> {
  return {
    HOME: home,
    PATH: path,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_AUTHOR_NAME: "bench",
    GIT_AUTHOR_EMAIL: "bench@example.invalid",
    GIT_COMMITTER_NAME: "bench",
    GIT_COMMITTER_EMAIL: "bench@example.invalid",
  };
}

async function git(args: string[], cwd: string, env: Record<string, string>): Promise<void> {
  const r = await timed("git", args, { cwd, env });
  if (r.code !== 0) throw new Error(`bench: git ${args.join(" ")} failed: ${firstLine(r.stderr)}`);
}

export interface Fixture {
  /** Working repository (the cwd for every measured command). */
  repo: string;
  bare: string;
  /** `trunks::...` URL of a trunk holding the same commit as `bare`. */
  trunkUrl: string;
  env: Record<string, string>;
}

/**
 * One commit in a working repo, a bare clone of it, and the same commit pushed through the
 * helper into a trunk on local disk. Throws a one-line error when the helper cannot push.
 */
export async function prepareFixture(
  tmp: string,
  trunks: TrunksCommand,
  url?: string,
): Promise<Fixture> {
  const bin = join(tmp, "bin");
  await installHelper(bin, trunks.path, trunks.args);
  const env = gitEnv(join(tmp, "home"), `${bin}:${Deno.env.get("PATH") ?? ""}`);
  await Deno.mkdir(env.HOME, { recursive: true });
  const repo = join(tmp, "repo");
  await git(["init", "-q", "-b", "main", repo], tmp, env);
  await Deno.writeTextFile(join(repo, "README"), "bench\n");
  await git(["add", "README"], repo, env);
  await git(["commit", "-q", "-m", "bench"], repo, env);
  const bare = join(tmp, "bare.git");
  await git(["clone", "-q", "--bare", repo, bare], tmp, env);
  if (url) return { repo, bare, trunkUrl: url, env };
  const store = join(tmp, "store");
  await Deno.mkdir(store);
  const trunkUrl = `trunks::local://${store}/trunks/bench.trunk`;
  const push = await timed("git", ["push", "-q", trunkUrl, "main"], { cwd: repo, env });
  if (push.code !== 0) {
    throw new Error(
      `bench: the remote helper cannot push to a local trunk yet (git push ${trunkUrl} main: ` +
        `${firstLine(push.stderr)}); it is needed to measure the helper's start-up`,
    );
  }
  return { repo, bare, trunkUrl, env };
}

function fmt(ms: number): string {
  return `${ms.toFixed(1).padStart(7)} ms`;
}

async function main(): Promise<number> {
  const opts = parseArgs(Deno.args);
  const { runs, trunks } = opts;
  const shown = [trunks.path, ...trunks.args].join(" ");
  console.log(`trunks start-up, median of ${runs} runs; trunks = ${shown}`);
  const tmp = await Deno.makeTempDir({ prefix: "trunks-bench-" });
  const results: Record<string, number> = {};
  try {
    results.version = await median(
      "trunks --version",
      runs,
      () => timed(trunks.path, [...trunks.args, "--version"]),
    );
    console.log(`  trunks --version                ${fmt(results.version)}`);
    const fx = await prepareFixture(tmp, trunks, opts.url);
    const lsRemote = (target: string) => () =>
      timed("git", ["ls-remote", target], { cwd: fx.repo, env: fx.env });
    results.bare = await median("git ls-remote <bare repo>", runs, lsRemote(fx.bare));
    results.trunk = await median(`git ls-remote ${fx.trunkUrl}`, runs, lsRemote(fx.trunkUrl));
    results.added = results.trunk - results.bare;
    const verdict = results.added < TARGET_MS ? "ok" : "OVER TARGET";
    console.log(`  git ls-remote <bare repo>       ${fmt(results.bare)}`);
    console.log(`  git ls-remote <local trunk>     ${fmt(results.trunk)}`);
    console.log(
      `  added by the helper             ${
        fmt(results.added)
      }   (target < ${TARGET_MS} ms: ${verdict})`,
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
  const dir = fileURLToPath(new URL("./results/", import.meta.url));
  await Deno.mkdir(dir, { recursive: true });
  const file = join(dir, `startup-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  await Deno.writeTextFile(
    file,
    JSON.stringify({ trunks: shown, runs, ms: results, target_ms: TARGET_MS }, null, 2) + "\n",
  );
  console.log(`  results: ${file}`);
  return opts.check && results.added >= TARGET_MS ? 1 : 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    Deno.exit(1);
  }
}
