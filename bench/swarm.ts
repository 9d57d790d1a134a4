/**
 * The agent swarm: N sandboxes (each its own clone, its own git processes) pushing to one
 * remote at once.
 *
 * - independent: every agent pushes `perAgent` commits, one after another, to its own branch;
 *   all agents at once. Target: zero failures at 64 writers.
 * - race: `rounds` rounds; in each, every agent starts from the same tip of `main`, commits,
 *   and pushes to `main` at the same instant. Exactly one may win; every loser must be told
 *   `fetch first` (git's answer for "the remote moved; fetch, integrate, push again").
 * - converge (N <= convergeMax): every agent must land one commit on `main`, retrying after
 *   `git pull --rebase` with a small random back-off, as agents do. Afterwards every
 *   agent's commit must be on `main`: no lost updates.
 *
 * Afterwards a fresh clone must pass `git fsck --full` and hold every branch and commit the
 * agents were told had landed.
 */
import "./run_tmp.ts";
import { type Env, ok, run } from "../harness/env.ts";
import { median } from "./lib.ts";
import type { Minio, Remote, Tool } from "./tools.ts";
import { diff } from "./proxy.ts";

export interface SwarmResult {
  tool: string;
  n: number;
  independent: Phase & { perAgent: number };
  race: Phase & { rounds: number; winners: number[]; fetchFirst: number; otherErrors: string[] };
  converge?: Phase & { attempts: number; lost: number };
  storeBytes: number;
  storeObjects: number;
  requests?: number;
  fsck: string;
  verified: string;
}

interface Phase {
  pushes: number;
  ok: number;
  failed: number;
  wallMs: number;
  p50: number;
  p95: number;
  /** Median CPU time (user + system) of one push's process tree. */
  cpuMs: number;
  /** First lines of a few failures, for the report. */
  failures: string[];
}

interface Attempt {
  ms: number;
  cpuMs: number;
  ok: boolean;
  stderr: string;
}

function pct(xs: number[], p: number): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

function phase(attempts: Attempt[], wallMs: number): Phase {
  const okN = attempts.filter((a) => a.ok).length;
  const reasons = attempts.filter((a) => !a.ok).map((a) => firstError(a.stderr));
  return {
    pushes: attempts.length,
    ok: okN,
    failed: attempts.length - okN,
    wallMs,
    p50: median(attempts.map((a) => a.ms)),
    p95: pct(attempts.map((a) => a.ms), 95),
    cpuMs: median(attempts.map((a) => a.cpuMs)),
    failures: [...new Set(reasons)].slice(0, 3),
  };
}

function firstError(stderr: string): string {
  const lines = stderr.split("\n").map((l) => l.trim()).filter(Boolean);
  // Object ids and temp paths differ per failure; without them the distinct reasons show.
  return (lines.find((l) => /rejected|error|fatal/i.test(l)) ?? lines[0] ?? "")
    .replace(/\b[0-9a-f]{40}\b/g, "<oid>").replace(/'\/tmp\/[^']*'/g, "'<path>'").slice(0, 120);
}

async function push(e: Env, tool: Tool, dir: string, refspec: string): Promise<Attempt> {
  const cpuFile = `${dir}.cpu`;
  const t0 = performance.now();
  const r = await run(e, "/usr/bin/time", [
    "-q",
    "-f",
    "%U %S",
    "-o",
    cpuFile,
    "git",
    "push",
    "-q",
    "origin",
    refspec,
  ], { cwd: dir, env: tool.env });
  const ms = performance.now() - t0;
  const [u, sy] = (await Deno.readTextFile(cpuFile)).trim().split("\n").pop()!.split(" ")
    .map((x) => Number(x) || 0);
  return { ms, cpuMs: (u + sy) * 1000, ok: r.code === 0, stderr: r.stderr };
}

async function commitFile(e: Env, dir: string, file: string): Promise<void> {
  await Deno.writeTextFile(`${dir}/${file}`, `${file}\n`);
  await ok(e, "git", ["add", file], { cwd: dir });
  await ok(e, "git", ["commit", "-qm", file], { cwd: dir });
}

export async function runSwarm(
  e: Env,
  tool: Tool,
  n: number,
  o: { quick: boolean; tmp: string; minio: Minio; convergeMax?: number },
): Promise<SwarmResult> {
  const log = (s: string) => console.error(`bench: swarm ${tool.label} N=${n}: ${s}`);
  const base = `${o.tmp}/swarm-${tool.id}-${n}`;
  await Deno.mkdir(base, { recursive: true });
  const remote: Remote = await tool.newRemote(`swarm-${n}`);
  const env = { ...e, env: { ...e.env, ...tool.env } };

  log("setup");
  const seed = `${base}/seed`;
  await ok(env, "git", ["init", "-q", "-b", "main", seed]);
  await commitFile(env, seed, "README.md");
  await ok(env, "git", ["push", "-q", remote.url, "main"], { cwd: seed });
  const agents: string[] = [];
  const first = `${base}/agent-0`;
  await ok(env, "git", ["clone", "-q", remote.url, first], { cwd: base });
  agents.push(first);
  // Sandboxes start as copies of one clone: a clone each would only measure N clones.
  for (let i = 1; i < n; i++) {
    await ok(env, "cp", ["-a", first, `${base}/agent-${i}`]);
    agents.push(`${base}/agent-${i}`);
  }
  const before = tool.proxy?.snapshot();

  log("independent branches");
  const perAgent = o.quick ? 1 : 3;
  let t0 = performance.now();
  const ind = (await Promise.all(agents.map(async (dir, i) => {
    const out: Attempt[] = [];
    for (let k = 0; k < perAgent; k++) {
      await commitFile(env, dir, `agent-${i}-${k}.txt`);
      out.push(await push(env, tool, dir, `HEAD:refs/heads/agent-${i}`));
    }
    return out;
  }))).flat();
  const independent = { ...phase(ind, performance.now() - t0), perAgent };

  log("race on one branch");
  const rounds = o.quick ? 1 : 3;
  const raceAll: Attempt[] = [];
  const winners: number[] = [];
  let raceWall = 0;
  for (let r = 0; r < rounds; r++) {
    await Promise.all(agents.map(async (dir, i) => {
      await ok(env, "git", ["fetch", "-q", "origin"], { cwd: dir });
      await ok(env, "git", ["reset", "-q", "--hard", "origin/main"], { cwd: dir });
      await commitFile(env, dir, `race-${r}-${i}.txt`);
    }));
    t0 = performance.now();
    const res = await Promise.all(agents.map((dir) => push(env, tool, dir, "HEAD:main")));
    raceWall += performance.now() - t0;
    winners.push(res.filter((a) => a.ok).length);
    raceAll.push(...res);
  }
  const losers = raceAll.filter((a) => !a.ok);
  const fetchFirst = losers.filter((a) => /fetch first/.test(a.stderr)).length;
  const race = {
    ...phase(raceAll, raceWall),
    rounds,
    winners,
    fetchFirst,
    otherErrors: [
      ...new Set(
        losers.filter((a) => !/fetch first/.test(a.stderr)).map((a) => firstError(a.stderr)),
      ),
    ].slice(0, 3),
  };

  let converge: SwarmResult["converge"];
  const landed: string[] = [];
  if (n <= (o.convergeMax ?? 8)) {
    log("converge on one branch (pull --rebase and retry)");
    t0 = performance.now();
    const all = await Promise.all(agents.map(async (dir, i) => {
      await ok(env, "git", ["fetch", "-q", "origin"], { cwd: dir });
      await ok(env, "git", ["reset", "-q", "--hard", "origin/main"], { cwd: dir });
      const file = `converge-${i}.txt`;
      await commitFile(env, dir, file);
      const tries: Attempt[] = [];
      for (let k = 0; k < 4 * n + 10; k++) {
        const a = await push(env, tool, dir, "HEAD:main");
        tries.push(a);
        if (a.ok) {
          landed.push(file);
          break;
        }
        await new Promise((r) => setTimeout(r, Math.random() * 200 * Math.min(k + 1, 5)));
        await run(env, "git", ["pull", "-q", "--rebase", "origin", "main"], { cwd: dir });
      }
      return tries;
    }));
    const flat = all.flat();
    converge = { ...phase(flat, performance.now() - t0), attempts: flat.length, lost: 0 };
  }
  const counts = tool.proxy && before ? diff(tool.proxy.snapshot(), before) : undefined;

  log("verify: fresh clone, fsck, every landed commit present");
  const check = `${base}/check`;
  await ok(env, "git", ["clone", "-q", remote.url, check], { cwd: base });
  const fsck = await run(env, "git", ["fsck", "--full", "--no-dangling"], { cwd: check });
  const problems: string[] = [];
  const branches = (await ok(env, "git", ["branch", "-r"], { cwd: check })).split("\n")
    .filter((l) => /origin\/agent-/.test(l)).length;
  if (independent.failed === 0 && branches !== n) {
    problems.push(`${branches} agent branches, want ${n}`);
  }
  const files = new Set(
    (await ok(env, "git", ["ls-tree", "--name-only", "origin/main"], { cwd: check })).split("\n"),
  );
  const raceLanded = winners.reduce((a, b) => a + b, 0);
  const raceFiles = [...files].filter((f) => f.startsWith("race-")).length;
  if (raceFiles !== raceLanded) {
    problems.push(`${raceFiles} race commits on main, want ${raceLanded}`);
  }
  if (converge) {
    converge.lost = landed.filter((f) => !files.has(f)).length;
    if (converge.lost) problems.push(`${converge.lost} acknowledged converge commits missing`);
    if (landed.length !== n) problems.push(`${n - landed.length} agents never landed`);
  }
  const size = await remote.size();
  await Deno.remove(base, { recursive: true }).catch(() => {});
  return {
    tool: tool.label,
    n,
    independent,
    race,
    converge,
    storeBytes: size.bytes,
    storeObjects: size.objects,
    requests: counts?.requests,
    fsck: fsck.code === 0 ? "clean" : `FAILED: ${firstError(fsck.stderr + fsck.stdout)}`,
    verified: problems.length ? problems.join("; ") : "all acknowledged pushes present",
  };
}

function s(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

export function swarmMarkdown(r: SwarmResult): string {
  const i = r.independent;
  const ra = r.race;
  const c = r.converge;
  const rows = [
    [
      `independent branches (${i.perAgent} each)`,
      `${i.ok}/${i.pushes}`,
      String(i.failed),
      (i.ok / (i.wallMs / 1000)).toFixed(1),
      s(i.p50),
      s(i.p95),
      s(i.cpuMs),
      i.failures.join("; "),
    ],
    [
      `one branch, ${ra.rounds} race rounds`,
      `${ra.ok}/${ra.pushes}`,
      String(ra.failed),
      (ra.ok / (ra.wallMs / 1000)).toFixed(1),
      s(ra.p50),
      s(ra.p95),
      s(ra.cpuMs),
      `winners per round ${
        ra.winners.join(",")
      }; losers told 'fetch first' ${ra.fetchFirst}/${ra.failed}` +
      (ra.otherErrors.length ? `; other: ${ra.otherErrors.join("; ")}` : ""),
    ],
  ];
  if (c) {
    rows.push([
      "one branch, converge (pull --rebase, retry)",
      `${c.ok}/${c.attempts}`,
      String(c.failed),
      (c.ok / (c.wallMs / 1000)).toFixed(1),
      s(c.p50),
      s(c.p95),
      s(c.cpuMs),
      `${c.ok} of ${r.n} agents landed in ${s(c.wallMs)}; lost updates ${c.lost}`,
    ]);
  }
  const header = [
    "phase",
    "ok/attempts",
    "failed",
    "ok pushes/s",
    "p50",
    "p95",
    "CPU/push",
    "notes",
  ];
  return `#### swarm: ${r.tool}, N = ${r.n}\n\n` +
    "| " + header.join(" | ") + " |\n|" + header.map(() => "---").join("|") + "|\n" +
    rows.map((x) => "| " + x.join(" | ") + " |").join("\n") +
    `\n\nstore after: ${(r.storeBytes / 1024).toFixed(0)} KiB in ${r.storeObjects} objects` +
    (r.requests === undefined ? "" : `; ${r.requests} requests through the proxy`) +
    `; fresh clone fsck: ${r.fsck}; ${r.verified}`;
}
