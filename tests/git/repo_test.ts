/**
 * Batched questions to the local repository, against real git: many refs resolve with
 * one process, exactly as `git rev-parse --verify` resolves each; what names no object
 * is left out rather than failing the batch.
 */
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { commitFile, git, makeEnv, newRepo, ok } from "../e2e/harness.ts";
import { batchResolver, emptyRepoFormat, objectFormat, resolveRevs } from "../../src/git/repo.ts";
import { batchCheck, GIT_NOT_FOUND, GitError, spawnGit } from "../../src/git/run.ts";
import { withProcessEnv } from "../../harness/process_env.ts";

/**
 * Git processes started while `f` runs (GIT_TRACE logs one line per command). Set for the
 * whole process (`withProcessEnv`): a git another file's test starts meanwhile logs here too.
 */
async function gitProcesses<T>(f: () => Promise<T>): Promise<{ value: T; started: string[] }> {
  const trace = await Deno.makeTempFile({ prefix: "trunks-trace-" });
  const value = await withProcessEnv({ GIT_TRACE: trace }, f);
  const started = (await Deno.readTextFile(trace)).split("\n")
    .filter((l) => /trace: built-in: git /.test(l));
  await Deno.remove(trace);
  return { value, started };
}

Deno.test("resolveRevs: 300 refs, tags and expressions in one git process, as rev-parse says", async () => {
  const e = await makeEnv();
  const repo = await newRepo(e);
  await commitFile(e, repo, "a.txt", "a\n");
  await git(e, repo, "tag", "-a", "-m", "annotated", "v1");
  await git(e, repo, "tag", "light");
  const refs: string[] = [];
  let input = "";
  for (let i = 0; i < 300; i++) {
    refs.push(`refs/heads/b${i}`);
    input += `create refs/heads/b${i} HEAD${i % 2 ? "~1" : ""}\n`;
  }
  await ok(e, "git", ["update-ref", "--stdin"], { cwd: repo, stdin: input });

  const revs = [...refs, "refs/tags/v1", "refs/tags/light", "HEAD", "main~1", "nope", "HEAD:a.txt"];
  const { value: got, started } = await gitProcesses(() => resolveRevs(revs, { cwd: repo }));
  assertEquals(started.length, 1, started.join("\n"));
  assert(started[0].includes("cat-file"), started[0]);
  for (const rev of revs) {
    const want = (await git(e, repo, "rev-parse", "--verify", "--quiet", rev).catch(() => ""))
      .trim();
    assertEquals(got.get(rev), want || undefined, rev);
  }
  // An annotated tag is not peeled: its own object id, as git sends it in a push.
  const tagObject = (await git(e, repo, "cat-file", "-t", got.get("refs/tags/v1")!)).trim();
  assertEquals(tagObject, "tag");
  assertEquals(got.has("nope"), false);

  const resolve = await batchResolver(["HEAD", "nope"], { cwd: repo });
  assertEquals(await resolve("HEAD"), got.get("HEAD"));
  await assertRejects(() => resolve("nope"), GitError, "nope names no object");
  assertEquals((await resolveRevs([], { cwd: repo })).size, 0);
});

Deno.test("resolveRevs: ambiguous names resolve as rev-parse says, each by its first match only", async () => {
  const e = await makeEnv();
  const repo = await newRepo(e);
  await commitFile(e, repo, "a.txt", "a\n");
  await git(e, repo, "tag", "x");
  await commitFile(e, repo, "b.txt", "b\n");
  // `x` is a tag and a branch; `refs/heads/x` is also a branch's short name.
  await git(e, repo, "branch", "x");
  await git(e, repo, "update-ref", "refs/heads/refs/heads/x", "HEAD~1");
  const revs = ["x", "refs/heads/x", "heads/x", "tags/x", "refs/heads/refs/heads/x"];
  const trace = await Deno.makeTempFile({ prefix: "trunks-trace2-" });
  const got = await withProcessEnv({ GIT_TRACE2: trace }, () => resolveRevs(revs, { cwd: repo }));
  const starts = (await Deno.readTextFile(trace)).split("\n").filter((l) =>
    / start \S*git /.test(l)
  );
  await Deno.remove(trace);
  assertEquals(starts.length, 1, starts.join("\n"));
  // Without the ambiguity warning git stops at the first rule that matches.
  assert(starts[0].includes("-c core.warnAmbiguousRefs=false cat-file"), starts[0]);
  for (const rev of revs) {
    const want = (await git(e, repo, "rev-parse", "--verify", "--quiet", rev)).trim();
    assertEquals(got.get(rev), want, rev);
  }
  assert(got.get("x") !== got.get("refs/heads/x"), "the tag and the branch differ");
});

Deno.test("batchCheck: one cat-file, its answers buffered (not a write per line), in order", async () => {
  const e = await makeEnv();
  const repo = await newRepo(e);
  await commitFile(e, repo, "a.txt", "a\n");
  const head = (await git(e, repo, "rev-parse", "HEAD")).trim();
  const blob = (await git(e, repo, "rev-parse", "HEAD:a.txt")).trim();
  const { value, started } = await gitProcesses(() =>
    batchCheck("%(objectname) %(objecttype)", [blob, "nope", head], { cwd: repo })
  );
  assertEquals(started.length, 1, started.join("\n"));
  assert(/ cat-file --buffer '?--batch-check=/.test(started[0]), started[0]);
  assertEquals(value.slice(0, 3), [`${blob} blob`, "nope missing", `${head} commit`]);
});

Deno.test("spawnGit: a missing git is one clear GitError", () => {
  const err = (() => {
    try {
      spawnGit(["--version"], { program: "/nonexistent/git" });
    } catch (e) {
      return e;
    }
  })();
  assert(err instanceof GitError, String(err));
  assertEquals(err.message, GIT_NOT_FOUND);
  assertEquals(err.code, 127);
});

Deno.test("objectFormat: read from the repository's config, a process only where it names the key", async () => {
  const e = await makeEnv();
  const sha1 = await newRepo(e, "sha1");
  const sha256 = `${e.home}/sha256`;
  await ok(e, "git", ["init", "-q", "--object-format=sha256", sha256]);
  await ok(e, "git", ["-C", sha256, "commit", "-q", "--allow-empty", "-m", "one"]);
  const linked = `${e.home}/linked`;
  await ok(e, "git", ["-C", sha256, "worktree", "add", "-q", "--detach", linked]);
  const linkedGitDir = (await git(e, linked, "rev-parse", "--absolute-git-dir")).trim();

  const plain = await gitProcesses(() => objectFormat(`${sha1}/.git`));
  assertEquals(plain.value, "sha1");
  assertEquals(plain.started.filter((l) => l.includes("--show-object-format")), []);
  // Run from elsewhere: the answer is the given repository's, not the current directory's.
  assertEquals((await gitProcesses(() => objectFormat(`${sha256}/.git`))).value, "sha256");
  // A linked work tree's git dir has no config of its own: its main one's says.
  assertEquals((await gitProcesses(() => objectFormat(linkedGitDir))).value, "sha256");
  assertEquals(await emptyRepoFormat(`${sha256}/.git`), null);
  const empty = `${e.home}/empty256`;
  await ok(e, "git", ["init", "-q", "--object-format=sha256", empty]);
  assertEquals(await emptyRepoFormat(`${empty}/.git`), "sha256");
});
