/**
 * Publishing for review: a sandbox made by `trunks clone` (no origin) is told how to add
 * GitHub; `trunks publish` pushes the branch to the trunk, then to origin (a bare
 * repository stands in for GitHub); `status` shows the branch ahead of / up to date with
 * origin; `--to` names another remote; refusals are git's or one clear line.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../assert.ts";
import { commitFile, git, initRepoWithStore, makeEnv, ok, run } from "./harness.ts";

Deno.test({
  name:
    "publish: trunks clone sandbox adds a bare 'GitHub', publishes to trunk and origin; status shows origin ahead/behind",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const e = await makeEnv();
    const [repo, store] = await initRepoWithStore(e);
    await git(e, repo, "push", "-q", "trunks", "main");
    const where = await Deno.makeTempDir();
    await ok(e, "trunks", ["clone", "-q", `local://${store}/trunks/work.trunk`, "sandbox"], {
      cwd: where,
    });
    const sandbox = `${where}/sandbox`;

    // No origin: status says how to add one; publish refuses in one line.
    assertMatch(
      await ok(e, "trunks", ["status"], { cwd: sandbox }),
      /^publish: +no origin remote; .*git remote add origin <url>, then trunks publish$/m,
    );
    const none = await run(e, "trunks", ["publish"], { cwd: sandbox });
    assertEquals(none.code, 1);
    assertMatch(none.stderr, /no git remote origin; add it once .*git remote add origin <url>/);

    const github = `${await Deno.makeTempDir()}/github.git`;
    await ok(e, "git", ["init", "-q", "--bare", github]);
    await git(e, sandbox, "remote", "add", "origin", github);
    await git(e, sandbox, "checkout", "-q", "-b", "feature");
    await commitFile(e, sandbox, "f.txt", "finished\n");
    assertMatch(
      await ok(e, "trunks", ["status"], { cwd: sandbox }),
      /^publish: +feature not on origin yet: trunks publish$/m,
    );

    const pub = await run(e, "trunks", ["publish"], { cwd: sandbox });
    assertEquals(pub.code, 0, pub.stderr);
    assertStringIncludes(pub.stderr, "published feature to the trunk and to origin");
    const tip = (await git(e, sandbox, "rev-parse", "HEAD")).trim();
    assertEquals((await ok(e, "git", ["--git-dir", github, "rev-parse", "feature"])).trim(), tip);
    // The trunk has it too (published work is never missing from the trunk).
    const remote = await git(e, sandbox, "ls-remote", "trunks", "refs/heads/feature");
    assertStringIncludes(remote, tip);
    assertMatch(
      await ok(e, "trunks", ["status"], { cwd: sandbox }),
      /^publish: +up to date with origin\/feature/m,
    );

    await commitFile(e, sandbox, "g.txt", "one more\n");
    const json = JSON.parse(await ok(e, "trunks", ["status", "--json"], { cwd: sandbox }));
    assertEquals(json.published, {
      remote: "origin",
      tracking: "origin/feature",
      ahead: 1,
      behind: 0,
    });
    assertMatch(
      await ok(e, "trunks", ["status"], { cwd: sandbox }),
      /^publish: +ahead of origin\/feature by 1 commit\(s\): trunks publish$/m,
    );

    // Another remote, a named branch, quietly.
    const other = `${await Deno.makeTempDir()}/review.git`;
    await ok(e, "git", ["init", "-q", "--bare", other]);
    await git(e, sandbox, "remote", "add", "review", other);
    const q = await run(e, "trunks", ["publish", "-q", "feature", "--to", "review"], {
      cwd: sandbox,
    });
    assertEquals(q.code, 0, q.stderr);
    assertEquals(q.stderr, "");
    assertEquals(
      (await ok(e, "git", ["--git-dir", other, "rev-parse", "feature"])).trim(),
      (await git(e, sandbox, "rev-parse", "HEAD")).trim(),
    );

    // A non-fast-forward on origin is git's refusal, and its exit code.
    await git(e, sandbox, "commit", "-q", "--amend", "-m", "rewritten");
    const nff = await run(e, "trunks", ["publish", "--to", "review"], { cwd: sandbox });
    assert(nff.code !== 0);
    assertMatch(nff.stderr, /rejected|fetch first|non-fast-forward/);
    const trunkSelf = await run(e, "trunks", ["publish", "--to", "trunks"], { cwd: sandbox });
    assertEquals(trunkSelf.code, 2);
  },
});
