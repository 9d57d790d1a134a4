/**
 * The benchmark suite: trunks side by side with plain git over file://, awslabs'
 * git-remote-s3 on the same MinIO, and the Python trunks package, then the agent swarm.
 *
 *   deno task bench [--quick] [--runs 3]
 *                   [--scenarios push,clone,incremental,fetch,small,swarm,largefile]
 *                   [--tools git,trunks-local,trunks-s3,git-remote-s3,python-trunks]
 *                   [--repos corpus,generated] [--commits 20000] [--pushes 100]
 *                   [--swarm 8,32,64] [--converge-max 8] [--heavy-runs 1] [--heavy-pushes 20]
 *                   [--blob-bytes 400] [--random-blobs]
 *                   [--python-versions 0.1.0,1.2.14] [--python-timeout 600] [--out FILE.md]
 *                   [--large-mib 1024]
 *                   [--latency 50ms] [--scenarios metadata --meta-refs 1500,20000 --meta-pushes 2000]
 *                   [--maintenance 0|1|wait]
 *
 * MinIO comes from `scripts/test-servers.sh up minio` (its env, TRUNKS_TEST_MINIO_*, must be
 * exported); every S3 tool talks to it through bench/proxy.ts, which counts requests and
 * bytes on the wire. Times are wall-clock medians of --runs; git-remote-s3's initial push and
 * clone of a many-ref repository re-upload/download the whole history per ref, so they run
 * --heavy-runs times, and it does --heavy-pushes small pushes instead of --pushes.
 * largefile: bench/largefile.ts twice, a text-like and a random file of --large-mib, pushed
 * by git (trunks, plain file://, and git-remote-s3 on MinIO when it is among --tools) and
 * written and read back by the library.
 * --quick: one run, corpus only, 10 small pushes, a swarm of 8, 64 MiB large files.
 * --latency: every request through the proxy waits that long first (a store in another region).
 * --maintenance: TRUNKS_AUTO_MAINTENANCE for trunks (default 1: background, as users get it).
 * `metadata` (only when named): many refs and a long log, trunks on local disk vs plain git.
 * Results: markdown on stdout (and --out), raw JSON under bench/results/.
 */
import "./run_tmp.ts";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { generateRepo, makeEnv, median, mirrorCorpus, objectCount, ok, type Row } from "./lib.ts";
import type { Env } from "../harness/env.ts";
import { type Load, loadLine, machine, machineMarkdown, sampleLoad } from "./notes.ts";
import { type Proxy, rounds, startProxy } from "./proxy.ts";
import {
  gitRemoteS3Tool,
  gitTool,
  type Maintenance,
  type Measure,
  measure,
  type Minio,
  minioFromEnv,
  type Remote,
  type Tool,
  type ToolId,
  trunksLocalTool,
  trunksS3Tool,
} from "./tools.ts";
import { runPythonTrunks } from "./python_trunks.ts";
import { runSwarm, swarmMarkdown, type SwarmResult } from "./swarm.ts";

const SCENARIOS = ["push", "clone", "incremental", "fetch", "small", "swarm", "largefile"] as const;
/** Scenarios run only when named: `metadata` (bench/metadata.ts) takes an hour at full size. */
const OPT_IN = ["metadata"] as const;
type Scenario = typeof SCENARIOS[number] | typeof OPT_IN[number];

function list(v: string | undefined, all: readonly string[]): string[] {
  if (!v) return [...all];
  const got = v.split(",").map((s) => s.trim()).filter(Boolean);
  for (const g of got) {
    if (!all.includes(g)) {
      throw new Error(`bench: unknown '${g}'; expected one of ${all.join(", ")}`);
    }
  }
  return got;
}

/** `--latency 50ms` (or `50`): delay per request through the MinIO proxy. */
function parseLatency(v: string | undefined): number {
  if (v === undefined) return 0;
  const m = /^(\d+)(ms)?$/.exec(v.trim());
  if (!m) throw new Error(`bench: --latency needs milliseconds, e.g. 50ms`);
  return Number(m[1]);
}

function posInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`bench: ${flag} needs a positive integer`);
  return n;
}

function summarize(
  repo: string,
  workload: string,
  tool: Tool,
  ms: Measure[],
  extra: Partial<Row> = {},
): Row {
  const last = ms[ms.length - 1];
  return {
    repo,
    workload,
    tool: tool.label,
    runs: ms.length,
    ms: median(ms.map((m) => m.ms)),
    cpuMs: median(ms.map((m) => m.cpuMs)),
    rssKb: Math.max(...ms.map((m) => m.rssKb)),
    requests: last.counts?.requests,
    rounds: last.counts ? last.counts.rounds ?? rounds(last.counts.spans) : undefined,
    byMethod: last.counts?.byMethod,
    // Bytes are counted on the wire (proxy); trunks' own store-op counts carry none.
    bytesUp: tool.proxy ? last.counts?.bytesUp : undefined,
    bytesDown: tool.proxy ? last.counts?.bytesDown : undefined,
    ...extra,
  };
}

async function commit(e: Env, dir: string, i: number): Promise<void> {
  await Deno.writeTextFile(`${dir}/bench-${i}.txt`, `change ${i}\n`);
  await ok(e, "git", ["add", "."], { cwd: dir });
  await ok(e, "git", ["commit", "-qm", `bench ${i}`], { cwd: dir });
}

interface RepoOpts {
  runs: number;
  heavyRuns: number;
  pushes: number;
  /** Small pushes for git-remote-s3, which re-uploads the whole history on each. */
  heavyPushes: number;
  scenarios: Set<Scenario>;
}

/** Every repository workload for one tool. */
async function benchTool(
  e: Env,
  tool: Tool,
  label: string,
  src: string,
  o: RepoOpts,
  tmp: string,
): Promise<Row[]> {
  const rows: Row[] = [];
  const refspecs = ["refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*"];
  const heavy = tool.id === "git-remote-s3" ? o.heavyRuns : o.runs;
  const log = (s: string) => console.error(`bench: ${label} / ${tool.label}: ${s}`);

  log("initial push");
  const remotes: Remote[] = [];
  const pushes: Measure[] = [];
  for (let i = 0; i < (o.scenarios.has("push") ? heavy : 1); i++) {
    const r = await tool.newRemote(label);
    remotes.push(r);
    pushes.push(await measure(e, tool, ["push", "-q", r.url, ...refspecs], src));
  }
  const size = await remotes[0].size();
  if (o.scenarios.has("push")) {
    rows.push(summarize(label, "initial push", tool, pushes, {
      storeBytes: size.bytes,
      storeObjects: size.objects,
    }));
  }
  const url = remotes[0].url;

  log("clone");
  const clones: Measure[] = [];
  for (let i = 0; i < (o.scenarios.has("clone") ? heavy : 1); i++) {
    clones.push(await measure(e, tool, ["clone", "-q", url, `${tmp}/${tool.id}-c${i}`], tmp));
  }
  if (o.scenarios.has("clone")) rows.push(summarize(label, "clone", tool, clones));
  const work = `${tmp}/${tool.id}-c0`;
  // The reader starts as a copy of a fresh clone (a second clone would only cost time).
  const reader = `${tmp}/${tool.id}-reader`;
  await ok(e, "cp", ["-a", work, reader]);

  if (o.scenarios.has("incremental")) {
    log("one-commit push");
    const inc: Measure[] = [];
    for (let i = 0; i < o.runs; i++) {
      await commit(e, work, i);
      inc.push(await measure(e, tool, ["push", "-q", "origin", "HEAD"], work));
    }
    rows.push(summarize(label, "one-commit push", tool, inc));
  }

  if (o.scenarios.has("fetch")) {
    log("up-to-date fetch");
    await measure(e, tool, ["fetch", "-q"], reader);
    const f: Measure[] = [];
    for (let i = 0; i < o.runs; i++) f.push(await measure(e, tool, ["fetch", "-q"], reader));
    rows.push(summarize(label, "up-to-date fetch", tool, f));
  }

  if (o.scenarios.has("small")) {
    const pushes = tool.id === "git-remote-s3" ? o.heavyPushes : o.pushes;
    log(`${pushes} small pushes`);
    const each: Measure[] = [];
    const t0 = performance.now();
    for (let i = 0; i < pushes; i++) {
      await commit(e, work, 1000 + i);
      each.push(await measure(e, tool, ["push", "-q", "origin", "HEAD"], work));
    }
    const total = performance.now() - t0;
    const sum = (f: (m: Measure) => number | undefined) =>
      each.reduce((a, m) => a + (f(m) ?? 0), 0);
    const after = await remotes[0].size();
    rows.push({
      repo: label,
      workload: "small pushes (total)",
      tool: tool.label,
      runs: 1,
      ms: total,
      cpuMs: each.reduce((a, m) => a + m.cpuMs, 0),
      rssKb: Math.max(...each.map((m) => m.rssKb)),
      requests: each[0].counts ? sum((m) => m.counts?.requests) : undefined,
      bytesUp: tool.proxy ? sum((m) => m.counts?.bytesUp) : undefined,
      bytesDown: tool.proxy ? sum((m) => m.counts?.bytesDown) : undefined,
      storeBytes: after.bytes,
      storeObjects: after.objects,
      note: `${pushes} pushes; median push ${(median(each.map((m) => m.ms)) / 1000).toFixed(2)} s` +
        (each[0].counts ? `, ${sum((m) => m.counts?.requests) / pushes} requests` : "") +
        (tool.proxy ? ` and ${fmtBytes(sum((m) => m.counts?.bytesUp) / pushes)} up` : "") +
        (each[0].counts ? " per push" : ""),
    });
    log("clone after small pushes");
    const c = await measure(e, tool, ["clone", "-q", url, `${tmp}/${tool.id}-after`], tmp);
    rows.push(summarize(label, "clone after the small pushes", tool, [c]));
  }
  return rows;
}

export function fmtBytes(n?: number): string {
  if (n === undefined) return "-";
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${(n / (1 << 30)).toFixed(2)} GiB`;
}

export function fmtS(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 1000).toFixed(2)} s`;
}

export function rowsMarkdown(rows: Row[]): string {
  const body = rows.map((r) => [
    r.workload,
    r.tool,
    `${fmtS(r.ms)}${r.runs > 1 ? ` (${r.runs})` : ""}`,
    r.cpuMs === undefined ? "-" : fmtS(r.cpuMs),
    r.requests === undefined
      ? "-"
      : `${r.requests}${r.rounds === undefined ? "" : ` in ${r.rounds} rounds`}`,
    fmtBytes(r.bytesUp),
    fmtBytes(r.bytesDown),
    r.rssKb ? `${(r.rssKb / 1024).toFixed(0)} MiB` : "-",
    r.storeBytes === undefined ? "" : `${fmtBytes(r.storeBytes)} / ${r.storeObjects}`,
    r.note ?? "",
  ]);
  const header = [
    "workload",
    "tool",
    "time (median of n)",
    "CPU",
    "requests",
    "bytes up",
    "bytes down",
    "peak RSS",
    "store size / objects",
    "note",
  ];
  return "| " + header.join(" | ") + " |\n|" + header.map(() => "---").join("|") + "|\n" +
    body.map((r) => "| " + r.join(" | ") + " |").join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      runs: { type: "string" },
      "heavy-runs": { type: "string", default: "1" },
      scenarios: { type: "string" },
      tools: { type: "string" },
      repos: { type: "string" },
      commits: { type: "string", default: "20000" },
      pushes: { type: "string" },
      "heavy-pushes": { type: "string" },
      swarm: { type: "string" },
      "converge-max": { type: "string", default: "8" },
      out: { type: "string" },
      "python-versions": { type: "string" },
      "blob-bytes": { type: "string", default: "400" },
      "random-blobs": { type: "boolean", default: false },
      "python-timeout": { type: "string", default: "600" },
      "large-mib": { type: "string" },
      latency: { type: "string" },
      "meta-refs": { type: "string", default: "1500,20000" },
      "meta-pushes": { type: "string", default: "2000" },
      maintenance: { type: "string", default: "1" },
    },
  });
  const quick = values.quick!;
  const runs = posInt(values.runs ?? (quick ? "1" : "3"), "--runs");
  const scenarios = new Set(
    (values.scenarios
      ? list(values.scenarios, [...SCENARIOS, ...OPT_IN])
      : SCENARIOS) as Scenario[],
  );
  const latencyMs = parseLatency(values.latency);
  const maintenance = values.maintenance as Maintenance;
  if (!["0", "1", "wait"].includes(maintenance)) {
    throw new Error("bench: --maintenance needs 0, 1 (background, the default) or wait");
  }
  const toolIds = list(
    values.tools,
    ["git", "trunks-local", "trunks-s3", "git-remote-s3", "python-trunks"],
  );
  const repos = list(values.repos ?? (quick ? "corpus" : undefined), ["corpus", "generated"]);
  const swarmNs = (values.swarm ?? (quick ? "8" : "8,32,64")).split(",").map((n) =>
    posInt(n, "--swarm")
  );
  const o: RepoOpts = {
    runs,
    heavyRuns: posInt(values["heavy-runs"]!, "--heavy-runs"),
    pushes: posInt(values.pushes ?? (quick ? "10" : "100"), "--pushes"),
    heavyPushes: posInt(
      values["heavy-pushes"] ?? values.pushes ?? (quick ? "10" : "20"),
      "--heavy-pushes",
    ),
    scenarios,
  };

  const minio = minioFromEnv();
  const needsMinio = toolIds.some((t) => t === "trunks-s3" || t === "git-remote-s3") ||
    scenarios.has("swarm");
  if (needsMinio && !minio) {
    throw new Error(
      'bench: MinIO is not running; start it with `eval "$(bash scripts/test-servers.sh up minio)"` ' +
        "and export the TRUNKS_TEST_MINIO_* lines, or pick --tools without MinIO",
    );
  }
  const e = await makeEnv();
  const tmp = await Deno.makeTempDir({ prefix: "trunks-bench-" });
  const proxy: Proxy | undefined = minio ? startProxy(minio.endpoint, { latencyMs }) : undefined;
  const trunksVersion = (await ok(e, "trunks", ["--version"])).trim();
  const tools: Tool[] = [];
  for (const id of toolIds as (ToolId | "python-trunks")[]) {
    if (id === "git") tools.push(await gitTool(e, tmp));
    if (id === "trunks-local") tools.push(trunksLocalTool(tmp, trunksVersion, maintenance));
    if (id === "trunks-s3") tools.push(trunksS3Tool(minio!, proxy!, trunksVersion, maintenance));
    if (id === "git-remote-s3") tools.push(await gitRemoteS3Tool(e, minio!, proxy!, tmp));
  }
  const versions: Record<string, string> = {
    trunks: `${trunksVersion} (${Deno.env.get("TRUNKS_BIN") ?? "deno run main.ts"})`,
  };
  for (const t of tools) if (t.id === "git-remote-s3") versions["git-remote-s3"] = t.version;

  const sections: string[] = [];
  const json: Record<string, unknown> = { rows: [] as Row[], swarm: [] as SwarmResult[] };
  const loads: Load[] = [await sampleLoad()];

  const wantsRepoWork = [...scenarios].some((s) =>
    s !== "swarm" && s !== "largefile" && s !== "metadata"
  );
  const repoDirs: [string, string][] = [];
  if (wantsRepoWork && repos.includes("corpus")) {
    const dir = `${tmp}/express.git`;
    await mirrorCorpus(e, dir);
    repoDirs.push(["corpus (express)", dir]);
  }
  if (wantsRepoWork && repos.includes("generated")) {
    const dir = `${tmp}/generated.git`;
    console.error(`bench: generating ${values.commits} commits`);
    await generateRepo(e, dir, {
      commits: posInt(values.commits!, "--commits"),
      filesPerCommit: 3,
      blobBytes: posInt(values["blob-bytes"]!, "--blob-bytes"),
      random: values["random-blobs"],
      branches: 2,
      tagEvery: 5000,
    });
    repoDirs.push(["generated", dir]);
  }

  for (const [label, dir] of repoDirs) {
    const objects = await objectCount(e, dir);
    const refs = (await ok(e, "git", ["for-each-ref"], { cwd: dir })).trim().split("\n").length;
    const packBytes = Number(
      /size-pack: (\d+)/.exec(await ok(e, "git", ["count-objects", "-v"], { cwd: dir }))?.[1] ??
        0,
    ) * 1024;
    const start = await sampleLoad();
    const rows: Row[] = [];
    for (const t of tools) {
      const tdir = `${tmp}/${label.replace(/\W+/g, "-")}`;
      await Deno.mkdir(tdir, { recursive: true });
      rows.push(...await benchTool(e, t, label, dir, o, tdir));
    }
    if (toolIds.includes("python-trunks")) {
      rows.push(
        ...await runPythonTrunks(e, label, dir, `${tmp}/pytrunks-${rows.length}`, {
          versions: values["python-versions"]?.split(",").map((v) => v.trim()).filter(Boolean),
          timeoutS: posInt(values["python-timeout"]!, "--python-timeout"),
          minio: minio ?? undefined,
          proxy,
        }),
      );
    }
    const end = await sampleLoad();
    loads.push(end);
    (json.rows as Row[]).push(...rows);
    const order = [...new Set(rows.map((r) => r.workload))];
    rows.sort((a, b) => order.indexOf(a.workload) - order.indexOf(b.workload));
    sections.push(
      `### ${label}: ${objects} objects, ${refs} refs, ${fmtBytes(packBytes)} packed\n\n` +
        `${loadLine(start, end)}\n\n${rowsMarkdown(rows)}`,
    );
    console.log(sections[sections.length - 1] + "\n");
  }

  if (scenarios.has("swarm")) {
    const swarmTools = tools.filter((t) => t.id !== "trunks-local");
    for (const t of swarmTools) {
      for (const n of swarmNs) {
        if (t.id === "git-remote-s3" && n > 8) continue;
        const start = await sampleLoad();
        const res = await runSwarm(e, t, n, {
          quick,
          tmp,
          minio: minio as Minio,
          convergeMax: posInt(values["converge-max"]!, "--converge-max"),
        });
        const end = await sampleLoad();
        loads.push(end);
        (json.swarm as SwarmResult[]).push(res);
        const md = `${swarmMarkdown(res)}\n\n${loadLine(start, end)}`;
        sections.push(md);
        console.log(md + "\n");
      }
    }
  }

  if (scenarios.has("largefile")) {
    const mib = posInt(values["large-mib"] ?? (quick ? "64" : "1024"), "--large-mib");
    const withS3 = toolIds.includes("git-remote-s3") && !!minio;
    for (const content of ["text", "random"]) {
      const start = await sampleLoad();
      const out = await ok(e, Deno.execPath(), [
        "run",
        "-A",
        fileURLToPath(new URL("./largefile.ts", import.meta.url)),
        "--size-mib",
        String(mib),
        "--content",
        content,
        ...(withS3 ? ["--git-remote-s3"] : []),
      ], { env: withS3 ? minioEnv(minio!) : {} });
      const end = await sampleLoad();
      loads.push(end);
      const md = `${out.trim().replace(/^# .*\n/, `### large file, ${content}\n`)}\n\n${
        loadLine(start, end)
      }`;
      sections.push(md);
      console.log(md + "\n");
    }
  }

  if (scenarios.has("metadata")) {
    const start = await sampleLoad();
    const script = fileURLToPath(new URL("./metadata.ts", import.meta.url));
    const out = await ok(e, Deno.execPath(), [
      "run",
      "-A",
      script,
      "--refs",
      values["meta-refs"]!,
      "--pushes",
      values["meta-pushes"]!,
    ]);
    const md = `### Metadata: many refs, long log (bench/metadata.ts)\n\n${
      loadLine(start, await sampleLoad())
    }\n\n${out.trim()}`;
    sections.push(md);
    console.log(md + "\n");
  }

  const minioScript = await Deno.readTextFile(
    fileURLToPath(new URL("../scripts/servers/minio.sh", import.meta.url)),
  ).catch(() => "");
  const m = await machine(/^MINIO_VERSION=(\S+)/m.exec(minioScript)?.[1] ?? "?");
  const report = `## Run of ${m.date}\n\n${machineMarkdown(m, versions)}\n` +
    `- options: runs ${runs}, heavy runs ${o.heavyRuns}, pushes ${o.pushes}, swarm ${
      swarmNs.join("/")
    }, TRUNKS_AUTO_MAINTENANCE=${maintenance}${quick ? ", quick" : ""}\n\n` +
    sections.join("\n\n") + "\n";
  if (values.out) await Deno.writeTextFile(values.out, report);
  const dir = fileURLToPath(new URL("./results/", import.meta.url));
  await Deno.mkdir(dir, { recursive: true });
  const file = `${dir}suite-${m.date.replace(/[:.]/g, "-")}.json`;
  await Deno.writeTextFile(
    file,
    JSON.stringify({ machine: m, versions, loads, ...json }, null, 2) + "\n",
  );
  console.error(`bench: raw results in ${file}`);
  await proxy?.close();
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
}

if (import.meta.main) {
  try {
    await main();
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    Deno.exit(1);
  }
}

/** MinIO's env for a child bench script (the harness runs children with a clean env). */
function minioEnv(m: Minio): Record<string, string> {
  return {
    TRUNKS_TEST_MINIO_ENDPOINT: m.endpoint,
    TRUNKS_TEST_MINIO_ACCESS_KEY: m.accessKey,
    TRUNKS_TEST_MINIO_SECRET_KEY: m.secretKey,
    TRUNKS_TEST_MINIO_BUCKET: m.bucket,
  };
}
