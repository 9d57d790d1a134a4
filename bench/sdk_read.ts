/**
 * Library read benchmark: the corpus (express, 323 refs) pushed into a trunk with git,
 * then `Trunk.open` + `read("package.json")` from a fresh process state: time, store
 * requests and bytes downloaded, against the size of what a clone would download. Then
 * a few more reads in the same session, and a fresh open with a warm cache directory.
 *
 *   deno run -A bench/sdk_read.ts [--root <storage root URL>] [--runs 3] [--file package.json]
 *
 * `--root` points at another storage (e.g. `s3://bench?endpoint=http://127.0.0.1:9000`,
 * credentials in the environment); the default is a temp dir on local disk.
 */
import "./run_tmp.ts";
import { parseArgs } from "node:util";
import { Trunk } from "../mod.ts";
import { CountingStore } from "../src/storage/counting.ts";
import { requestCounts, resetRequestCounts } from "../src/storage/metrics.ts";
import { openStore } from "../src/storage/registry.ts";
import { trunkUrl } from "../src/storage/trunk_url.ts";
import { listSegments } from "../src/trunk/segments.ts";
import {
  CORPUS,
  fmtMs,
  formatRequests,
  machineLine,
  makeEnv,
  median,
  ok,
  table,
  timed,
} from "./lib.ts";

const { values } = parseArgs({
  options: {
    root: { type: "string" },
    runs: { type: "string", default: "3" },
    file: { type: "string", default: "package.json" },
  },
});
const runs = Number(values.runs);
const file = values.file!;

function kib(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

function storeOps(): string {
  const r = requestCounts().requests;
  const ops = Object.entries(r).filter(([k]) => k.startsWith("store."));
  return `${ops.reduce((a, [, v]) => a + v, 0)} (${
    ops.map(([k, v]) => `${k.slice(6)} ${v}`).join(", ")
  })`;
}

interface Sample {
  ms: number;
  bytes: number;
  ops: string;
}

/** One fresh open and the reads `work` does, measured. */
async function measure(
  url: string,
  opts: { cacheDir?: string },
  work: (t: Trunk) => Promise<void>,
): Promise<Sample> {
  resetRequestCounts();
  const store = new CountingStore(await openStore(url));
  const t0 = performance.now();
  const t = await Trunk.open({ url, store, cacheDir: opts.cacheDir });
  try {
    await work(t);
    return { ms: performance.now() - t0, bytes: t.stats.bytes, ops: storeOps() };
  } finally {
    await t.close();
    await store.close();
  }
}

// git and the helper run with a clean environment: pass the storage's own variables on.
const e = await makeEnv(
  Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) =>
      /^(AWS_|R2_|AZURE_STORAGE_|GOOGLE_|TRUNKS_STORAGE_)/.test(k)
    ),
  ),
);
const root = values.root ?? `local://${await Deno.makeTempDir({ prefix: "bench-sdk-store-" })}`;
const url = trunkUrl(root, `express-${crypto.randomUUID().slice(0, 8)}`);
const mirror = `${await Deno.makeTempDir({ prefix: "bench-sdk-corpus-" })}/express.git`;
await ok(e, "git", ["clone", "-q", "--mirror", CORPUS, mirror]);
await ok(e, "git", ["push", "-q", "--mirror", `trunks::${url}`], { cwd: mirror });
// The trunk's HEAD (the corpus bundle's own HEAD names no branch; the trunk picks one).
const head = await (async () => {
  await using t = await Trunk.open({ url });
  return (await t.head())!;
})();
const expected = await ok(e, "git", ["show", `${head}:${file}`], { cwd: mirror });

const store = await openStore(url);
const segs = await listSegments(store);
await store.close();
const packBytes = segs.reduce((n, s) => n + s.packSize, 0);
const idxBytes = segs.reduce((n, s) => n + s.idxSize, 0);

const rows: string[][] = [];
const add = (name: string, samples: Sample[]) => {
  const last = samples[samples.length - 1];
  rows.push([name, fmtMs(median(samples.map((s) => s.ms))), kib(last.bytes), last.ops]);
};

const cold: Sample[] = [];
for (let i = 0; i < runs; i++) {
  cold.push(
    await measure(url, {}, async (t) => {
      if ((await t.readText(file)) !== expected) throw new Error(`${file} read back wrong`);
    }),
  );
}
add(`open + read ${file} (cold)`, cold);

const more: Sample[] = [];
for (let i = 0; i < runs; i++) {
  more.push(
    await measure(url, {}, async (t) => {
      await t.readText(file);
      for (const p of ["README.md", "lib/express.js", "lib/router/index.js", "index.js"]) {
        if (await t.exists(p)) await t.read(p);
      }
      await t.log({ limit: 20 });
    }),
  );
}
add("open + 5 reads + log of 20 (cold)", more);

const cacheDir = await Deno.makeTempDir({ prefix: "bench-sdk-cache-" });
await measure(url, { cacheDir }, async (t) => void await t.readText(file));
const warm: Sample[] = [];
for (let i = 0; i < runs; i++) {
  warm.push(await measure(url, { cacheDir }, async (t) => void await t.readText(file)));
}
add(`open + read ${file} (warm cacheDir)`, warm);

// For scale: what plain git downloads to get the same file (a whole clone).
const cloneDir = await Deno.makeTempDir({ prefix: "bench-sdk-clone-" });
const cloned = await timed(e, "git", ["clone", "-q", `trunks::${url}`, `${cloneDir}/c`]);
rows.push([
  "git clone through the helper (reference)",
  fmtMs(cloned.ms),
  kib(packBytes),
  formatRequests(cloned.requests),
]);

console.log(`# trunks library read, corpus express (${segs.length} segment(s))`);
console.log(`${await machineLine()}; storage ${new URL(root).protocol}//; median of ${runs}`);
console.log(
  `segments: pack ${kib(packBytes)}, index ${kib(idxBytes)} (a clone downloads the pack)\n`,
);
console.log(table(["workload", "time", "downloaded", "store ops"], rows));
