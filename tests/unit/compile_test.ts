import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import {
  assetName,
  parseCompileArgs,
  runtimeBaseFailure,
  sha256File,
  TARGETS,
  writeChecksums,
} from "../../scripts/compile.ts";

const host = "x86_64-unknown-linux-gnu";

function parseError(args: string[], env: { DENORT_BIN?: string; host: string }): string {
  try {
    parseCompileArgs(args, env);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected an error");
}

Deno.test("compile builds every target by default, a subset with --target", () => {
  assertEquals(parseCompileArgs([], { host }).targets, [...TARGETS]);
  assertEquals(
    parseCompileArgs(["--target", "aarch64-apple-darwin", "--target=x86_64-pc-windows-msvc"], {
      host,
    }).targets,
    ["aarch64-apple-darwin", "x86_64-pc-windows-msvc"],
  );
  assertEquals(parseCompileArgs(["--out", "/tmp/o"], { host }).outDir, "/tmp/o");
  assertMatch(parseError(["--target", "mips-linux"], { host }), /unknown target 'mips-linux'/);
  assertMatch(parseError(["--frob"], { host }), /unknown argument '--frob'/);
  assertMatch(parseError(["--target"], { host }), /--target needs a value/);
});

Deno.test("with DENORT_BIN compile builds the host target only, or the one given", () => {
  const env = { DENORT_BIN: "/opt/denort", host };
  assertEquals(parseCompileArgs([], env).targets, [host]);
  assertEquals(parseCompileArgs([], env).denortBin, "/opt/denort");
  assertEquals(
    parseCompileArgs(["--target", "aarch64-unknown-linux-gnu"], env).targets,
    ["aarch64-unknown-linux-gnu"],
  );
  assertMatch(
    parseError(["--target", TARGETS[0], "--target", TARGETS[1]], env),
    /DENORT_BIN is the runtime base of one target/,
  );
  assertMatch(
    parseError([], { DENORT_BIN: "/opt/denort", host: "riscv64gc-unknown-linux-gnu" }),
    /not a release target; pass --target/,
  );
});

Deno.test("asset names carry .exe for Windows only", () => {
  assertEquals(assetName("x86_64-pc-windows-msvc"), "trunks-x86_64-pc-windows-msvc.exe");
  assertEquals(assetName("aarch64-apple-darwin"), "trunks-aarch64-apple-darwin");
});

// What deno 2.9.6 prints when the runtime base cannot be fetched (no network).
const OFFLINE = `\x1b[0m\x1b[32mCheck\x1b[0m main.ts
\x1b[0m\x1b[32mCompile\x1b[0m main.ts to dist/trunks-x86_64-unknown-linux-gnu
\x1b[0m\x1b[32mDownload\x1b[0m https://dl.deno.land/release/v2.9.6/denort-x86_64-unknown-linux-gnu.zip
\x1b[0m\x1b[1m\x1b[31merror\x1b[0m: Writing deno compile executable to temporary file 'dist/x.tmp-1'

Caused by:
    0: Setting up base binary.
    1: error sending request for url (https://dl.deno.land/release/v2.9.6/denort-x86_64-unknown-linux-gnu.zip): client error (Connect): dns error: failed to lookup address information: Name or service not known
    2: client error (Connect)
    3: dns error
    4: failed to lookup address information: Name or service not known

Stack backtrace:
   0: <unknown>
`;

Deno.test("an unreachable runtime base becomes one line saying what to do", () => {
  const line = runtimeBaseFailure(OFFLINE, host, "2.9.6");
  assert(line !== null);
  assert(!line.includes("\n"), line);
  assertEquals(
    line,
    "compile: cannot download the Deno runtime base for x86_64-unknown-linux-gnu from " +
      "dl.deno.land (failed to lookup address information: Name or service not known); " +
      "set DENORT_BIN to a denort 2.9.6 binary for x86_64-unknown-linux-gnu (one target per " +
      "run), or run on a machine that can reach dl.deno.land",
  );
});

Deno.test("type errors are not mistaken for a download failure", () => {
  const typeError = `Check main.ts
TS2322 [ERROR]: Type 'string' is not assignable to type 'number'.
error: Type checking failed.
`;
  assertEquals(runtimeBaseFailure(typeError, host, "2.9.6"), null);
});

Deno.test("SHA256SUMS is in sha256sum format and checks with sha256sum -c", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "trunks-b"), "bee\n");
    await Deno.writeTextFile(join(dir, "trunks-a"), "");
    const path = await writeChecksums(dir, ["trunks-b", "trunks-a"]);
    assertEquals(
      await Deno.readTextFile(path),
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  trunks-a\n" +
        `${await sha256File(join(dir, "trunks-b"))}  trunks-b\n`,
    );
    const check = await new Deno.Command("sha256sum", { args: ["-c", "SHA256SUMS"], cwd: dir })
      .output()
      .catch(() => null);
    if (check) assert(check.success, new TextDecoder().decode(check.stderr));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
