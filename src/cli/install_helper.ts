/**
 * `git-remote-trunks`: the name git runs for `trunks::<url>` remotes.
 *
 * It is a two-line shell shim that execs `trunks remote-helper "$@"`, not a symlink or a
 * copy of the binary:
 * - it does not depend on how the runtime reports the name it was started by (a compiled
 *   Deno binary resolves `Deno.execPath()` through symlinks, and only `process.argv0`
 *   keeps the invoked name);
 * - it also works for a development checkout run by `deno run` (a symlink to `deno` cannot
 *   carry the script path);
 * - it never goes stale the way a 100 MB copy does after an upgrade of `trunks`;
 * - git for Windows runs extension-less `#!/bin/sh` scripts through its own sh, so the
 *   same shim serves git there; a `.cmd` twin serves cmd.exe and PowerShell.
 * `scripts/install.sh` writes the same two lines (keep the formats in step).
 */
import { delimiter, dirname, isAbsolute, join, resolve } from "node:path";
import { spawnGit } from "../git/run.ts";

export const HELPER_NAME = "git-remote-trunks";

const isWindows = Deno.build.os === "windows";

export { selfCommand, type TrunksCommand } from "../helper/self.ts";

/** Single-quote for POSIX sh: the only character needing care inside '...' is ' itself. */
export function shQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** Git for Windows' sh accepts C:/x/y; backslashes would need escaping and read badly. */
function shPath(p: string): string {
  return isWindows ? p.replaceAll("\\", "/") : p;
}

/** The POSIX shim: exactly `#!/bin/sh` and one `exec` line. */
export function helperScript(trunksPath: string, args: string[] = []): string {
  const argv = [shPath(trunksPath), ...args].map(shQuote).join(" ");
  return `#!/bin/sh\nexec ${argv} remote-helper "$@"\n`;
}

/** The cmd.exe twin, for running the helper outside git on Windows. */
export function helperCmdScript(trunksPath: string, args: string[] = []): string {
  const argv = [trunksPath.replaceAll("/", "\\"), ...args].map((a) => `"${a}"`).join(" ");
  return `@echo off\r\n${argv} remote-helper %*\r\n`;
}

async function readTextOrNull(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return null;
  }
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) return false;
    return isWindows || ((info.mode ?? 0) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** Write `content` to `path` through a temp file in the same directory and a rename. */
async function writeAtomic(path: string, content: string, mode: number): Promise<void> {
  const current = await readTextOrNull(path);
  if (current === content && (await isExecutableFile(path))) return;
  const tmp = join(dirname(path), `.${HELPER_NAME}.tmp-${crypto.randomUUID()}`);
  try {
    await Deno.writeTextFile(tmp, content, { mode });
    if (!isWindows) await Deno.chmod(tmp, mode);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

function describe(e: unknown): string {
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.NotFound) return "no such directory";
  if (e instanceof Deno.errors.AlreadyExists) return "a file is in the way";
  // Deno's messages end in "(os error 20): mkdir '/x'"; the reason alone reads better.
  const msg = e instanceof Error ? e.message.split("\n")[0] : String(e);
  const reason = msg.replace(/ \(os error \d+\).*$/, "");
  return reason.charAt(0).toLowerCase() + reason.slice(1);
}

/**
 * Install the `git-remote-trunks` shim into `dir` (created if missing), pointing at
 * `trunksPath` (run with `args` before `remote-helper`, e.g. `run -A main.ts` for deno).
 * Atomic and idempotent; returns the helper's path.
 */
export async function installHelper(
  dir: string,
  trunksPath: string,
  args: string[] = [],
): Promise<string> {
  const absDir = resolve(dir);
  const target = isAbsolute(trunksPath) ? trunksPath : resolve(trunksPath);
  const helper = join(absDir, HELPER_NAME);
  try {
    await Deno.mkdir(absDir, { recursive: true });
    await writeAtomic(helper, helperScript(target, args), 0o755);
    if (isWindows) {
      await writeAtomic(`${helper}.cmd`, helperCmdScript(target, args), 0o755);
    }
  } catch (e) {
    throw new Error(
      `install-helper: cannot write ${helper}: ${describe(e)}; ` +
        `pass a writable directory that is on PATH, e.g. trunks install-helper ~/.local/bin`,
    );
  }
  return helper;
}

/** The first executable called `name` in the PATH-style list `path`. */
async function which(name: string, path: string): Promise<string | null> {
  const names = isWindows ? [`${name}.exe`, name] : [name];
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    for (const n of names) {
      const p = join(dir, n);
      if (await isExecutableFile(p)) return p;
    }
  }
  return null;
}

/**
 * Directories git searches for `git-remote-<name>`: its exec-path, then PATH. `path`
 * defaults to this process's PATH (a parameter so tests need not change the process env).
 */
export async function helperSearchDirs(path = Deno.env.get("PATH") ?? ""): Promise<string[]> {
  const dirs: string[] = [];
  const git = await which("git", path);
  if (git) {
    let execPath = "";
    try {
      const out = await spawnGit(["--exec-path"], { program: git, stdin: "null", stderr: "null" })
        .output();
      if (out.success) execPath = new TextDecoder().decode(out.stdout).trim();
    } catch {
      // A git that cannot run has no exec-path: PATH alone is searched.
    }
    if (execPath) dirs.push(execPath);
  }
  for (const d of path.split(delimiter)) if (d) dirs.push(d);
  return dirs;
}

/** Where git would find `git-remote-trunks`, or null. */
export async function findHelper(path?: string): Promise<string | null> {
  // Git for Windows runs `<name>.exe` or an extension-less script; never `.cmd`.
  const names = isWindows ? [`${HELPER_NAME}.exe`, HELPER_NAME] : [HELPER_NAME];
  for (const dir of await helperSearchDirs(path)) {
    for (const name of names) {
      const p = join(dir, name);
      if (await isExecutableFile(p)) return p;
    }
  }
  return null;
}

/** True when git can find `git-remote-trunks` (so `trunks::` remotes work). */
export async function helperOnPath(path?: string): Promise<boolean> {
  return (await findHelper(path)) !== null;
}
