/**
 * The Python `trunks` package from PyPI: 0.1.0 (the version whose documentation trunks
 * follows) and the latest release, on a local-disk store and on MinIO (through the counting
 * proxy).
 *
 * It is not a git remote helper: `trunks init` imports the git repository into its own
 * database, `trunks push` uploads the current branch, `trunks clone` makes a new working
 * copy. So it is measured on the workloads it has (import + push of the checked-out branch,
 * clone), and each row says what it covered. Every command runs under a time limit
 * (`timeoutS`): both releases can take many minutes on the corpus, and a row that hit the
 * limit says so instead of a time. It needs Python >= 3.12: `python3.13`/`python3.12` on PATH,
 * then pyenv's installs, then `python3`.
 */
import { type Env, run } from "../harness/env.ts";
import type { Row } from "./lib.ts";
import { diff, type Proxy } from "./proxy.ts";
import { type Minio, s3Size } from "./tools.ts";

/** 0.1.0 and the latest release on PyPI when this was written (`pip index versions trunks`). */
export const PYTHON_TRUNKS_VERSIONS = ["0.1.0", "1.2.14"];

function cacheDir(): string {
  return `${Deno.env.get("TRUNKS_CACHE") ?? `${Deno.env.get("HOME")}/.cache/trunks-test`}/bench`;
}

/** Interpreters to try, best first: PATH's 3.13/3.12, pyenv's 3.12+, then plain python3. */
async function candidates(): Promise<string[]> {
  const out = ["python3.13", "python3.12"];
  const root = Deno.env.get("PYENV_ROOT") ?? `${Deno.env.get("HOME")}/.pyenv`;
  const found: string[] = [];
  try {
    for await (const v of Deno.readDir(`${root}/versions`)) {
      const m = /^3\.(\d+)\.\d+$/.exec(v.name);
      if (m && Number(m[1]) >= 12) found.push(`${root}/versions/${v.name}/bin/python3.${m[1]}`);
    }
  } catch { /* no pyenv */ }
  found.sort().reverse();
  return [...out, ...found, "python3"];
}

async function findPython(e: Env): Promise<string | null> {
  for (const py of await candidates()) {
    const r = await run(e, py, ["-c", "import sys; print(sys.version_info >= (3, 12))"], {
      env: { PATH: Deno.env.get("PATH") ?? "" },
    }).catch(() => null);
    if (r?.code === 0 && r.stdout.trim() === "True") return py;
  }
  return null;
}

/** The `trunks` executable of one release, installed into a cached virtualenv. */
export async function installPythonTrunks(e: Env, version: string): Promise<string> {
  const venv = `${cacheDir()}/pytrunks-${version}`;
  const bin = `${venv}/bin/trunks`;
  if (await Deno.stat(bin).catch(() => null)) return bin;
  const py = await findPython(e);
  if (!py) throw new Error(`no Python >= 3.12 found (trunks ${version} needs it)`);
  const env = { PATH: Deno.env.get("PATH") ?? "" };
  for (
    const [cmd, args] of [
      [py, ["-m", "venv", venv]],
      // httpx is 0.1.0's `s3` extra; 1.2.x depends on it already.
      [`${venv}/bin/pip`, ["install", "-q", `trunks==${version}`, "httpx"]],
    ] as [string, string[]][]
  ) {
    const r = await run(e, cmd, args, { env });
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr.trim()}`);
  }
  return bin;
}

interface Timed {
  ms: number;
  rssKb: number;
  cpuMs: number;
  out: string;
  timedOut: boolean;
}

async function timedRun(
  e: Env,
  cmd: string,
  args: string[],
  cwd: string,
  env: Record<string, string>,
  timeoutS: number,
): Promise<Timed> {
  const rss = await Deno.makeTempFile();
  const t0 = performance.now();
  const r = await run(e, "/usr/bin/time", [
    "-q",
    "-f",
    "%M %U %S",
    "-o",
    rss,
    "timeout",
    "-k",
    "10",
    String(timeoutS),
    cmd,
    ...args,
  ], { cwd, env });
  const ms = performance.now() - t0;
  const [rssKb, user, sys] = ((await Deno.readTextFile(rss)).trim().split("\n").pop() ?? "")
    .split(" ").map((x) => Number(x) || 0);
  await Deno.remove(rss);
  const timedOut = r.code === 124 || r.code === 137;
  if (r.code !== 0 && !timedOut) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${(r.stdout + r.stderr).trim()}`);
  }
  return { ms, rssKb, cpuMs: (user + sys) * 1000, out: r.stdout + r.stderr, timedOut };
}

async function du(dir: string): Promise<{ bytes: number; objects: number }> {
  let bytes = 0, objects = 0;
  const walk = async (d: string) => {
    for await (const ent of Deno.readDir(d)) {
      if (ent.isDirectory) await walk(`${d}/${ent.name}`);
      else if (ent.isFile) {
        bytes += (await Deno.stat(`${d}/${ent.name}`)).size;
        objects++;
      }
    }
  };
  await walk(dir).catch(() => {});
  return { bytes, objects };
}

export interface PythonTrunksOpts {
  /** Versions to run; PYTHON_TRUNKS_VERSIONS when absent. */
  versions?: string[];
  /** Per-command limit in seconds. */
  timeoutS: number;
  /** MinIO and the counting proxy in front of it, for the S3 runs. */
  minio?: Minio;
  proxy?: Proxy;
}

function stopped(t: Timed, timeoutS: number): string {
  return t.timedOut ? `**did not finish in ${timeoutS} s** (stopped)` : "";
}

/** One release on one store: import + push, then clone. */
async function runOne(
  e: Env,
  bin: string,
  tool: string,
  label: string,
  src: string,
  tmp: string,
  store: {
    url: string;
    env: Record<string, string>;
    size(): Promise<{ bytes: number; objects: number }>;
    /** Whether the tool reaches this store through the counting proxy. */
    counted: boolean;
  },
  o: PythonTrunksOpts,
): Promise<Row[]> {
  console.error(`bench: ${label} / ${tool}: import + push, clone`);
  await Deno.mkdir(tmp, { recursive: true });
  const work = `${tmp}/work`;
  await run(e, "git", ["clone", "-q", src, work]);
  const env = { ...store.env, PATH: Deno.env.get("PATH") ?? "", HOME: tmp };
  // Only the S3 runs go through the proxy; a local store has no requests to count.
  const counts = () => store.counted ? o.proxy?.snapshot() : undefined;
  const c0 = counts();
  const init = await timedRun(
    e,
    bin,
    ["init", "--backend", store.url, "--name", "b"],
    work,
    env,
    o.timeoutS,
  );
  const push = init.timedOut ? init : await timedRun(e, bin, ["push"], work, env, o.timeoutS);
  const c1 = counts();
  const size = await store.size();
  const pushed = /Pushed .*/.exec(push.out)?.[0] ?? "";
  const pushRow: Row = {
    repo: label,
    workload: "initial push",
    tool,
    runs: 1,
    ms: init === push ? init.ms : init.ms + push.ms,
    cpuMs: init === push ? init.cpuMs : init.cpuMs + push.cpuMs,
    rssKb: Math.max(init.rssKb, push.rssKb),
    storeBytes: size.bytes,
    storeObjects: size.objects,
    ...(c0 && c1 ? wire(diff(c1, c0)) : {}),
    note: init.timedOut
      ? `trunks init (import) ${stopped(init, o.timeoutS)}; store is what it wrote by then`
      : `checked-out branch only; trunks init (import) ${(init.ms / 1000).toFixed(1)} s + ` +
        `trunks push ${
          push.timedOut ? stopped(push, o.timeoutS) : `${(push.ms / 1000).toFixed(1)} s`
        }${pushed ? `; ${pushed}` : ""}${push.timedOut ? "; store is what it wrote by then" : ""}`,
  };
  if (push.timedOut) {
    return [pushRow, {
      repo: label,
      workload: "clone",
      tool,
      runs: 0,
      ms: 0,
      rssKb: 0,
      note: "not run: the push before it did not finish",
    }];
  }
  const c2 = counts();
  // A fresh HOME: 1.2.x keeps an object cache under it, and a clone served from the pushing
  // side's cache would not be a clone from the store.
  await Deno.mkdir(`${tmp}/clone-home`);
  const clone = await timedRun(
    e,
    bin,
    ["clone", store.url, `${tmp}/clone`, "--name", "b"],
    tmp,
    { ...env, HOME: `${tmp}/clone-home` },
    o.timeoutS,
  );
  const c3 = counts();
  return [pushRow, {
    repo: label,
    workload: "clone",
    tool,
    runs: 1,
    ms: clone.ms,
    cpuMs: clone.cpuMs,
    rssKb: clone.rssKb,
    ...(c2 && c3 ? wire(diff(c3, c2)) : {}),
    note: clone.timedOut ? stopped(clone, o.timeoutS) : "trunks clone (one branch)",
  }];
}

function wire(c: ReturnType<typeof diff>): Partial<Row> {
  return {
    requests: c.requests,
    byMethod: c.byMethod,
    bytesUp: c.bytesUp,
    bytesDown: c.bytesDown,
  };
}

/** Rows for the Python package, every release on every store; a row saying why when one
 * cannot run. */
export async function runPythonTrunks(
  e: Env,
  label: string,
  src: string,
  tmp: string,
  o: PythonTrunksOpts,
): Promise<Row[]> {
  const rows: Row[] = [];
  for (const version of o.versions ?? PYTHON_TRUNKS_VERSIONS) {
    let bin: string;
    try {
      bin = await installPythonTrunks(e, version);
    } catch (err) {
      const note = `not run: ${err instanceof Error ? err.message : err}`;
      rows.push({
        repo: label,
        workload: "initial push",
        tool: `python trunks ${version}`,
        runs: 0,
        ms: 0,
        rssKb: 0,
        note,
      });
      continue;
    }
    const local = `${tmp}/${version}-local`;
    await Deno.mkdir(`${local}/store`, { recursive: true });
    rows.push(
      ...await runOne(e, bin, `python trunks ${version} local`, label, src, local, {
        url: `local://${local}/store`,
        env: {},
        size: () => du(`${local}/store`),
        counted: false,
      }, o),
    );
    if (o.minio && o.proxy) {
      const m = o.minio;
      const prefix = `bench-py-${crypto.randomUUID().slice(0, 8)}`;
      rows.push(
        ...await runOne(
          e,
          bin,
          `python trunks ${version} MinIO`,
          label,
          src,
          `${tmp}/${version}-s3`,
          {
            url: `s3://${m.bucket}/${prefix}`,
            env: {
              AWS_ENDPOINT_URL: o.proxy.endpoint,
              AWS_ACCESS_KEY_ID: m.accessKey,
              AWS_SECRET_ACCESS_KEY: m.secretKey,
              AWS_REGION: "us-east-1",
            },
            size: () => s3Size(m, `${prefix}/`),
            counted: true,
          },
          o,
        ),
      );
    }
  }
  return rows;
}
