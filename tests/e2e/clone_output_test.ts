/**
 * `trunks clone` says what `git clone` says: on a terminal "Cloning into" and progress,
 * not one line per tag; `-v` adds the ref lines, `-q` prints nothing. `-q`/`-v` are
 * accepted by every command, before its name too (`trunks -v status`), as git does.
 * The terminal is a real pty, made by util-linux `script`.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../assert.ts";
import { type Env, git, initRepoWithStore, makeEnv, run } from "./harness.ts";

/** Run a shell command line on a pty; everything it printed (stdout and stderr merged). */
async function onPty(e: Env, cwd: string, line: string): Promise<{ code: number; out: string }> {
  const r = await run(e, "script", ["-qec", line, "/dev/null"], { cwd });
  return { code: r.code, out: r.stdout.replaceAll("\r", "") };
}

Deno.test({
  name:
    "clone output: a pty shows Cloning into and progress, not 40 tag lines; -v lists refs; -q is silent; -q/-v accepted everywhere",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const e = await makeEnv();
    const [repo, store] = await initRepoWithStore(e);
    for (let i = 0; i < 40; i++) await git(e, repo, "tag", `v0.${i}`);
    await git(e, repo, "push", "-q", "trunks", "main", "--tags");
    const url = `local://${store}/trunks/work.trunk`;
    const where = await Deno.makeTempDir();

    const tty = await onPty(e, where, `trunks clone ${url} a`);
    assertEquals(tty.code, 0, tty.out);
    assertStringIncludes(tty.out, "Cloning into 'a'...");
    // Bytes, percentage and throughput, as git shows them.
    assertMatch(
      tty.out,
      /Downloading segments: 100% \(1\/1\), [\d.]+ (bytes|KiB|MiB) \| [\d.]+ (bytes|KiB|MiB|GiB)\/s, done\./,
    );
    assert(!tty.out.includes("[new tag]"), tty.out);
    assert(tty.out.split("\n").length < 12, tty.out);
    assertEquals((await git(e, `${where}/a`, "tag")).trim().split("\n").length, 40);

    const verbose = await onPty(e, where, `trunks clone -v ${url} b`);
    assertEquals(verbose.code, 0, verbose.out);
    assertEquals(verbose.out.split("[new tag]").length - 1, 40, verbose.out);

    const quiet = await onPty(e, where, `trunks clone -q ${url} c`);
    assertEquals(quiet.code, 0, quiet.out);
    assertEquals(quiet.out.trim(), "");
    assertEquals((await git(e, `${where}/c`, "tag")).trim().split("\n").length, 40);

    // No terminal: no progress, and the summary on stdout as before.
    const piped = await run(e, "trunks", ["clone", url, "d"], { cwd: where });
    assertEquals(piped.code, 0, piped.stderr);
    assert(!/Downloading|%/.test(piped.stderr), piped.stderr);
    assertStringIncludes(piped.stdout, `cloned ${url}`);

    for (
      const args of [
        ["-v", "status"],
        ["status", "-v"],
        ["-q", "status", "--offline"],
        ["-v", "storage", "list"],
        ["storage", "list", "-q"],
        ["-v", "fetch"],
        ["fetch", "-q"],
      ]
    ) {
      const r = await run(e, "trunks", args, { cwd: `${where}/a` });
      assertEquals(r.code, 0, `trunks ${args.join(" ")}: ${r.stderr}`);
    }
  },
});
