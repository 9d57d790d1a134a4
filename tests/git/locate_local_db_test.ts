/**
 * Where a remote helper finds the repository's database. Git starts the helper with
 * GIT_DIR set and in the work tree's top; the helper takes both from there instead of
 * asking `git rev-parse` (a process on every fetch's path before its LIST), and must
 * land on the database rev-parse would have named: the main work tree's `.trunks` from a
 * linked one, the git dir's own `trunks.sqlite` otherwise, never the `.trunks` of a
 * directory whose `.git` is another repository.
 */
import { assert, assertEquals } from "../assert.ts";
import { commitFile, git, initRepoWithStore, makeEnv, newRepo, ok, run } from "../e2e/harness.ts";
import { locateFromGitEnv, locateLocalDb } from "../../src/local/paths.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

const envOf = (vars: Record<string, string>) => (n: string) => vars[n];
const noEnv = () => undefined;

/** What `git rev-parse` says, from `cwd` with no GIT_DIR (the helper run by hand). */
const byRevParse = (cwd: string) => locateLocalDb(noEnv, cwd);

Deno.test({
  name: "locate: under git's GIT_DIR, the same database as rev-parse names, with no process",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const [repo] = await initRepoWithStore(e, "loc");
    const real = await Deno.realPath(repo);
    const db = `${real}/.trunks/loc.trunk`;
    // The main work tree: git hands a relative GIT_DIR and runs the helper in the top.
    const main = await locateLocalDb(envOf({ GIT_DIR: ".git" }), real);
    assertEquals(main, { gitDir: `${real}/.git`, path: db });
    assertEquals(await byRevParse(real), main);

    // A linked work tree: its own git dir, the main work tree's database.
    const linked = `${await Deno.realPath(await Deno.makeTempDir())}/linked`;
    await git(e, repo, "worktree", "add", "-q", linked, "-b", "side");
    const linkedDir = `${real}/.git/worktrees/linked`;
    const fromLinked = await locateLocalDb(envOf({ GIT_DIR: linkedDir }), linked);
    assertEquals(fromLinked, { gitDir: linkedDir, path: db });
    assertEquals(await byRevParse(linked), fromLinked);
  },
});

Deno.test({
  name: "locate: a plain clone's linked work tree and a clone made inside another work tree",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const plain = await Deno.realPath(await newRepo(e, "plain"));
    await commitFile(e, plain, "a.txt", "a\n");
    const linked = `${await Deno.realPath(await Deno.makeTempDir())}/linked`;
    await git(e, plain, "worktree", "add", "-q", linked, "-b", "side");
    const linkedDir = `${plain}/.git/worktrees/linked`;
    const fromLinked = await locateLocalDb(envOf({ GIT_DIR: linkedDir }), linked);
    assertEquals(fromLinked, { gitDir: linkedDir, path: `${linkedDir}/trunks.sqlite` });
    assertEquals(await byRevParse(linked), fromLinked);

    // `git clone` inside an initialised work tree: GIT_DIR is the clone's, the current
    // directory the outer work tree, whose .trunks belongs to the outer repository.
    const [outer] = await initRepoWithStore(e, "outer");
    const outerReal = await Deno.realPath(outer);
    await ok(e, "git", ["init", "-q", "inner"], { cwd: outer });
    const inner = `${outerReal}/inner/.git`;
    assertEquals(
      await locateLocalDb(envOf({ GIT_DIR: inner }), outerReal),
      { gitDir: inner, path: `${inner}/trunks.sqlite` },
    );
  },
});

Deno.test({
  name: "locate: what may move the work tree leaves the answer to rev-parse",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const [repo] = await initRepoWithStore(e, "moved");
    const real = await Deno.realPath(repo);
    assert(locateFromGitEnv(envOf({ GIT_DIR: ".git" }), real));
    assertEquals(locateFromGitEnv(noEnv, real), null);
    assertEquals(locateFromGitEnv(envOf({ GIT_DIR: ".git", GIT_WORK_TREE: real }), real), null);
    assertEquals(locateFromGitEnv(envOf({ GIT_DIR: ".git", GIT_COMMON_DIR: ".git" }), real), null);
    assertEquals(locateFromGitEnv(envOf({ GIT_DIR: "no-such-dir" }), real), null);
    // core.bare set otherwise than git writes it (`bare = true` / `false`) is rev-parse's too.
    for (const [key, value] of [["core.worktree", real], ["core.bare", "yes"]]) {
      await git(e, repo, "config", key, value);
      assertEquals(locateFromGitEnv(envOf({ GIT_DIR: ".git" }), real), null, key);
      await git(e, repo, "config", "--unset", key);
    }
    await git(e, repo, "config", "include.path", "extra.config");
    assertEquals(locateFromGitEnv(envOf({ GIT_DIR: ".git" }), real), null, "include");
    await git(e, repo, "config", "--unset", "include.path");
    assert(locateFromGitEnv(envOf({ GIT_DIR: ".git" }), real));
  },
});

Deno.test({
  name: "locate: a bare repository's database is in its git dir, as rev-parse names it",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const [repo] = await initRepoWithStore(e, "bare");
    const real = await Deno.realPath(repo);
    // Its work tree's `.trunks` is no bare repository's: git sees no work tree at all.
    await git(e, repo, "config", "core.bare", "true");
    const found = locateFromGitEnv(envOf({ GIT_DIR: ".git" }), real);
    assertEquals(found?.repo.gitDir, `${real}/.git`);
    assertEquals(found?.worksOn, false);
    assertEquals(await locateLocalDb(envOf({ GIT_DIR: ".git" }), real), {
      gitDir: `${real}/.git`,
      path: `${real}/.git/trunks.sqlite`,
    });
    assertEquals(await byRevParse(`${real}/.git`), {
      gitDir: `${real}/.git`,
      path: `${real}/.git/trunks.sqlite`,
    });
  },
});

/** The git commands that ran during `f` (GIT_TRACE2_EVENT, one `start` per process). */
async function gitCommands(e: { env: Record<string, string> }, f: () => Promise<unknown>) {
  const trace = await Deno.makeTempFile({ prefix: "trunks-trace2-" });
  e.env.GIT_TRACE2_EVENT = trace;
  try {
    await f();
  } finally {
    delete e.env.GIT_TRACE2_EVENT;
  }
  return (await Deno.readTextFile(trace)).split("\n").filter((l) => l)
    .map((l) => JSON.parse(l) as { event: string; argv?: string[] })
    .filter((ev) => ev.event === "start").map((ev) => ev.argv!.slice(1).join(" "));
}

Deno.test({
  name:
    "locate: a fetch, from the main or a linked work tree, starts no rev-parse and uses .trunks",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const [repo] = await initRepoWithStore(e, "fetchloc");
    await commitFile(e, repo, "a.txt", "a\n");
    await git(e, repo, "push", "-q");
    const linked = `${await Deno.makeTempDir()}/linked`;
    await git(e, repo, "worktree", "add", "-q", linked, "-b", "side");
    for (const dir of [repo, linked]) {
      const ran = await gitCommands(e, () => git(e, dir, "fetch", "-q"));
      assert(ran.some((c) => c.startsWith("remote-trunks")), ran.join("\n"));
      assertEquals(ran.filter((c) => c.startsWith("rev-parse")), [], dir);
    }
    // The linked work tree's fetch used the repository's database, not one of its own.
    assertEquals(
      await Deno.stat(`${repo}/.git/worktrees/linked/trunks.sqlite`).then(() => true, () => false),
      false,
    );
    // Run by hand (no GIT_DIR), the helper still finds the repository and lists.
    const url = (await git(e, repo, "config", "remote.trunks.url")).trim()
      .replace(/^trunks::/, "");
    for (const dir of [repo, linked]) {
      const out = await ok(e, "git-remote-trunks", ["trunks", url], {
        cwd: dir,
        stdin: "list\n\n",
      });
      assert(/^[0-9a-f]{40} refs\/heads\/main$/m.test(out), out);
    }
  },
});

Deno.test({
  name: "locate: a mirror clone starts no rev-parse to find its git dir",
  ...opts,
  fn: async () => {
    // Two rev-parse processes on the way to its listing before: core.bare went to them.
    const e = await makeEnv();
    const a = await newRepo(e, "a");
    const store = await Deno.makeTempDir({ prefix: "trunks-store-" });
    const url = `trunks::local://${store}/m.trunk`;
    await git(e, a, "push", "-q", url, "main");
    const parent = await Deno.realPath(await Deno.makeTempDir());
    const ran = await gitCommands(e, () => git(e, parent, "clone", "-q", "--mirror", url, "m"));
    assert(ran.some((c) => c.startsWith("remote-trunks")), ran.join("\n"));
    const located = ran.filter((c) => /^rev-parse .*(--absolute-git-dir|--show-toplevel)/.test(c));
    assertEquals(located, []);
    // Its database, in its git dir, holds the trunk's entries: the next fetch lists only.
    assert((await Deno.stat(`${parent}/m/trunks.sqlite`)).isFile);
    await git(e, `${parent}/m`, "fetch", "-q");
  },
});

Deno.test({
  name: "locate: a GIT_DIR that is no repository gets no database (fails on 908aaa1)",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const [repo] = await initRepoWithStore(e, "notrepo");
    await commitFile(e, repo, "a.txt", "a\n");
    await git(e, repo, "push", "-q");
    const url = (await git(e, repo, "config", "remote.trunks.url")).trim()
      .replace(/^trunks::/, "");
    // Run by hand with a stale GIT_DIR: an ordinary directory, no repository in it.
    const plain = await Deno.realPath(await Deno.makeTempDir());
    assertEquals(locateFromGitEnv(envOf({ GIT_DIR: plain }), plain), null);
    await run(e, "git-remote-trunks", ["trunks", url], {
      cwd: plain,
      stdin: "list\n\n",
      env: { GIT_DIR: plain },
    });
    assertEquals([...Deno.readDirSync(plain)].map((d) => d.name), []);
  },
});

Deno.test({
  name: "locate: a fetch from a plain clone's linked work tree installs where git reads",
  ...opts,
  fn: async () => {
    // Fails on d32679a and later: the pack went under .git/worktrees/<name>/objects, which
    // git never reads; the fetch failed ("a segment ... is missing") and, the segment
    // marked ingested, every later fetch from there too.
    const e = await makeEnv();
    const a = await newRepo(e, "a");
    const store = await Deno.makeTempDir({ prefix: "trunks-store-" });
    const url = `trunks::local://${store}/wt.trunk`;
    await git(e, a, "push", "-q", url, "main");
    const parent = await Deno.makeTempDir();
    await git(e, parent, "clone", "-q", url, "c");
    const linked = `${parent}/linked`;
    await git(e, `${parent}/c`, "worktree", "add", "-q", linked, "-b", "side");
    for (let i = 0; i < 2; i++) {
      await commitFile(e, a, `n${i}.txt`, `${i}\n`);
      await git(e, a, "push", "-q", url, "main");
      await git(e, linked, "fetch", "-q", "origin");
      assertEquals(
        (await git(e, linked, "rev-parse", "origin/main")).trim(),
        (await git(e, a, "rev-parse", "main")).trim(),
      );
      await git(e, linked, "fsck", "--no-dangling");
    }
  },
});
