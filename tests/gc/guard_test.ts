/**
 * A push whose base was collected meanwhile: between `list for-push` and the upload (in
 * a pre-push hook), another user moves the branch away and a clean with no grace drops
 * the objects git saw listed. The push engine reads the state again from the store, so
 * it builds on what the store holds now: everything the new branch needs is sent and a
 * fresh clone reads it whole.
 */
import { assert, assertEquals } from "../assert.ts";
import { commitFile, e2eBackends, git, ok } from "../e2e/harness.ts";
import { check, cloneMatches, opts, setup, trunkRefs } from "./lib.ts";

for (const backend of e2eBackends().filter((b) => ["local", "minio"].includes(b.name))) {
  Deno.test({
    name: `guard ${backend.name}: a push whose listed base a clean collected sends what it needs`,
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
      await git(s.e, b, "push", "-q", "origin", "HEAD:refs/heads/feature");
      assert(!(await Deno.stat(hook).catch(() => null)), "the hook ran");
      assertEquals((await check(s)).code, 0);
      const dir = await cloneMatches(s, await trunkRefs(s));
      await git(s.e, dir, "checkout", "-q", "feature");
      assertEquals(await Deno.readTextFile(`${dir}/x.txt`), "x\n");
      assertEquals((await check(s)).code, 0);
    },
  });
}
