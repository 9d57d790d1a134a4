/**
 * `deno task compile`: the release binaries.
 *
 *   deno task compile [--target T]... [--out DIR]
 *
 * Builds `DIR/trunks-<target>[.exe]` (default DIR: dist) for every release target, or for the
 * `--target`s given, then writes `DIR/SHA256SUMS` (sha256sum format) for what it built.
 *
 * `deno compile` glues the program onto a "runtime base" (denort) that it downloads for each
 * target from Deno's release host. Where that host cannot be reached, point `DENORT_BIN` at a
 * denort binary of the same Deno version. Deno then uses that one file for whatever `--target`
 * is asked, so with `DENORT_BIN` set this script builds one target only: the host's, or the
 * single `--target` given (you vouch that DENORT_BIN is for it). No package registry ships
 * denort (the npm and PyPI `deno` packages hold the full CLI only, which cannot serve as the
 * base), so machines without access to Deno's release host cannot build binaries at all.
 */
import { createHash } from "node:crypto";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";

export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;
export type Target = typeof TARGETS[number];

export interface CompileOptions {
  targets: Target[];
  outDir: string;
  denortBin?: string;
}

const USAGE = "usage: deno task compile [--target T]... [--out DIR]";

/** Parse the command line; throws an Error with a one-line message on bad input. */
export function parseCompileArgs(
  args: string[],
  env: { DENORT_BIN?: string; host: string },
): CompileOptions {
  const targets: Target[] = [];
  let outDir = "dist";
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].startsWith("--") && args[i].includes("=")
      ? [args[i].slice(0, args[i].indexOf("=")), args[i].slice(args[i].indexOf("=") + 1)]
      : [args[i], undefined];
    const value = () => {
      const v = inline ?? args[++i];
      if (v === undefined || v === "") throw new Error(`compile: ${flag} needs a value; ${USAGE}`);
      return v;
    };
    if (flag === "--target") {
      const t = value();
      if (!(TARGETS as readonly string[]).includes(t)) {
        throw new Error(`compile: unknown target '${t}'; known: ${TARGETS.join(", ")}`);
      }
      if (!targets.includes(t as Target)) targets.push(t as Target);
    } else if (flag === "--out") {
      outDir = value();
    } else {
      throw new Error(`compile: unknown argument '${args[i]}'; ${USAGE}`);
    }
  }
  const denortBin = env.DENORT_BIN || undefined;
  if (denortBin) {
    if (targets.length > 1) {
      throw new Error(
        `compile: DENORT_BIN is the runtime base of one target, but ${targets.length} targets ` +
          `were asked; pass a single --target (the one DENORT_BIN was built for) or unset DENORT_BIN`,
      );
    }
    if (targets.length === 0) {
      if (!(TARGETS as readonly string[]).includes(env.host)) {
        throw new Error(
          `compile: DENORT_BIN is set but this host (${env.host}) is not a release target; ` +
            `pass --target for the target DENORT_BIN was built for`,
        );
      }
      targets.push(env.host as Target);
    }
  } else if (targets.length === 0) {
    targets.push(...TARGETS);
  }
  return { targets, outDir, denortBin };
}

export function assetName(target: Target): string {
  return `trunks-${target}${target.includes("windows") ? ".exe" : ""}`;
}

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

/**
 * When `deno compile` failed because it could not fetch the runtime base, the one line to
 * show instead of its error chain; null for any other failure (type errors and the like are
 * shown as deno printed them).
 */
export function runtimeBaseFailure(
  stderr: string,
  target: string,
  denoVersion: string,
): string | null {
  const text = stderr.replace(ANSI, "");
  if (!/Setting up base binary|denort-[\w-]+\.zip/.test(text)) return null;
  const url = /https?:\/\/\S*denort-[\w-]+\.zip/.exec(text)?.[0];
  const host = url ? new URL(url).host : "Deno's release host";
  // The deepest numbered cause is the most specific ("failed to lookup address ...").
  const causes = [...text.matchAll(/^\s*\d+: (.+)$/gm)].map((m) => m[1].trim())
    .filter((c) => c !== "<unknown>");
  const cause = causes.at(-1) ?? "download failed";
  return `compile: cannot download the Deno runtime base for ${target} from ${host} ` +
    `(${cause}); set DENORT_BIN to a denort ${denoVersion} binary for ${target} ` +
    `(one target per run), or run on a machine that can reach ${host}`;
}

/** SHA-256 of a file as lowercase hex, streamed (the binaries are ~100 MB each). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/** `<hex>  <name>` lines, as `sha256sum` writes them and `sha256sum -c` reads them. */
export async function writeChecksums(outDir: string, names: string[]): Promise<string> {
  const lines: string[] = [];
  for (const name of [...names].sort()) {
    lines.push(`${await sha256File(join(outDir, name))}  ${name}`);
  }
  const path = join(outDir, "SHA256SUMS");
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  await Deno.writeTextFile(tmp, lines.join("\n") + "\n");
  await Deno.rename(tmp, path);
  return path;
}

class CompileError extends Error {}

async function compileOne(
  target: Target,
  opts: CompileOptions,
  entry: string,
): Promise<string> {
  const out = join(opts.outDir, assetName(target));
  const env: Record<string, string> = {};
  if (opts.denortBin) env.DENORT_BIN = opts.denortBin;
  const cmd = new Deno.Command(Deno.execPath(), {
    // Type checking stays on: a release must never ship code that fails `deno check`.
    args: ["compile", "-A", "--target", target, "--output", out, entry],
    env,
    stdout: "piped",
    stderr: "piped",
  });
  const res = await cmd.output();
  const stderr = new TextDecoder().decode(res.stderr);
  if (res.success) return out;
  const line = runtimeBaseFailure(stderr, target, Deno.version.deno);
  if (line) throw new CompileError(line);
  // Anything else (type errors, a bad import) is deno's own report: show it, minus the
  // empty Rust backtrace deno appends to every error.
  console.error(stderr.replace(/\n*Stack backtrace:\n(?:\s+\d+: .*\n?)*$/, ""));
  throw new CompileError(`compile: deno compile failed for ${target} (see above)`);
}

async function checkDenort(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch {
    throw new CompileError(
      `compile: DENORT_BIN=${path} does not exist; point it at a denort binary`,
    );
  }
  if (!info.isFile) throw new CompileError(`compile: DENORT_BIN=${path} is not a file`);
  // The full `deno` CLI is accepted by deno compile but yields a binary that is just deno
  // again (it never runs the embedded program); denort alone answers "No archive found".
  const probe = await new Deno.Command(path, {
    args: ["--version"],
    stdout: "piped",
    stderr: "null",
  })
    .output()
    .catch(() => null); // built for another OS or arch: nothing to learn here
  if (probe && /^deno \d/.test(new TextDecoder().decode(probe.stdout))) {
    throw new CompileError(
      `compile: DENORT_BIN=${path} is the deno CLI, not denort (the runtime-only base); ` +
        `point it at a denort binary`,
    );
  }
}

export async function compile(opts: CompileOptions): Promise<string[]> {
  const entry = fileURLToPath(new URL("../main.ts", import.meta.url));
  if (opts.denortBin) await checkDenort(opts.denortBin);
  await Deno.mkdir(opts.outDir, { recursive: true });
  const built: string[] = [];
  for (const target of opts.targets) {
    const out = await compileOne(target, opts, entry);
    const size = (await Deno.stat(out)).size;
    console.log(`compiled ${out} (${(size / 1048576).toFixed(1)} MiB)`);
    built.push(basename(out));
  }
  const sums = await writeChecksums(opts.outDir, built);
  console.log(`wrote ${sums}`);
  return built;
}

if (import.meta.main) {
  try {
    const opts = parseCompileArgs(Deno.args, {
      DENORT_BIN: Deno.env.get("DENORT_BIN"),
      host: Deno.build.target,
    });
    await compile(opts);
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    Deno.exit(1);
  }
}
