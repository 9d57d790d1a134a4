/**
 * The long-log clone on a distant store: 2,000 one-commit pushes to a trunk on MinIO (by the
 * library, background maintenance on, as `bench/long_clone.ts` makes the ones between its
 * git samples), then fresh clones through bench/proxy.ts with a delay per request (a store
 * in another region), each with its requests and sequential round trips. Loopback MinIO
 * hides every round trip; this is where the clone's waits show (the listing's pages, the
 * sidecars, the segments downloaded so many at once).
 *
 *   deno run -A bench/long_clone_latency.ts [--pushes 2000] [--latency 50] [--runs 3] [--trace]
 *     [--other CHECKOUT]...
 *
 * `--other`: trunks from another checkout clones the same trunk in the same rounds, the order
 * flipped every round (an A/B of two codes on one trunk: background maintenance leaves a
 * different trunk each run, so figures from two runs compare less well).
 *
 * MinIO: `eval "$(bash scripts/test-servers.sh up minio | sed 's/^/export /')"`.
 */
import "./run_tmp.ts";
import { parseArgs } from "node:util";
import { Trunk } from "../mod.ts";
import { makeEnv, median, ok, otherCheckoutPath } from "./lib.ts";
import { rounds, startProxy } from "./proxy.ts";
import { minioFromEnv } from "./tools.ts";
import { loadLine, sampleLoad } from "./notes.ts";

const { values } = parseArgs({
  options: {
    pushes: { type: "string", default: "2000" },
    latency: { type: "string", default: "50" },
    runs: { type: "string", default: "3" },
    trace: { type: "boolean", default: false },
    other: { type: "string", multiple: true, default: [] },
  },
});
const pushes = Number(values.pushes);
const latencyMs = Number(values.latency!.replace(/ms$/, ""));
const runs = Number(values.runs);
const minio = minioFromEnv();
if (!minio) {
  throw new Error(
    "bench: MinIO is not running; see the comment at the top of bench/long_clone_latency.ts",
  );
}
const creds = {
  AWS_ACCESS_KEY_ID: minio.accessKey,
  AWS_SECRET_ACCESS_KEY: minio.secretKey,
  AWS_REGION: "us-east-1",
};
// The library in this process reads them as the helper does.
for (const [k, v] of Object.entries(creds)) Deno.env.set(k, v);
const e = await makeEnv(creds);
const path = `long-${crypto.randomUUID().slice(0, 8)}/trunks/long.trunk`;
const at = (endpoint: string) =>
  `s3://${minio.bucket}/${path}?endpoint=${encodeURIComponent(endpoint)}`;

const t0 = performance.now();
const lib = await Trunk.open({ url: at(minio.endpoint), writer: "bench", create: true });
for (let i = 0; i < pushes; i++) {
  lib.write(`f${i % 50}.txt`, `${i}\n`);
  await lib.commit({ message: `c${i}`, branch: "main" });
  await lib.push();
}
await lib.close();
const pushedMs = performance.now() - t0;

const proxy = startProxy(minio.endpoint, { latencyMs });
const url = `trunks::${at(proxy.endpoint)}`;
const tmp = await Deno.makeTempDir({ prefix: "trunks-long-latency-" });
const sides: { label: string; path?: string }[] = [{ label: "trunks (this checkout)" }];
for (const o of values.other) {
  sides.push({ label: `trunks (${o})`, path: await otherCheckoutPath(e, o) });
}
const start = await sampleLoad();
const got = sides.map(() => [] as { ms: number; requests: number; rounds: number }[]);
for (let n = 0; n < runs * sides.length; n++) {
  const i = Math.floor(n / sides.length);
  const k = i % 2 ? sides.length - 1 - (n % sides.length) : n % sides.length;
  const before = proxy.snapshot().spans.length;
  const c0 = performance.now();
  await ok(e, "git", ["clone", "-q", url, `${tmp}/c${n}`], {
    cwd: tmp,
    env: { TRUNKS_AUTO_MAINTENANCE: "0", ...(sides[k].path ? { PATH: sides[k].path! } : {}) },
  });
  const ms = performance.now() - c0;
  const trace = proxy.trace(before);
  got[k].push({ ms, requests: trace.length, rounds: rounds(trace.map((t) => t.span)) });
  if (values.trace && i === runs - 1) {
    console.error(`--- ${sides[k].label}`);
    for (const t of trace) {
      console.error(
        `${(t.span[0] - c0).toFixed(0).padStart(6)} ${(t.span[1] - c0).toFixed(0).padStart(6)} ${
          t.what.slice(0, 160)
        }`,
      );
    }
  }
  await Deno.remove(`${tmp}/c${n}`, { recursive: true });
}
const end = await sampleLoad();
await proxy.close();
console.log(
  `${pushes} pushes by the library (${
    (pushedMs / 1000).toFixed(0)
  } s), then ${runs} fresh clones ` +
    `at ${latencyMs} ms a request; ${loadLine(start, end)}\n`,
);
console.log("| clone | wall (median) | wall range | requests | rounds |");
console.log("|---|---|---|---|---|");
sides.forEach((side, k) => {
  const ms = got[k].map((g) => g.ms);
  console.log(
    `| ${side.label}, MinIO at ${latencyMs} ms | ${(median(ms) / 1000).toFixed(3)} s | ${
      (Math.min(...ms) / 1000).toFixed(3)
    }-${(Math.max(...ms) / 1000).toFixed(3)} s | ${got[k].at(-1)!.requests} | ${
      got[k].at(-1)!.rounds
    } |`,
  );
});
await Deno.remove(tmp, { recursive: true }).catch(() => {});
