/**
 * `deno task install`: put `trunks` and `git-remote-trunks` into $TRUNKS_INSTALL_DIR
 * (default ~/.local/bin). A compiled binary where `deno compile` can get its runtime
 * base (or DENORT_BIN names one); otherwise launchers that run main.ts with this Deno.
 *
 * Launchers must work offline and in a fresh HOME (a sandbox): every dependency, the
 * lazily loaded backends' npm packages included, is cached now, and the launchers name
 * that cache (DENO_DIR) instead of the one under whatever HOME they later run with.
 */
import { DENO_RUN_ARGS } from "../src/helper/self.ts";

const repo = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? ".";
const dir = Deno.env.get("TRUNKS_INSTALL_DIR") ?? `${home}/.local/bin`;
await Deno.mkdir(dir, { recursive: true });

async function writeExecutable(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  await Deno.writeTextFile(tmp, text, { mode: 0o755 });
  await Deno.rename(tmp, path);
}

const tmpBin = `${dir}/.trunks-compile-${crypto.randomUUID()}`;
const compile = await new Deno.Command(Deno.execPath(), {
  args: ["compile", "-A", "--quiet", "-o", tmpBin, `${repo}/main.ts`],
  env: { NO_COLOR: "1" },
  stdout: "null",
  stderr: "piped",
}).output();

/** The Deno cache this Deno uses now (DENO_DIR, or its default under this HOME). */
async function denoDir(): Promise<string> {
  const explicit = Deno.env.get("DENO_DIR");
  if (explicit) return explicit;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "null",
  }).output();
  return JSON.parse(new TextDecoder().decode(out.stdout)).denoDir;
}

/** Cache main.ts and every module it may import (backends are dynamic imports). */
async function cacheEverything(cache: string): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["cache", "--quiet", `${repo}/main.ts`, `${repo}/mod.ts`],
    env: { DENO_DIR: cache, NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).split("\n").find((l) => l.trim()) ?? "";
    console.error(`install: caching trunks' dependencies failed: ${err}`);
    Deno.exit(1);
  }
}

/** Single-quoted for sh. */
const sq = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

let mode: string;
if (compile.success) {
  await Deno.rename(tmpBin, `${dir}/trunks`);
  // A shim, not a symlink: a compiled Deno binary cannot see the name it was started by.
  await writeExecutable(
    `${dir}/git-remote-trunks`,
    `#!/bin/sh\nexec "${dir}/trunks" remote-helper "$@"\n`,
  );
  mode = "compiled binary";
} else {
  await Deno.remove(tmpBin).catch(() => {});
  const cache = await denoDir();
  await cacheEverything(cache);
  const run = `DENO_DIR=${sq(cache)} exec ${sq(Deno.execPath())} ${DENO_RUN_ARGS.join(" ")} ${
    sq(`${repo}/main.ts`)
  }`;
  await writeExecutable(`${dir}/trunks`, `#!/bin/sh\n${run} "$@"\n`);
  await writeExecutable(`${dir}/git-remote-trunks`, `#!/bin/sh\n${run} remote-helper "$@"\n`);
  const err = new TextDecoder().decode(compile.stderr);
  const why = /Setting up base binary/.test(err)
    ? "its runtime base cannot be downloaded here; set DENORT_BIN to a denort binary to compile"
    : err.split("\n").find((l) => l.trim())?.replace(/^error: /i, "") ?? "unknown error";
  mode = `launchers running ${repo}/main.ts (deno compile unavailable: ${why})`;
}
console.log(`installed trunks and git-remote-trunks into ${dir} as ${mode}`);
const onPath = (Deno.env.get("PATH") ?? "").split(":").includes(dir);
if (!onPath) console.log(`add it to PATH: export PATH="${dir}:$PATH"`);
