/**
 * A push whose base was collected meanwhile: between `list for-push` and the upload (in
 * a pre-push hook), another user moves the branch away and a clean with no grace drops
 * the objects the push builds on. The push must fail before any ref moves, and succeed
 * after a fetch.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { commitFile, e2eBackends, git, ok, run } from "../e2e/harness.ts";
import { check, cloneMatches, opts, setup, trunkRefs } from "./lib.ts";

for (const backend of e2eBackends().filter((b) => ["local", "minio"].includes(b.name))) {
  Deno.test({
    name: `guard ${backend.name}: a push whose base a clean collected fails cleanly, then works`,
    ...opts,
    fn: async () => {
      const s = await setup(backend);
      await commitFile(s.e, s.a, "x.txt", "x\n");
      await git(s.e, s.a, "push", "-q", "origin", "main");
      const b = `${await Deno.makeTempDir()}/b`;
      await ok(s.e, "git", ["clone", "-q", s.remote, b]);
      await commitFile(s.e, b, "z.txt", "z\n");
      // Meanwhile (in b's pre-push hook, after git listed the trunk's refs): main is
      // replaced by an unrelated history and a clean without grace drops the old one.
      await git(s.e, s.a, "checkout", "-q", "--orphan", "fresh");
      await commitFile(s.e, s.a, "y.txt", "y\n", "unrelated");
      const hook = `${b}/.git/hooks/pre-push`;
      await Deno.writeTextFile(
        hook,
        `#!/bin/sh
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE
git -C ${JSON.stringify(s.a)} push -q -f origin fresh:refs/heads/main >&2 || exit 1
trunks check ${JSON.stringify(s.url)} --clean --grace 0 --json >/dev/null || exit 1
rm -f "$0"
`,
      );
      await Deno.chmod(hook, 0o755);
      const pushed = await run(s.e, "git", ["push", "origin", "HEAD:refs/heads/feature"], {
        cwd: b,
      });
      assert(pushed.code !== 0, pushed.stderr);
      assertMatch(pushed.stderr, /trunk was cleaned meanwhile; fetch, then push again/);
      const refs = await trunkRefs(s);
      assert(!refs.some((r) => r.endsWith("refs/heads/feature")), refs.join("\n"));
      assertEquals((await check(s)).code, 0);

      // After a fetch the same push goes through, and the branch clones whole.
      await git(s.e, b, "fetch", "-q", "origin");
      await git(s.e, b, "push", "-q", "origin", "HEAD:refs/heads/feature");
      const dir = await cloneMatches(s, await trunkRefs(s));
      await git(s.e, dir, "checkout", "-q", "feature");
      assertEquals(await Deno.readTextFile(`${dir}/x.txt`), "x\n");
      assertEquals((await check(s)).code, 0);
    },
  });
}
