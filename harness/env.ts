/**
 * Running trunks and git the way a user does, for the tests and the benchmarks alike: a
 * clean HOME with `trunks` and `git-remote-trunks` launchers on PATH (around main.ts, or
 * any executable named by TRUNKS_BIN, e.g. the compiled binary), and child processes with
 * exactly that environment.
 */
import { DENO_RUN_ARGS } from "../src/helper/self.ts";

/** The checkout's root directory. */
export const REPO_ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
let binDir: Promise<string> | undefined;

/** A directory with `trunks` and `git-remote-trunks` on it. */
export function trunksBinDir(): Promise<string> {
  return binDir ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "trunks-bin-" });
    const bin = Deno.env.get("TRUNKS_BIN");
    const target = bin
      ? `exec ${JSON.stringify(await Deno.realPath(bin))}`
      : `exec ${JSON.stringify(Deno.execPath())} ${DENO_RUN_ARGS.join(" ")} ${
        JSON.stringify(`${REPO_ROOT}/main.ts`)
      }`;
    await Deno.writeTextFile(`${dir}/trunks`, `#!/bin/sh\n${target} "$@"\n`);
    await Deno.writeTextFile(
      `${dir}/git-remote-trunks`,
      `#!/bin/sh\n${target} remote-helper "$@"\n`,
    );
    await Deno.chmod(`${dir}/trunks`, 0o755);
    await Deno.chmod(`${dir}/git-remote-trunks`, 0o755);
    return dir;
  })();
}

function denoDir(): string {
  const explicit = Deno.env.get("DENO_DIR");
  if (explicit) return explicit;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  return xdg ? `${xdg}/deno` : `${Deno.env.get("HOME")}/.cache/deno`;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Env {
  home: string;
  env: Record<string, string>;
}

/** A clean HOME and git identity, with trunks on PATH. */
export async function makeEnv(extra: Record<string, string> = {}): Promise<Env> {
  const home = await Deno.makeTempDir({ prefix: "trunks-home-" });
  const env: Record<string, string> = {
    HOME: home,
    PATH: `${await trunksBinDir()}:${Deno.env.get("PATH")}`,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_AUTHOR_NAME: "Trunks Test",
    GIT_AUTHOR_EMAIL: "test@trunks.invalid",
    GIT_COMMITTER_NAME: "Trunks Test",
    GIT_COMMITTER_EMAIL: "test@trunks.invalid",
    GIT_TERMINAL_PROMPT: "0",
    // Launchers run main.ts with Deno: keep its module cache although HOME is fresh.
    DENO_DIR: denoDir(),
    // No detached maintenance racing a test's assertions; tests of it turn it on.
    TRUNKS_AUTO_MAINTENANCE: "0",
    ...extra,
  };
  await Deno.writeTextFile(
    `${home}/.gitconfig`,
    "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n",
  );
  return { home, env };
}

export async function run(
  e: Env,
  cmd: string,
  args: string[],
  opts: { cwd?: string; stdin?: string; env?: Record<string, string> } = {},
): Promise<Run> {
  const child = new Deno.Command(cmd, {
    args,
    // In the clean HOME unless told: never in whatever repository the tests run from (a
    // `trunks check` there fscked the project's own checkout, and failed on its worktrees).
    cwd: opts.cwd ?? e.home,
    env: { ...e.env, ...opts.env },
    clearEnv: true,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Run and require success; the error shows the command's stderr. */
export async function ok(
  e: Env,
  cmd: string,
  args: string[],
  opts: { cwd?: string; stdin?: string; env?: Record<string, string> } = {},
): Promise<string> {
  const r = await run(e, cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
  }
  return r.stdout;
}

export function git(e: Env, cwd: string, ...args: string[]): Promise<string> {
  return ok(e, "git", args, { cwd });
}
