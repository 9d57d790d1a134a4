/**
 * Core benchmark: trunks vs plain git to a bare repository over file://, on the corpus
 * and on a generated repository of 100k+ objects. Initial push, clone, one-commit
 * incremental push, up-to-date fetch: time (median of --runs), and store operations
 * for trunks.
 *
 *   deno run -A bench/core.ts [--runs 3] [--commits 12000] [--root <storage root URL>] [--skip-generated]
 *
 * `--root` points trunks at another storage (e.g. `s3://bench?endpoint=http://127.0.0.1:9000`,
 * with credentials in the environment); the default is a temp dir on local disk.
 */
import "./run_tmp.ts";
import { parseArgs } from "node:util";
import {
  type Env,
  fmtMs,
  formatRequests,
  generateRepo,
  machineLine,
  makeEnv,
  median,
  mirrorCorpus,
  objectCount,
  ok,
  table,
  type Timed,
  timed,
} from "./lib.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    commits: { type: "string", default: "12000" },
    root: { type: "string" },
    "skip-generated": { type: "boolean", default: false },
  },
});
const runs = Number(values.runs);

interface Result {
  workload: string;
  git: number;
  trunks: number;
  requests?: Record<string, number>;
}

async function medianOf(
  n: number,
  f: (i: number) => Promise<Timed>,
): Promise<{ ms: number; last: Timed }> {
  const times: number[] = [];
  let last!: Timed;
  for (let i = 0; i < n; i++) {
    last = await f(i);
    times.push(last.ms);
  }
  return { ms: median(times), last };
}

async function storageRoot(): Promise<string> {
  return values.root ?? `local://${await Deno.makeTempDir({ prefix: "bench-store-" })}`;
}

function trunkUrlIn(root: string, name: string): string {
  const u = new URL(root);
  u.pathname = `${u.pathname.replace(/\/+$/, "")}/trunks/${name}.trunk`;
  return u.toString();
}

async function benchRepo(e: Env, label: string, src: string): Promise<Result[]> {
  const tmp = await Deno.makeTempDir({ prefix: "bench-" });
  const refspecs = ["refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*"];
  const results: Result[] = [];

  // Initial push: a fresh destination each run.
  const bares: string[] = [];
  const urls: string[] = [];
  const gitPush = await medianOf(runs, async (i) => {
    const bare = `${tmp}/bare${i}.git`;
    await ok(e, "git", ["init", "-q", "--bare", bare]);
    bares.push(bare);
    return await timed(e, "git", ["push", "-q", `file://${bare}`, ...refspecs], { cwd: src });
  });
  const root = await storageRoot();
  const trunksPush = await medianOf(runs, async (i) => {
    const url = trunkUrlIn(root, `${label.replace(/\W+/g, "-")}-${i}-${Date.now()}`);
    urls.push(url);
    return await timed(e, "git", ["push", "-q", `trunks::${url}`, ...refspecs], { cwd: src });
  });
  results.push({
    workload: "initial push",
    git: gitPush.ms,
    trunks: trunksPush.ms,
    requests: trunksPush.last.requests,
  });

  // At least two clones: one takes the incremental pushes, the other fetches.
  const clones = Math.max(runs, 2);
  const gitClone = await medianOf(
    clones,
    (i) => timed(e, "git", ["clone", "-q", "--no-local", `file://${bares[0]}`, `${tmp}/gc${i}`]),
  );
  const trunksClone = await medianOf(
    clones,
    (i) => timed(e, "git", ["clone", "-q", `trunks::${urls[0]}`, `${tmp}/tc${i}`]),
  );
  results.push({
    workload: "clone",
    git: gitClone.ms,
    trunks: trunksClone.ms,
    requests: trunksClone.last.requests,
  });

  const commit = async (dir: string, i: number) => {
    await Deno.writeTextFile(`${dir}/bench-${i}.txt`, `change ${i} ${Date.now()}\n`);
    await ok(e, "git", ["add", "."], { cwd: dir });
    await ok(e, "git", ["commit", "-qm", `bench ${i}`], { cwd: dir });
  };
  const gitInc = await medianOf(runs, async (i) => {
    await commit(`${tmp}/gc0`, i);
    return await timed(e, "git", ["push", "-q", "origin", "HEAD"], { cwd: `${tmp}/gc0` });
  });
  const trunksInc = await medianOf(runs, async (i) => {
    await commit(`${tmp}/tc0`, i);
    return await timed(e, "git", ["push", "-q", "origin", "HEAD"], { cwd: `${tmp}/tc0` });
  });
  results.push({
    workload: "one-commit push",
    git: gitInc.ms,
    trunks: trunksInc.ms,
    requests: trunksInc.last.requests,
  });

  await ok(e, "git", ["fetch", "-q"], { cwd: `${tmp}/gc1` });
  await ok(e, "git", ["fetch", "-q"], { cwd: `${tmp}/tc1` });
  const gitFetch = await medianOf(
    runs,
    () => timed(e, "git", ["fetch", "-q"], { cwd: `${tmp}/gc1` }),
  );
  const trunksFetch = await medianOf(
    runs,
    () => timed(e, "git", ["fetch", "-q"], { cwd: `${tmp}/tc1` }),
  );
  results.push({
    workload: "up-to-date fetch",
    git: gitFetch.ms,
    trunks: trunksFetch.ms,
    requests: trunksFetch.last.requests,
  });

  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  return results;
}

function report(label: string, objects: number, results: Result[]): string {
  const rows = results.map((r) => [
    r.workload,
    fmtMs(r.git),
    fmtMs(r.trunks),
    `${(r.trunks / r.git).toFixed(2)}x`,
    formatRequests(r.requests),
  ]);
  return `\n## ${label} (${objects} objects)\n\n` +
    table(["workload", "git file://", "trunks", "ratio", "trunks store ops"], rows);
}

const e = await makeEnv();
const out: string[] = [
  `# trunks core benchmark`,
  ``,
  `machine: ${await machineLine()}`,
  `runs: median of ${runs}`,
];
out.push(`storage: ${values.root ?? "local disk (temp dir)"}`);

const corpus = `${await Deno.makeTempDir()}/express.git`;
await mirrorCorpus(e, corpus);
out.push(
  report("corpus: express", await objectCount(e, corpus), await benchRepo(e, "express", corpus)),
);
console.log(out.join("\n"));

if (!values["skip-generated"]) {
  const gen = `${await Deno.makeTempDir()}/generated.git`;
  await generateRepo(e, gen, { commits: Number(values.commits) });
  const section = report(
    "generated",
    await objectCount(e, gen),
    await benchRepo(e, "generated", gen),
  );
  console.log(section);
}
