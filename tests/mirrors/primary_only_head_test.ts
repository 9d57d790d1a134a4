/**
 * A first push whose ref entries the primary takes and a mirror refuses (full, credentials
 * expired mid-push), with real git: the refs moved on the primary, so HEAD is recorded
 * there too, naming the pusher's branch, and a clone of the primary checks it out; git is
 * told which refs are on the primary only, and a notice names HEAD. Once the mirror takes
 * writes again, `trunks storage sync` copies HEAD's entry with the others.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { git, makeEnv, ok, run } from "../e2e/harness.ts";
import { refEntryKey } from "../keys.ts";
import { entriesOn, localPair, opts, refsOn } from "./harness.ts";

Deno.test({
  name:
    "mirrors: a first push the mirror refuses every entry of records the pusher's HEAD on the primary; a clone checks it out; storage sync copies it",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const { repo, primary, nas } = await localPair(e);
    // The mirror refuses every ref entry: where its refs/ directory goes there is a file
    // (reads and data writes still work, as on a mirror whose quota ran out mid-push).
    const refs = `${nas.dir}/trunks/work.trunk/refs`;
    await Deno.mkdir(`${nas.dir}/trunks/work.trunk`, { recursive: true });
    await Deno.remove(refs, { recursive: true }).catch(() => {});
    await Deno.writeTextFile(refs, "");

    // Neither main nor master: the branch checked out is the pusher's choice.
    await git(e, repo, "checkout", "-q", "-b", "feature");
    await git(e, repo, "branch", "alpha");
    const pushed = await run(e, "git", ["push", "trunks", "alpha", "feature"], { cwd: repo });
    assert(pushed.code !== 0, "git hears that the refs are not on the mirror");
    assertMatch(pushed.stderr, /feature -> feature \(moved on the primary only/);
    assertMatch(
      pushed.stderr,
      /trunks: HEAD \(refs\/heads\/feature\) recorded on the primary, but mirror "nas"/,
    );
    assertEquals((await refsOn(primary)).size, 2);

    // A clone of the primary checks out the pusher's branch, not the first by name.
    const clone = `${await Deno.makeTempDir()}/clone`;
    const cloned = await run(e, "git", ["clone", `trunks::${primary.url}`, clone]);
    assertEquals(cloned.code, 0, cloned.stderr);
    assert(!/nonexistent ref/.test(cloned.stderr), cloned.stderr);
    assertEquals(
      (await ok(e, "git", ["symbolic-ref", "HEAD"], { cwd: clone })).trim(),
      "refs/heads/feature",
    );

    // The mirror takes writes again: storage sync replays every entry, HEAD's included.
    await Deno.remove(refs);
    await ok(e, "trunks", ["storage", "sync"], { cwd: repo });
    const onPrimary = await entriesOn(primary);
    assertMatch(onPrimary.get(refEntryKey("HEAD", 1)) ?? "", /"symref":"refs\/heads\/feature"/);
    assertEquals(await entriesOn(nas), onPrimary);
  },
});
