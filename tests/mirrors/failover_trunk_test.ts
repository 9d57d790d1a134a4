/**
 * A read fails over only to a mirror holding the trunk this clone knows: a mirror path
 * re-used for another trunk (other trunk id) must not hand a fetch that trunk's refs.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { commitFile, makeEnv, newRepo, ok, run } from "../e2e/harness.ts";
import { down, head, localPair, opts } from "./harness.ts";

Deno.test({
  name:
    "mirrors: with the primary down a fetch reads a mirror of the same trunk, and refuses one holding another trunk",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const { repo, primary, nas } = await localPair(e);
    await commitFile(e, repo, "a.txt", "a\n");
    await ok(e, "git", ["push", "-q", "trunks", "HEAD:refs/heads/main"], { cwd: repo });
    const mine = await head(e, repo);
    const tracking = () => head(e, repo, "refs/remotes/trunks/main");
    await down(primary);

    // The mirror holds this trunk: the fetch reads it and says so.
    const good = await run(e, "git", ["fetch", "trunks"], { cwd: repo });
    assertEquals(good.code, 0, good.stderr);
    assertMatch(good.stderr, /reading from mirror "nas"/);
    assertEquals(await tracking(), mine);

    // The mirror's path now holds another trunk, pushed there directly.
    await Deno.remove(`${nas.dir}/trunks/work.trunk`, { recursive: true });
    const other = await newRepo(e, "other");
    await commitFile(e, other, "evil.txt", "evil\n");
    await ok(e, "git", ["push", "-q", `trunks::${nas.url}`, "HEAD:refs/heads/main"], {
      cwd: other,
    });
    assert(await head(e, other) !== mine);

    const bad = await run(e, "git", ["fetch", "trunks"], { cwd: repo });
    assert(bad.code !== 0, "a fetch must not read another trunk's refs");
    assertMatch(bad.stderr, /mirror "nas" \(.*\) holds another trunk/);
    assertEquals(await tracking(), mine, "the remote-tracking ref did not move");
  },
});
