/**
 * Issue 19's long-log clone (2,000 one-commit pushes, then a fresh clone ≤ 2x `git clone
 * --no-local` of the same history), measured as `bench/clone_ratio.ts` measures the corpus:
 * one trunk and one bare repository, then clones alternated (the order flipped every round)
 * with wall and CPU time (user + system of the whole process tree) for each, so that load on
 * a shared machine bends every side alike.
 *
 *   deno run -A bench/long_clone.ts [--pushes 2000] [--runs 10] [--lease SECONDS] [--other CHECKOUT]...
 *
 * The pushes are made as `bench/metadata.ts --git-sample 5` makes them: the first and last
 * five through git and the helper (background maintenance on), the ones between by the
 * library in this process. `--lease`: the trunk is created with that lease, and once the
 * pushes are done, two leases on, one more push runs its maintenance step before the clones
 * (as `bench/metadata.ts --lease` does): the superseded entries pruned and the merged
 * segments deleted, the trunk as it stands after a quiet hour at the default lease.
 * `--other`: trunks from another checkout (e.g. a detached worktree
 * of an older main) clones the same trunk in the same rounds (an A/B of two codes).
 */
import "./run_tmp.ts";
import { parseArgs } from "node:util";
import { Trunk } from "../mod.ts";
import { makeEnv, median, ok, otherCheckoutPath } from "./lib.ts";
import { run } from "../harness/env.ts";
import { loadLine, sampleLoad } from "./notes.ts";

const { values } = parseArgs({
  options: {
    pushes: { type: "string", default: "2000" },
    runs: { type: "string", default: "10" },
    other: { type: "string", multiple: true, default: [] },
    lease: { type: "string" },
  },
});
const pushes = Number(values.pushes);
const runs = Number(values.runs);
const SAMPLE = 5;

const e = await makeEnv(values.lease ? { TRUNKS_LEASE_SECONDS: values.lease } : {});
const tmp = await Deno.makeTempDir({ prefix: "trunks-long-clone-" });
const work = `${tmp}/long`;
const bare = `${tmp}/long-bare.git`;
await ok(e, "git", ["init", "-q", "-b", "main", work]);
await ok(e, "git", ["init", "-q", "--bare", bare]);
await Deno.mkdir(`${tmp}/store`);
const url = `local://${tmp}/store/trunks/long.trunk`;
let library: Trunk | null = null;
for (let i = 0; i < pushes; i++) {
  if (i >= SAMPLE && i < pushes - SAMPLE) {
    library ??= await Trunk.open({ url, writer: "bench" });
    library.write(`f${i % 50}.txt`, `${i}\n`);
    await library.commit({ message: `c${i}`, branch: "main" });
    await library.push();
    continue;
  }
  if (library) {
    await library.close();
    library = null;
    await ok(e, "git", ["pull", "-q", "--ff-only", `trunks::${url}`, "main"], { cwd: work });
    await ok(e, "git", ["push", "-q", `file://${bare}`, "main"], { cwd: work });
  }
  await Deno.writeTextFile(`${work}/f${i % 50}.txt`, `${i}\n`);
  await ok(e, "git", ["add", "."], { cwd: work });
  await ok(e, "git", ["commit", "-qm", `c${i}`], { cwd: work });
  await ok(e, "git", ["push", "-q", `file://${bare}`, "main"], { cwd: work });
  await ok(e, "git", ["push", "-q", `trunks::${url}`, "main"], {
    cwd: work,
    env: { TRUNKS_AUTO_MAINTENANCE: "1" },
  });
}
await library?.close();
// A background maintenance step may still run: the clones measure the trunk it leaves.
for (let i = 0; i < 600; i++) {
  if (!await Deno.stat(`${work}/.git/trunks-maintenance.lock`).then(() => true, () => false)) {
    break;
  }
  await new Promise((r) => setTimeout(r, 100));
}

if (values.lease) {
  // Two leases on, one more push: the step it starts (awaited here) prunes the burst.
  await new Promise((r) => setTimeout(r, 2000 * Number(values.lease) + 1000));
  await Deno.writeTextFile(`${work}/after.txt`, "after two leases\n");
  await ok(e, "git", ["add", "."], { cwd: work });
  await ok(e, "git", ["commit", "-qm", "after two leases"], { cwd: work });
  await ok(e, "git", ["push", "-q", `file://${bare}`, "main"], { cwd: work });
  await ok(e, "git", ["push", "-q", `trunks::${url}`, "main"], {
    cwd: work,
    env: { TRUNKS_AUTO_MAINTENANCE: "wait" },
  });
}

const sides: { label: string; source: string; path?: string }[] = [
  { label: "git clone --no-local", source: bare },
  { label: "trunks (this checkout)", source: `trunks::${url}` },
];
for (const o of values.other) {
  sides.push({
    label: `trunks (${o})`,
    source: `trunks::${url}`,
    path: await otherCheckoutPath(e, o),
  });
}

const got = sides.map(() => [] as { ms: number; cpuMs: number; packs: number }[]);
const start = await sampleLoad();
for (let i = 0; i < runs; i++) {
  const order = sides.map((_, k) => k);
  if (i % 2) order.reverse();
  for (const k of order) {
    const dest = `${tmp}/c-${k}-${i}`;
    const times = `${tmp}/times`;
    const t0 = performance.now();
    const r = await run(e, "/usr/bin/time", [
      "-q",
      "-f",
      "%U %S",
      "-o",
      times,
      "git",
      "clone",
      "-q",
      ...(k === 0 ? ["--no-local"] : []),
      sides[k].source,
      dest,
    ], { cwd: tmp, env: sides[k].path ? { PATH: sides[k].path! } : {} });
    const ms = performance.now() - t0;
    if (r.code !== 0) throw new Error(`${sides[k].label}: clone failed:\n${r.stderr}`);
    const [user, sys] = (await Deno.readTextFile(times)).trim().split("\n").pop()!.split(" ")
      .map(Number);
    const packs = [...Deno.readDirSync(`${dest}/.git/objects/pack`)]
      .filter((f) => f.name.endsWith(".pack")).length;
    got[k].push({ ms, cpuMs: (user + sys) * 1000, packs });
    await Deno.remove(dest, { recursive: true });
  }
}
const end = await sampleLoad();

const f = (ms: number) => `${ms.toFixed(0)} ms`;
const x = (r: number) => `${r.toFixed(2)}x`;
/** Keys the trunk holds under `dir` (files, at any depth): what a clone lists. */
const keys = async (dir: string): Promise<number> => {
  let n = 0;
  for await (const f of Deno.readDir(dir)) n += f.isDirectory ? await keys(`${dir}/${f.name}`) : 1;
  return n;
};
const trunkDir = `${tmp}/store/trunks/long.trunk`;
console.log(
  `${pushes} pushes${
    values.lease ? `, lease ${values.lease} s, one more push two leases later` : ""
  }, then ${runs} alternated clones each (the trunk: ${await keys(
    `${trunkDir}/refs`,
  )} keys under refs/, ${await keys(`${trunkDir}/segments`)} under segments/); ${
    loadLine(start, end)
  }\n`,
);
console.log(
  "| side | wall (median) | wall range | CPU (median) | packs | vs git: median of pairs (wall / CPU) |",
);
console.log("|---|---|---|---|---|---|");
got.forEach((g, k) => {
  const pairs = k === 0
    ? ""
    : `${x(median(g.map((m, i) => m.ms / got[0][i].ms)))} / ${
      x(median(g.map((m, i) => m.cpuMs / got[0][i].cpuMs)))
    }`;
  const ms = g.map((m) => m.ms);
  console.log(
    `| ${sides[k].label} | ${f(median(ms))} | ${f(Math.min(...ms))}-${f(Math.max(...ms))} | ${
      f(median(g.map((m) => m.cpuMs)))
    } | ${Math.max(...g.map((m) => m.packs))} | ${pairs} |`,
  );
});
await Deno.remove(tmp, { recursive: true }).catch(() => {});
