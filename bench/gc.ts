/**
 * GC benchmark: a repository that arrived in many small pushes (default 1,000), cloned
 * before and after compaction, side by side with plain git (a bare repository that got
 * the same pushes, before and after `git gc`).
 *
 *   deno run -A bench/gc.ts [--pushes 1000] [--runs 3] [--root <storage root URL>] [--real-pushes]
 *
 * By default the trunk's pushes are written in-process (the same segment and ref entry
 * per commit a `git push` writes, harness/many_pushes.ts); `--real-pushes` runs one `git push`
 * per commit instead (slow: a process start per push).
 */
import "./run_tmp.ts";
import { parseArgs } from "node:util";
import { simulatePushes } from "../harness/many_pushes.ts";
import {
  type Env,
  fmtMs,
  formatRequests,
  generateRepo,
  machineLine,
  makeEnv,
  median,
  ok,
  table,
  type Timed,
  timed,
} from "./lib.ts";

const { values } = parseArgs({
  options: {
    pushes: { type: "string", default: "1000" },
    runs: { type: "string", default: "3" },
    root: { type: "string" },
    "real-pushes": { type: "boolean", default: false },
  },
});
const pushes = Number(values.pushes);
const runs = Number(values.runs);

async function cloneTimes(e: Env, url: string): Promise<{ ms: number; last: Timed }> {
  const times: number[] = [];
  let last!: Timed;
  for (let i = 0; i < runs; i++) {
    const dir = `${await Deno.makeTempDir({ prefix: "bench-clone-" })}/c`;
    last = await timed(e, "git", ["clone", "-q", url, dir]);
    times.push(last.ms);
    await Deno.remove(dir, { recursive: true });
  }
  return { ms: median(times), last };
}

async function sizeOf(dir: string): Promise<number> {
  let n = 0;
  for await (const f of Deno.readDir(dir)) {
    const p = `${dir}/${f.name}`;
    n += f.isDirectory ? await sizeOf(p) : (await Deno.stat(p)).size;
  }
  return n;
}

const e = await makeEnv();
const work = await Deno.makeTempDir({ prefix: "bench-gc-" });
const src = `${work}/src.git`;
console.error(`generating ${pushes} commits`);
await generateRepo(e, src, { commits: pushes, branches: 0 });
const commits = (await ok(e, "git", ["rev-list", "--reverse", "main"], { cwd: src })).trim()
  .split("\n");

// Plain git: a bare repository that received one push per commit.
const bare = `${work}/bare.git`;
await ok(e, "git", ["init", "-q", "--bare", "-b", "main", bare]);
console.error(`plain git: ${pushes} pushes`);
for (const c of commits) {
  await ok(e, "git", ["push", "-q", `file://${bare}`, `${c}:refs/heads/main`], { cwd: src });
}

// trunks: the same pushes.
const root = values.root ?? `local://${work}/store`;
if (!values.root) await Deno.mkdir(`${work}/store`);
const u = new URL(root);
u.pathname = `${u.pathname.replace(/\/+$/, "")}/trunks/bench.trunk`;
const url = u.toString();
console.error(`trunks: ${pushes} pushes (${values["real-pushes"] ? "git push" : "in-process"})`);
const tPush = performance.now();
if (values["real-pushes"]) {
  for (const c of commits) {
    await ok(e, "git", ["push", "-q", `trunks::${url}`, `${c}:refs/heads/main`], { cwd: src });
  }
} else {
  await simulatePushes(e, src, url, {});
}
const pushMs = performance.now() - tPush;

console.error("cloning before compaction");
const gitBefore = await cloneTimes(e, `file://${bare}`);
const gitBeforeSize = await sizeOf(`${bare}/objects`);
const trunksBefore = await cloneTimes(e, `trunks::${url}`);

console.error("compacting");
const gcGit = await timed(e, "git", ["gc", "-q", "--prune=now"], { env: { GIT_DIR: bare } });
const check = await timed(e, "trunks", ["check", url]);
const clean = await timed(e, "trunks", ["check", url, "--clean", "--grace", "0", "--json"]);
const cleaned = JSON.parse(clean.stdout);

console.error("cloning after compaction");
const gitAfter = await cloneTimes(e, `file://${bare}`);
const trunksAfter = await cloneTimes(e, `trunks::${url}`);

// A trunk pushed once, for the yardstick "as fast as one pushed once".
const onceUrl = url.replace("bench.trunk", "once.trunk");
await ok(e, "git", ["push", "-q", `trunks::${onceUrl}`, "main"], { cwd: src });
const once = await cloneTimes(e, `trunks::${onceUrl}`);

console.log(`# trunks check --clean: ${pushes} small pushes, clone before and after\n`);
console.log(`${await machineLine()}; storage ${root.replace(/\?.*$/, "")}; median of ${runs}\n`);
console.log(table(
  ["clone", "git (file://)", "trunks", "trunks store requests"],
  [
    [
      `after ${pushes} pushes`,
      fmtMs(gitBefore.ms),
      fmtMs(trunksBefore.ms),
      formatRequests(trunksBefore.last.requests),
    ],
    [
      "after git gc / trunks check --clean",
      fmtMs(gitAfter.ms),
      fmtMs(trunksAfter.ms),
      formatRequests(trunksAfter.last.requests),
    ],
    ["pushed once (trunks)", "", fmtMs(once.ms), formatRequests(once.last.requests)],
  ],
));
console.log("");
console.log(table(["step", "time"], [
  [`trunks: ${pushes} pushes`, fmtMs(pushMs)],
  ["git gc --prune=now", fmtMs(gcGit.ms)],
  [`trunks check (${pushes} segments)`, fmtMs(check.ms)],
  ["trunks check --clean --grace 0", fmtMs(clean.ms)],
]));
console.log(
  `\ncompacted ${cleaned.clean.compacted?.replaces} segments into one of ${cleaned.clean.compacted?.objects} objects; ` +
    `deleted ${cleaned.clean.deleted.segments.length}; git objects dir before gc ${
      (gitBeforeSize / 1024 / 1024).toFixed(1)
    } MiB`,
);
await Deno.remove(work, { recursive: true }).catch(() => {});
