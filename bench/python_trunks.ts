/**
 * The Python `trunks` package from PyPI (pinned), on a local-disk store.
 *
 * It is not a git remote helper: `trunks init` imports the git repository into its own
 * database, `trunks push` uploads the current branch, `trunks clone` makes a new working
 * copy. So it is measured on the workloads it has (import + push of the checked-out branch,
 * clone), and each row says what it covered. It needs Python >= 3.12 (pyenv's or the
 * system's `python3.12`/`python3.13`).
 */
import { type Env, run } from "../tests/e2e/harness.ts";
import type { Row } from "./suite.ts";

export const PYTHON_TRUNKS_VERSION = "0.1.0";

function cacheDir(): string {
  return `${Deno.env.get("TRUNKS_CACHE") ?? `${Deno.env.get("HOME")}/.cache/trunks-test`}/bench`;
}

async function findPython(e: Env): Promise<string | null> {
  for (const py of ["python3.13", "python3.12", "python3"]) {
    const r = await run(e, py, ["-c", "import sys; print(sys.version_info >= (3, 12))"], {
      env: { PATH: Deno.env.get("PATH") ?? "" },
    }).catch(() => null);
    if (r?.code === 0 && r.stdout.trim() === "True") return py;
  }
  return null;
}

/** The `trunks` executable of the pinned release, installed into a cached virtualenv. */
export async function installPythonTrunks(e: Env): Promise<string> {
  const venv = `${cacheDir()}/pytrunks-${PYTHON_TRUNKS_VERSION}`;
  const bin = `${venv}/bin/trunks`;
  if (await Deno.stat(bin).catch(() => null)) return bin;
  const py = await findPython(e);
  if (!py) throw new Error(`no Python >= 3.12 found (trunks ${PYTHON_TRUNKS_VERSION} needs it)`);
  const env = { PATH: Deno.env.get("PATH") ?? "" };
  for (
    const [cmd, args] of [
      [py, ["-m", "venv", venv]],
      [`${venv}/bin/pip`, ["install", "-q", `trunks==${PYTHON_TRUNKS_VERSION}`]],
    ] as [string, string[]][]
  ) {
    const r = await run(e, cmd, args, { env });
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr.trim()}`);
  }
  return bin;
}

async function timedRun(
  e: Env,
  cmd: string,
  args: string[],
  cwd: string,
): Promise<{ ms: number; rssKb: number; cpuMs: number; out: string }> {
  const rss = await Deno.makeTempFile();
  const t0 = performance.now();
  const r = await run(e, "/usr/bin/time", ["-q", "-f", "%M %U %S", "-o", rss, cmd, ...args], {
    cwd,
  });
  const ms = performance.now() - t0;
  const [rssKb, user, sys] = ((await Deno.readTextFile(rss)).trim().split("\n").pop() ?? "")
    .split(" ").map((x) => Number(x) || 0);
  await Deno.remove(rss);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr.trim()}`);
  return { ms, rssKb, cpuMs: (user + sys) * 1000, out: r.stdout + r.stderr };
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

/** Rows for the Python package; a row saying why when it cannot run. */
export async function runPythonTrunks(
  e: Env,
  label: string,
  src: string,
  tmp: string,
): Promise<Row[]> {
  const tool = `python trunks ${PYTHON_TRUNKS_VERSION} local`;
  let bin: string;
  try {
    bin = await installPythonTrunks(e);
  } catch (err) {
    const note = `not run: ${err instanceof Error ? err.message : err}`;
    return [{ repo: label, workload: "initial push", tool, runs: 0, ms: 0, rssKb: 0, note }];
  }
  console.error(`bench: ${label} / ${tool}: import + push, clone`);
  await Deno.mkdir(tmp, { recursive: true });
  const work = `${tmp}/work`;
  const store = `${tmp}/store`;
  await Deno.mkdir(store);
  await run(e, "git", ["clone", "-q", src, work]);
  const init = await timedRun(
    e,
    bin,
    ["init", "--backend", `local://${store}`, "--name", "b"],
    work,
  );
  const push = await timedRun(e, bin, ["push"], work);
  const size = await du(store);
  const pushed = /Pushed .*/.exec(push.out)?.[0] ?? "";
  const clone = await timedRun(
    e,
    bin,
    ["clone", `local://${store}`, `${tmp}/clone`, "--name", "b"],
    tmp,
  );
  return [
    {
      repo: label,
      workload: "initial push",
      tool,
      runs: 1,
      ms: init.ms + push.ms,
      cpuMs: init.cpuMs + push.cpuMs,
      rssKb: Math.max(init.rssKb, push.rssKb),
      storeBytes: size.bytes,
      storeObjects: size.objects,
      note: `checked-out branch only; trunks init (import) ${(init.ms / 1000).toFixed(1)} s + ` +
        `trunks push ${(push.ms / 1000).toFixed(1)} s; ${pushed}`,
    },
    {
      repo: label,
      workload: "clone",
      tool,
      runs: 1,
      ms: clone.ms,
      cpuMs: clone.cpuMs,
      rssKb: clone.rssKb,
      note: "trunks clone (one branch)",
    },
  ];
}
