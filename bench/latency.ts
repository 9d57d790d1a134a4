/**
 * Issue 19's latency targets, on MinIO behind bench/proxy.ts with a delay per request (a
 * store in another region): the corpus pushed and cloned, a one-commit push and an
 * up-to-date fetch, each with its requests and sequential round trips (the longest chain
 * of requests each sent after the previous one was answered). The helper's own start-up
 * (`git-remote-trunks` answering `capabilities` and exiting, no store touched) is measured
 * in the same run, and every time is also given minus that start-up. The corpus clone is
 * measured twice: before any maintenance (every ref's entry read) and after one
 * `trunks maintenance` step (a snapshot), which is what users, with maintenance on, clone.
 *
 *   deno run -A bench/latency.ts [--latency 50] [--runs 5] [--trace]
 *
 * MinIO: `eval "$(bash scripts/test-servers.sh up minio | sed 's/^/export /')"`.
 * --trace: print every request of the last run of each workload (start, end, what).
 */
import "./run_tmp.ts";
import { parseArgs } from "node:util";
import { makeEnv, median, mirrorCorpus, ok } from "./lib.ts";
import { run } from "../harness/env.ts";
import { diff, type Proxy, rounds, startProxy } from "./proxy.ts";
import { minioFromEnv } from "./tools.ts";
import { sampleLoad } from "./notes.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    latency: { type: "string", default: "50" },
    runs: { type: "string", default: "5" },
    trace: { type: "boolean", default: false },
  },
});
const latencyMs = Number(values.latency!.replace(/ms$/, ""));
const runs = Number(values.runs);
const minio = minioFromEnv();
if (!minio) {
  throw new Error("bench: MinIO is not running; see the comment at the top of bench/latency.ts");
}
const e = await makeEnv({
  AWS_ACCESS_KEY_ID: minio.accessKey,
  AWS_SECRET_ACCESS_KEY: minio.secretKey,
  AWS_REGION: "us-east-1",
});
const proxy: Proxy = startProxy(minio.endpoint, { latencyMs });
const tmp = await Deno.makeTempDir({ prefix: "trunks-latency-" });
const url = `trunks::s3://${minio.bucket}/latency-${
  crypto.randomUUID().slice(0, 8)
}/trunks/express.trunk?endpoint=${encodeURIComponent(proxy.endpoint)}`;

interface Sample {
  ms: number;
  requests: number;
  rounds: number;
  byMethod: Record<string, number>;
}

async function timed(args: string[], cwd: string, label: string): Promise<Sample> {
  const before = proxy.snapshot();
  const t0 = performance.now();
  await ok(e, "git", args, { cwd });
  const ms = performance.now() - t0;
  const c = diff(proxy.snapshot(), before);
  if (values.trace) {
    console.error(`--- ${label}: ${c.requests} requests, ${rounds(c.spans)} rounds`);
    for (const t of proxy.trace(before.spans.length)) {
      console.error(
        `${(t.span[0] - t0).toFixed(0).padStart(6)} ${
          (t.span[1] - t0).toFixed(0).padStart(6)
        } ${t.what}`,
      );
    }
  }
  return { ms, requests: c.requests, rounds: rounds(c.spans), byMethod: c.byMethod };
}

/** The helper's bare start: answer `capabilities`, read end of input, exit. */
async function startup(): Promise<number> {
  const t0 = performance.now();
  const r = await run(e, "git-remote-trunks", ["origin", url], {
    cwd: tmp,
    stdin: "capabilities\n\n",
  });
  if (r.code !== 0 || !r.stdout.includes("fetch")) throw new Error(`helper: ${r.stderr}`);
  return performance.now() - t0;
}

const load0 = await sampleLoad();
const src = `${tmp}/express.git`;
await mirrorCorpus(e, src);
const rows: [string, Sample[]][] = [];
const push = await timed(
  ["push", "-q", url, "refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*"],
  src,
  "corpus push",
);
rows.push(["corpus push (initial, 323 refs)", [push]]);
const clones: Sample[] = [];
for (let i = 0; i < runs; i++) {
  clones.push(await timed(["clone", "-q", url, `${tmp}/c${i}`], tmp, "corpus clone"));
}
rows.push(["corpus clone (no snapshot: one GET per ref)", clones]);
// The harness turns background maintenance off, so the clones above read every ref's
// entry; a user's push past the thresholds leaves a snapshot behind, which one step makes.
await ok(e, "trunks", ["maintenance", url.slice("trunks::".length), "--json"], { cwd: tmp });
const snapClones: Sample[] = [];
for (let i = 0; i < runs; i++) {
  snapClones.push(await timed(["clone", "-q", url, `${tmp}/s${i}`], tmp, "corpus clone"));
}
rows.push(["corpus clone (with a snapshot, as users get)", snapClones]);
const work = `${tmp}/c0`;
const incs: Sample[] = [];
for (let i = 0; i < runs; i++) {
  await Deno.writeTextFile(`${work}/latency-${i}.txt`, `change ${i}\n`);
  await ok(e, "git", ["add", "."], { cwd: work });
  await ok(e, "git", ["commit", "-qm", `latency ${i}`], { cwd: work });
  incs.push(await timed(["push", "-q", "origin", "HEAD"], work, "one-commit push"));
}
rows.push(["one-commit push", incs]);
const reader = `${tmp}/c1`;
await ok(e, "git", ["fetch", "-q"], { cwd: reader });
const fetches: Sample[] = [];
for (let i = 0; i < runs; i++) {
  fetches.push(await timed(["fetch", "-q"], reader, "up-to-date fetch"));
}
rows.push(["up-to-date fetch", fetches]);
const starts: number[] = [];
for (let i = 0; i < runs; i++) starts.push(await startup());
const load1 = await sampleLoad();
const start = median(starts);

// Milliseconds shown: the targets sit within 10-20 ms of what is measured.
const s = (ms: number) => `${(ms / 1000).toFixed(3)} s`;
console.log(`latency ${latencyMs} ms per request, median of ${runs} (initial push: 1 run)`);
console.log(
  `load (1/5/15 min) ${load0.loadavg.join("/")} at ${load0.at}, ${
    load1.loadavg.join("/")
  } at ${load1.at}`,
);
console.log(`helper start-up (capabilities, exit): ${s(start)} (${starts.map(s).join(", ")})\n`);
console.log("| workload | time | minus start-up | requests | rounds | by method |");
console.log("|---|---|---|---|---|---|");
for (const [name, xs] of rows) {
  const ms = median(xs.map((x) => x.ms));
  const last = xs[xs.length - 1];
  console.log(
    `| ${name} | ${s(ms)} | ${s(ms - start)} | ${last.requests} | ${last.rounds} | ${
      Object.entries(last.byMethod).map(([k, v]) => `${v} ${k}`).join(", ")
    } |`,
  );
}
await proxy.close();
await Deno.remove(tmp, { recursive: true }).catch(() => {});
