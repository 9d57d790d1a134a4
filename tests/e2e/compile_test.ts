/**
 * `deno task compile` for the host target, end to end. Where Deno's runtime base can be
 * downloaded this builds a real binary and runs it; where it cannot (the project's own
 * machines), the build must stop with exactly one line that says what to do.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { assetName, sha256File, TARGETS } from "../../scripts/compile.ts";

const SCRIPT = fileURLToPath(new URL("../../scripts/compile.ts", import.meta.url));
const host = (TARGETS as readonly string[]).includes(Deno.build.target)
  ? Deno.build.target as typeof TARGETS[number]
  : null;

Deno.test({
  name: "compile builds a working host binary, or says in one line why it cannot",
  ignore: host === null,
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "trunks-dist-" });
    try {
      const env = Deno.env.toObject();
      delete env.DENORT_BIN;
      const res = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", SCRIPT, "--target", host!, "--out", out],
        clearEnv: true,
        env: { ...env, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(res.stderr);
      const files = [];
      for await (const e of Deno.readDir(out)) files.push(e.name);
      if (!res.success) {
        assertEquals(stderr.trimEnd().split("\n").length, 1, stderr);
        assertMatch(stderr, /^compile: cannot download the Deno runtime base for /);
        assertMatch(stderr, /set DENORT_BIN to a denort \S+ binary/);
        assertEquals(files, [], "a failed build leaves nothing behind");
        return;
      }
      const bin = join(out, assetName(host!));
      assertEquals(files.sort(), [assetName(host!), "SHA256SUMS"].sort());
      assertEquals(
        await Deno.readTextFile(join(out, "SHA256SUMS")),
        `${await sha256File(bin)}  ${assetName(host!)}\n`,
      );
      const run = await new Deno.Command(bin, { args: ["--version"], stdout: "piped" }).output();
      const version = JSON.parse(
        await Deno.readTextFile(fileURLToPath(new URL("../../deno.json", import.meta.url))),
      ).version;
      assert(run.success, `${bin} --version failed`);
      assertMatch(new TextDecoder().decode(run.stdout), new RegExp(version.replaceAll(".", "\\.")));
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test("compile refuses the full deno CLI as DENORT_BIN in one line", async () => {
  const out = await Deno.makeTempDir({ prefix: "trunks-dist-" });
  try {
    const res = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", SCRIPT, "--out", out],
      env: { DENORT_BIN: Deno.execPath(), NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(res.stderr);
    assertEquals(res.code, 1);
    assertEquals(
      stderr,
      `compile: DENORT_BIN=${Deno.execPath()} is the deno CLI, not denort ` +
        `(the runtime-only base); point it at a denort binary\n`,
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
