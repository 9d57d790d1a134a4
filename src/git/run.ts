/**
 * Running git plumbing. Heavy lifting (packing, indexing, object walks) stays native;
 * this module only starts processes and reports their failures in one line.
 */

export class GitError extends Error {
  constructor(message: string, readonly stderr: string, readonly code: number) {
    super(message);
    this.name = "GitError";
  }
}

export interface GitOptions {
  cwd?: string;
  env?: Record<string, string>;
  stdin?: Uint8Array | string;
  /** Let git's stderr through (progress) instead of capturing it. */
  inheritStderr?: boolean;
  /** Exit codes that are answers, not failures (e.g. merge-base --is-ancestor's 1). */
  okCodes?: number[];
}

export interface GitResult {
  code: number;
  stdout: Uint8Array;
  stderr: string;
}

const dec = new TextDecoder();

export async function git(args: string[], opts: GitOptions = {}): Promise<GitResult> {
  const cmd = new Deno.Command("git", {
    args,
    cwd: opts.cwd,
    env: opts.env,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: opts.inheritStderr ? "inherit" : "piped",
  });
  let child: Deno.ChildProcess;
  try {
    child = cmd.spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new GitError("git is not installed or not on PATH", "", 127);
    }
    throw e;
  }
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(
      typeof opts.stdin === "string" ? new TextEncoder().encode(opts.stdin) : opts.stdin,
    );
    await w.close();
  }
  const out = await child.output();
  const stderr = opts.inheritStderr ? "" : dec.decode(out.stderr);
  const ok = out.code === 0 || (opts.okCodes ?? []).includes(out.code);
  if (!ok) {
    const first = stderr.split("\n").find((l) => l.trim()) ?? `exit code ${out.code}`;
    throw new GitError(
      `git ${args[0]} failed: ${first.replace(/^(fatal|error): /, "")}`,
      stderr,
      out.code,
    );
  }
  return { code: out.code, stdout: out.stdout, stderr };
}

/** Trimmed stdout as text. */
export async function gitText(args: string[], opts: GitOptions = {}): Promise<string> {
  return dec.decode((await git(args, opts)).stdout).trim();
}
