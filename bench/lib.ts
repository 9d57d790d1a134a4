/** Shared by the benchmarks: timing child processes, request counts, tables. */
import { type Env, makeEnv, ok } from "../harness/env.ts";
import { CORPUS, mirrorCorpus } from "../harness/corpus.ts";
import { DENO_RUN_ARGS } from "../src/helper/self.ts";

export { CORPUS, makeEnv, mirrorCorpus, ok };
export type { Env };

export interface Timed {
  ms: number;
  stderr: string;
  stdout: string;
  /** Peak resident set of the process tree's largest member, when measured. */
  requests?: Record<string, number>;
}

/** Run a command and time it; failures abort the benchmark with the command's stderr. */
export async function timed(
  e: Env,
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Timed> {
  const t0 = performance.now();
  const out = await new Deno.Command(cmd, {
    args,
    cwd: opts.cwd,
    env: { ...e.env, TRUNKS_DEBUG_REQUESTS: "1", ...opts.env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - t0;
  const dec = new TextDecoder();
  const stderr = dec.decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed:\n${stderr}`);
  return { ms, stderr, stdout: dec.decode(out.stdout), requests: sumRequests(stderr) };
}

/** Sum of every `trunks-requests` line (one per helper process). */
export function sumRequests(stderr: string): Record<string, number> | undefined {
  let found = false;
  const total: Record<string, number> = {};
  for (const m of stderr.matchAll(/^trunks-requests \S+ (.*)$/gm)) {
    found = true;
    const c = JSON.parse(m[1]) as { requests: Record<string, number> };
    for (const [k, v] of Object.entries(c.requests)) total[k] = (total[k] ?? 0) + v;
  }
  return found ? total : undefined;
}

export function formatRequests(r?: Record<string, number>): string {
  if (!r) return "";
  const ops = Object.entries(r).filter(([k]) => k.startsWith("store."));
  const n = ops.reduce((a, [, v]) => a + v, 0);
  return `${n} (${ops.map(([k, v]) => `${k.slice(6)} ${v}`).join(", ")})`;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export function fmtMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
}

/** A plain-text table, columns padded. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => (c ?? "").padEnd(widths[i])).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/**
 * A synthetic repository made with `git fast-import`: `commits` commits, each touching
 * `filesPerCommit` files spread over nested directories (so every commit adds blobs,
 * trees and a commit object), plus `branches` branches and a tag every 500 commits.
 */
export async function generateRepo(
  e: Env,
  dir: string,
  opts: {
    commits: number;
    filesPerCommit?: number;
    blobBytes?: number;
    branches?: number;
    /** A tag every this many commits (default 500; 0: none). */
    tagEvery?: number;
    /** Fill blobs with random bytes (incompressible, no deltas), so the packed history is
     * about commits x filesPerCommit x blobBytes: how a repository with GBs of history is made
     * in minutes. */
    random?: boolean;
  },
): Promise<void> {
  const files = opts.filesPerCommit ?? 2;
  const blobBytes = opts.blobBytes ?? 200;
  await ok(e, "git", ["init", "-q", "--bare", "-b", "main", dir]);
  const child = new Deno.Command("git", {
    args: ["fast-import", "--quiet"],
    cwd: dir,
    env: e.env,
    clearEnv: true,
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  const enc = new TextEncoder();
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  const words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split(" ");
  let buf = "";
  for (let c = 1; c <= opts.commits; c++) {
    buf += `commit refs/heads/main\nmark :${c}\ncommitter Gen <gen@trunks.invalid> ${
      1700000000 + c
    } +0000\n`;
    const msg = `commit ${c}`;
    buf += `data ${msg.length}\n${msg}\n`;
    if (c > 1) buf += `from :${c - 1}\n`;
    for (let f = 0; f < files; f++) {
      const n = rand() % 5000;
      const path = `src/d${n % 50}/e${(n >> 3) % 20}/file${n}.txt`;
      if (opts.random) {
        const bytes = new Uint8Array(blobBytes);
        for (let o = 0; o < blobBytes; o += 65536) {
          crypto.getRandomValues(bytes.subarray(o, Math.min(blobBytes, o + 65536)));
        }
        buf += `M 100644 inline ${path.replace(/\.txt$/, ".bin")}\ndata ${blobBytes}\n`;
        await w.write(enc.encode(buf));
        await w.write(bytes);
        buf = "\n";
        continue;
      }
      let body = `// file ${n} revision ${c}\n`;
      while (body.length < blobBytes) {
        body += words[rand() % words.length] + (rand() % 9 ? " " : "\n");
      }
      buf += `M 100644 inline ${path}\ndata ${enc.encode(body).byteLength}\n${body}\n`;
    }
    const every = opts.tagEvery ?? 500;
    if (every && c % every === 0) buf += `reset refs/tags/v${c / every}\nfrom :${c}\n\n`;
    if (buf.length > 1 << 20) {
      await w.write(enc.encode(buf));
      buf = "";
    }
  }
  for (let b = 0; b < (opts.branches ?? 10); b++) {
    buf += `reset refs/heads/branch-${b}\nfrom :${Math.max(1, opts.commits - b * 7)}\n\n`;
  }
  await w.write(enc.encode(buf));
  await w.close();
  const out = await child.output();
  if (!out.success) throw new Error(`fast-import failed: ${new TextDecoder().decode(out.stderr)}`);
  await ok(e, "git", ["repack", "-adq"], { cwd: dir });
}

export async function objectCount(e: Env, dir: string): Promise<number> {
  const out = await ok(e, "git", ["count-objects", "-v"], { cwd: dir });
  const get = (k: string) => Number(new RegExp(`^${k}: (\\d+)`, "m").exec(out)?.[1] ?? 0);
  return get("count") + get("in-pack");
}

export async function machineLine(): Promise<string> {
  const cpu =
    (await Deno.readTextFile("/proc/cpuinfo").catch(() => "")).match(/model name\s*:\s*(.*)/)
      ?.[1] ?? "?";
  const git = (await new Deno.Command("git", { args: ["--version"] }).output()).stdout;
  return `${navigator.hardwareConcurrency} cores (${cpu}), deno ${Deno.version.deno}, ${
    new TextDecoder().decode(git).trim()
  }`;
}

/** One line of a benchmark table: one tool, one workload, one repository. */
export interface Row {
  repo: string;
  workload: string;
  tool: string;
  runs: number;
  ms: number;
  /** Median CPU time (user + system) of the command's process tree. */
  cpuMs?: number;
  rssKb: number;
  requests?: number;
  /** Sequential round trips of those requests (the longest chain, bench/proxy.ts). */
  rounds?: number;
  byMethod?: Record<string, number>;
  bytesUp?: number;
  bytesDown?: number;
  storeBytes?: number;
  storeObjects?: number;
  note?: string;
}

/**
 * A PATH with the `git-remote-trunks` of another checkout (e.g. a worktree of an older main)
 * first: `--other` in the benchmarks that alternate two codes on one trunk (an A/B).
 */
export async function otherCheckoutPath(e: Env, checkout: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "trunks-other-bin-" });
  await Deno.writeTextFile(
    `${dir}/git-remote-trunks`,
    `#!/bin/sh\nexec ${JSON.stringify(Deno.execPath())} ${DENO_RUN_ARGS.join(" ")} ${
      JSON.stringify(`${await Deno.realPath(checkout)}/main.ts`)
    } remote-helper "$@"\n`,
  );
  await Deno.chmod(`${dir}/git-remote-trunks`, 0o755);
  return `${dir}:${e.env.PATH}`;
}
