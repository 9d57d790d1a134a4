/**
 * Progress like git's on a terminal: a push of a multi-MiB large file and of a
 * multi-MiB segment shows percentages climbing, bytes of the total and a rate, redrawn
 * in place, then a final line; a clone shows the downloads the same way. Without a
 * terminal, or with -q, nothing of it is printed. The terminal is a real pty, made by
 * util-linux `script`; TRUNKS_FAULT_DELAY holds an upload mid-way, as a slow network
 * would, so the intermediate lines do not depend on the machine's speed.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../assert.ts";
import { type Env, git, initRepoWithStore, makeEnv, run } from "./harness.ts";
import { pseudoRandom } from "../largefiles/data.ts";

const MiB = 1024 * 1024;

/** Run a shell command line on a pty; everything it printed, `\r` kept. */
async function onPty(
  e: Env,
  cwd: string,
  line: string,
  env: Record<string, string> = {},
): Promise<{ code: number; out: string }> {
  const r = await run(e, "script", ["-qec", line, "/dev/null"], { cwd, env });
  return { code: r.code, out: r.stdout };
}

/** The in-place redraws of one progress title (the pieces ending in `\r`). */
function redraws(out: string, title: string): string[] {
  return out.split(/\r\n|\n/).flatMap((l) => l.split("\r").slice(0, -1))
    .filter((l) => l.startsWith(`${title}:`));
}

/** The percentages of the redraws that are neither 0% nor 100%. */
function midway(lines: string[]): number[] {
  return lines.map((l) => Number(/: +(\d+)% /.exec(l)?.[1])).filter((p) => p > 0 && p < 100);
}

const RATE = /\| [\d.]+ (bytes|KiB|MiB|GiB)\/s/;

Deno.test({
  name:
    "progress output: pushes of a large file and of a segment on a pty show bytes, percentages and a rate; nothing without a pty or with -q",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const e = await makeEnv();
    const [repo, store] = await initRepoWithStore(e);

    // A 12 MiB large file (above the 4 MiB threshold): uploaded as chunks.
    await Deno.writeFile(`${repo}/big.bin`, pseudoRandom(12 * MiB, 7));
    await git(e, repo, "add", "big.bin");
    await git(e, repo, "commit", "-qm", "big");
    const blobPush = await onPty(e, repo, "git push trunks main", {
      TRUNKS_FAULT_DELAY: "push:after-chunk:300",
    });
    assertEquals(blobPush.code, 0, blobPush.out);
    const blobLines = redraws(blobPush.out, "Uploading large blobs");
    assert(midway(blobLines).length > 0, `no intermediate percentage:\n${blobPush.out}`);
    for (const l of blobLines) {
      assertMatch(l, /^Uploading large blobs: +\d+% \(\d\/1\), [\d.]+ \w+ of 12\.00 MiB /);
      assertMatch(l, RATE);
    }
    // Never "0 bytes" until done: the bytes climb with the percentage.
    assert(blobLines.some((l) => /, [1-9][\d.]* MiB of/.test(l)), blobLines.join("\n"));
    assertMatch(
      blobPush.out,
      /Uploading large blobs: 100% \(1\/1\), 12\.00 MiB \| [\d.]+ (KiB|MiB|GiB)\/s, done\./,
    );
    // At most a few redraws a second: the push held each chunk 300 ms, about a second in all.
    assert(blobLines.length < 20, blobLines.join("\n"));

    // A 3 MiB file below the threshold: one segment of about 3 MiB.
    await Deno.writeFile(`${repo}/mid.bin`, pseudoRandom(3 * MiB, 8));
    await git(e, repo, "add", "mid.bin");
    await git(e, repo, "commit", "-qm", "mid");
    const segPush = await onPty(e, repo, "trunks push", {
      TRUNKS_FAULT_DELAY: "push:mid-segment:600",
    });
    assertEquals(segPush.code, 0, segPush.out);
    const segLines = redraws(segPush.out, "Uploading segment");
    assert(midway(segLines).length > 0, `no intermediate percentage:\n${segPush.out}`);
    for (const l of segLines) {
      assertMatch(l, /^Uploading segment: +\d+% \(0\/1\), [\d.]+ \w+ of 3\.\d\d MiB /);
      assertMatch(l, RATE);
    }
    assertMatch(
      segPush.out,
      /Uploading segment: 100% \(1\/1\), 3\.\d\d MiB \| [\d.]+ (KiB|MiB|GiB)\/s, done\./,
    );

    // A clone on a pty: the downloads, counted the same way.
    const url = `local://${store}/trunks/work.trunk`;
    const where = await Deno.makeTempDir();
    const clone = await onPty(e, where, `trunks clone ${url} a`);
    assertEquals(clone.code, 0, clone.out);
    assertMatch(
      clone.out,
      /Downloading segments: 100% \(2\/2\), 3\.\d\d MiB \| [\d.]+ \w+\/s, done\./,
    );
    assertMatch(
      clone.out,
      /Downloading large blobs: 100% \(1\/1\), 12\.00 MiB \| [\d.]+ \w+\/s, done\./,
    );

    // -q on a terminal, and no terminal at all: nothing of it.
    await Deno.writeFile(`${repo}/mid.bin`, pseudoRandom(3 * MiB, 9));
    await Deno.writeFile(`${repo}/big.bin`, pseudoRandom(12 * MiB, 10));
    await git(e, repo, "commit", "-qam", "again");
    const quiet = await onPty(e, repo, "trunks push -q");
    assertEquals(quiet.code, 0, quiet.out);
    assertEquals(quiet.out.trim(), "");
    const fetchQuiet = await onPty(e, `${where}/a`, "git fetch -q");
    assertEquals(fetchQuiet.code, 0, fetchQuiet.out);
    assertEquals(fetchQuiet.out.trim(), "");

    await Deno.writeFile(`${repo}/mid.bin`, pseudoRandom(3 * MiB, 11));
    await Deno.writeFile(`${repo}/big.bin`, pseudoRandom(12 * MiB, 12));
    await git(e, repo, "commit", "-qam", "once more");
    const piped = await run(e, "git", ["push", "trunks", "main"], { cwd: repo });
    assertEquals(piped.code, 0, piped.stderr);
    assert(!/Uploading|Downloading|%|\r/.test(piped.stderr), piped.stderr);
    assertStringIncludes(piped.stderr, "main -> main");
    const fetchPiped = await run(e, "git", ["fetch"], { cwd: `${where}/a` });
    assertEquals(fetchPiped.code, 0, fetchPiped.stderr);
    assert(!/Downloading|%|\r/.test(fetchPiped.stderr), fetchPiped.stderr);
    assertStringIncludes(fetchPiped.stderr, "main       -> trunks/main");
    assertEquals(
      await git(e, `${where}/a`, "rev-parse", "trunks/main"),
      await git(e, repo, "rev-parse", "main"),
    );
  },
});

Deno.test({
  name:
    "progress output: copies to a mirror (storage add --mirror, storage sync) show bytes and a rate on a pty; nothing piped or with -q",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const e = await makeEnv();
    const [repo] = await initRepoWithStore(e);
    await Deno.writeFile(`${repo}/big.bin`, pseudoRandom(6 * MiB, 3));
    await git(e, repo, "add", "big.bin");
    await git(e, repo, "commit", "-qm", "big");
    await git(e, repo, "push", "-q", "trunks", "main");

    const backup = await Deno.makeTempDir({ prefix: "trunks-mirror-" });
    const add = await onPty(
      e,
      repo,
      `trunks storage add --name backup --mirror --backend local --path ${backup}`,
    );
    assertEquals(add.code, 0, add.out);
    const copy =
      /Copying to mirror "backup": 100% \((\d+)\/\1\), 6\.\d\d MiB \| [\d.]+ \w+\/s, done\./;
    assertMatch(add.out, copy);

    // Pushes that skip the mirror leave it behind; storage sync catches it up, visibly.
    const behind = async (seed: number) => {
      await Deno.writeFile(`${repo}/big.bin`, pseudoRandom(6 * MiB, seed));
      await git(e, repo, "commit", "-qam", `edit ${seed}`);
      const r = await run(e, "git", ["push", "-q", "trunks", "main"], {
        cwd: repo,
        env: { TRUNKS_MIRRORS: "skip" },
      });
      assertEquals(r.code, 0, r.stderr);
    };
    await behind(4);
    const sync = await onPty(e, repo, "trunks storage sync");
    assertEquals(sync.code, 0, sync.out);
    assertMatch(sync.out, copy);
    assertStringIncludes(sync.out, "caught up");

    await behind(5);
    const quiet = await onPty(e, repo, "trunks storage sync -q");
    assertEquals(quiet.code, 0, quiet.out);
    // (A pty ends lines with \r\n; a redraw is a \r alone.)
    assert(!/Copying|%|\r(?!\n)/.test(quiet.out), quiet.out);

    await behind(6);
    const piped = await run(e, "trunks", ["storage", "sync"], { cwd: repo });
    assertEquals(piped.code, 0, piped.stderr);
    assert(!/Copying|%|\r/.test(piped.stderr + piped.stdout), piped.stderr);
  },
});

Deno.test({
  name:
    "progress output: a fatal error during a clone on a pty starts on a line of its own, never on top of the progress line",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const e = await makeEnv();
    const [repo, store] = await initRepoWithStore(e);
    await git(e, repo, "push", "-q", "trunks", "main");
    const segments = `${store}/trunks/work.trunk/segments`;
    let damaged = 0;
    for await (const f of Deno.readDir(segments)) {
      if (!f.name.endsWith(".pack")) continue;
      const bytes = await Deno.readFile(`${segments}/${f.name}`);
      bytes[bytes.length >> 1] ^= 0xff;
      await Deno.writeFile(`${segments}/${f.name}`, bytes);
      damaged++;
    }
    assert(damaged > 0, "a segment to damage");
    const where = await Deno.makeTempDir();
    const clone = await onPty(e, where, `trunks clone local://${store}/trunks/work.trunk a`);
    assert(clone.code !== 0, clone.out);
    assertStringIncludes(clone.out, "fatal: trunks:");
    // Every line that says fatal starts with it: nothing of a progress line before it.
    const lines = clone.out.split(/\r\n|\n/).flatMap((l) => l.split("\r"));
    assert(lines.some((l) => l.startsWith("fatal: trunks:")), JSON.stringify(clone.out));
    assert(!/\rfatal/.test(clone.out.replaceAll("\r\n", "\n")), JSON.stringify(clone.out));
  },
});
