/**
 * The corpus clone ratio (issue 19: trunks on local disk ≤ 1.1x `git clone --no-local` of
 * the same bare repository), measured so that load on a shared machine bends both sides
 * alike: the clones alternate (git, trunks, then trunks, git, ...), each pair is taken at
 * the same minute, and the ratio reported is the median of the pairs' ratios beside the
 * ratio of the medians, for wall time and for CPU time (user + system of the whole process
 * tree, steadier than wall time when other work shares the cores).
 *
 *   deno run -A bench/clone_ratio.ts [--runs 10] [--other /path/to/another/checkout]
 *
 * `--other`: a third side, trunks from another checkout (e.g. main in a detached
 * worktree), alternated with the other two: an A/B of two codes in the same minutes.
 * Each trunks side clones its own trunk, pushed by its own checkout's code with the
 * product's default background maintenance (as `deno task bench` does), so the two codes
 * may write different trunk formats.
 */
import "./run_tmp.ts";
import { parseArgs } from "node:util";
import { makeEnv, median, mirrorCorpus, ok } from "./lib.ts";
import { loadLine, sampleLoad } from "./notes.ts";
import { DENO_RUN_ARGS } from "../src/helper/self.ts";
import { gitTool, type Measure, measure, type Tool, trunksLocalTool } from "./tools.ts";

const { values } = parseArgs({
  options: { runs: { type: "string", default: "10" }, other: { type: "string" } },
});
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error("bench: --runs needs a positive integer");

/** A tool running trunks from `checkout` (its own git-remote-trunks first on PATH). */
async function otherTrunks(base: Tool, checkout: string, path: string): Promise<Tool> {
  const dir = await Deno.makeTempDir({ prefix: "trunks-other-bin-" });
  const main = `${await Deno.realPath(checkout)}/main.ts`;
  await Deno.writeTextFile(
    `${dir}/git-remote-trunks`,
    `#!/bin/sh\nexec ${JSON.stringify(Deno.execPath())} ${DENO_RUN_ARGS.join(" ")} ${
      JSON.stringify(main)
    } remote-helper "$@"\n`,
  );
  await Deno.chmod(`${dir}/git-remote-trunks`, 0o755);
  return {
    ...base,
    label: `trunks local (${checkout})`,
    env: { ...base.env, PATH: `${dir}:${path}` },
  };
}

const e = await makeEnv();
const tmp = await Deno.makeTempDir({ prefix: "trunks-clone-ratio-" });
const src = `${tmp}/express.git`;
await mirrorCorpus(e, src);
const refspecs = ["refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*"];
const git = await gitTool(e, tmp);
const trunks = trunksLocalTool(tmp, "this checkout", "1");
const tools = [git, trunks];
if (values.other) tools.push(await otherTrunks(trunks, values.other, e.env.PATH));
const sides: { tool: Tool; url: string }[] = [];
for (const t of tools) {
  const r = await t.newRemote("corpus");
  await measure(e, t, ["push", "-q", r.url, ...refspecs], src);
  sides.push({ tool: t, url: r.url });
}
// Background maintenance after the push settles before the first clone.
await new Promise((r) => setTimeout(r, 3000));

const got: Measure[][] = sides.map(() => []);
const start = await sampleLoad();
for (let i = 0; i < runs; i++) {
  const order = sides.map((_, k) => k);
  if (i % 2) order.reverse();
  for (const k of order) {
    const dest = `${tmp}/c-${k}-${i}`;
    got[k].push(await measure(e, sides[k].tool, ["clone", "-q", sides[k].url, dest], tmp));
    await ok(e, "rm", ["-rf", dest]);
  }
}
const end = await sampleLoad();

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const x = (r: number) => `${r.toFixed(2)}x`;
console.log(`corpus clone, ${runs} alternating runs each; ${loadLine(start, end)}\n`);
console.log(
  "| side | wall (median) | wall range | CPU (median) | vs git: median of pairs (wall / CPU) | ratio of medians (wall / CPU) |",
);
console.log("|---|---|---|---|---|---|");
const gitMs = got[0].map((m) => m.ms);
const gitCpu = got[0].map((m) => m.cpuMs);
sides.forEach(({ tool }, k) => {
  const ms = got[k].map((m) => m.ms);
  const cpu = got[k].map((m) => m.cpuMs);
  const pairs = k === 0
    ? ""
    : `${x(median(ms.map((v, i) => v / gitMs[i])))} / ${
      x(median(cpu.map((v, i) => v / gitCpu[i])))
    }`;
  const ofMedians = k === 0
    ? ""
    : `${x(median(ms) / median(gitMs))} / ${x(median(cpu) / median(gitCpu))}`;
  console.log(
    `| ${tool.label} | ${s(median(ms))} | ${s(Math.min(...ms))}-${s(Math.max(...ms))} | ${
      s(median(cpu))
    } | ${pairs} | ${ofMedians} |`,
  );
});
await Deno.remove(tmp, { recursive: true }).catch(() => {});
