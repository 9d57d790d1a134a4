/**
 * The trunk protocol driven by plain git, on every backend under test: corpus round
 * trip, incremental pushes, races, force/delete/tags, and HEAD.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import {
  commitFile,
  corpusMirror,
  e2eBackends,
  git,
  makeEnv,
  newRepo,
  ok,
  refList,
  run,
  trunkUrl,
} from "./harness.ts";
import { openStore } from "../../src/storage/registry.ts";
import { listSegments } from "../../src/trunk/segments.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function segmentCount(url: string, settings: Record<string, string>): Promise<number> {
  const store = await openStore(url, settings);
  try {
    return (await listSegments(store)).length;
  } finally {
    await store.close();
  }
}

for (const backend of e2eBackends()) {
  Deno.test({
    name:
      `e2e ${backend.name}: corpus round trip (323 refs), fsck clean, incremental push adds one segment`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(backend.env);
      const src = await corpusMirror(e);
      const url = await trunkUrl(backend, "express");
      const remote = `trunks::${url}`;
      await git(
        e,
        src,
        "push",
        "-q",
        remote,
        "refs/heads/*:refs/heads/*",
        "refs/tags/*:refs/tags/*",
      );
      const work = `${await Deno.makeTempDir()}/express`;
      await ok(e, "git", ["clone", "-q", remote, work]);
      const want = await refList(e, src);
      assertEquals(want.length, 323);
      const got = (await git(
        e,
        work,
        "for-each-ref",
        "--format=%(objectname) %(refname)",
        "refs/remotes/origin/",
        "refs/tags/",
      ))
        .trim().split("\n").filter((l) => !l.endsWith("/HEAD"))
        .map((l) => l.replace(" refs/remotes/origin/", " refs/heads/")).sort();
      assertEquals(got, want);
      await git(e, work, "fsck", "--strict", "--no-dangling");
      // HEAD follows the source's default branch.
      assertEquals((await git(e, work, "symbolic-ref", "HEAD")).trim(), "refs/heads/master");

      const before = await segmentCount(url, backend.settings);
      await commitFile(e, work, "CHANGE.md", "one commit\n");
      await git(e, work, "push", "-q", "origin", "HEAD");
      assertEquals(await segmentCount(url, backend.settings), before + 1);

      // A second clone's up-to-date fetch costs one list and moves nothing.
      const other = `${await Deno.makeTempDir()}/other`;
      await ok(e, "git", ["clone", "-q", remote, other]);
      assertEquals(
        await git(e, other, "rev-parse", "HEAD"),
        await git(e, work, "rev-parse", "HEAD"),
      );
      const fetch = await run(e, "git", ["fetch", "origin"], {
        cwd: other,
        env: { TRUNKS_DEBUG_REQUESTS: "1" },
      });
      assertEquals(fetch.code, 0, fetch.stderr);
      const counts = JSON.parse(/trunks-requests helper (.*)/.exec(fetch.stderr)![1]);
      const reqs = Object.entries(counts.requests as Record<string, number>);
      assertEquals(reqs.filter(([k]) => k.startsWith("store.")), [["store.list", 1]], fetch.stderr);
      // The backend's own wire requests (S3 pages, SQL queries...): one list is one request,
      // except where listing walks directories (SFTP): one readdir per ref directory at most.
      assert(
        reqs.filter(([k]) => !k.startsWith("store.")).every(([k, n]) =>
          n === 1 || (backend.walksDirectories === true && k.endsWith(".readdir") &&
            n <= want.length + 3)
        ),
        fetch.stderr,
      );
    },
  });

  Deno.test({
    name: `e2e ${backend.name}: push, clone, commit, push, fetch, pull`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(backend.env);
      const a = await newRepo(e, "a");
      const remote = `trunks::${await trunkUrl(backend, "app")}`;
      await git(e, a, "remote", "add", "origin", remote);
      await git(e, a, "push", "-q", "-u", "origin", "main");
      const b = `${await Deno.makeTempDir()}/b`;
      await ok(e, "git", ["clone", "-q", remote, b]);
      assertEquals(await Deno.readTextFile(`${b}/README.md`), "hello\n");
      await commitFile(e, b, "b.txt", "from b\n");
      await git(e, b, "push", "-q");
      await git(e, a, "fetch", "-q");
      await git(e, a, "pull", "-q", "--ff-only");
      assertEquals(await Deno.readTextFile(`${a}/b.txt`), "from b\n");
      // Non-fast-forward is refused in git's words; force wins.
      await commitFile(e, b, "b2.txt", "b2\n");
      await git(e, b, "push", "-q");
      await commitFile(e, a, "a.txt", "diverged\n");
      const rejected = await run(e, "git", ["push", "origin", "main"], { cwd: a });
      assert(rejected.code !== 0);
      assertMatch(rejected.stderr, /\[rejected\].*\((fetch first|non-fast-forward)\)/);
      await git(e, a, "push", "-q", "--force", "origin", "main");
      await git(e, b, "fetch", "-q");
      assertEquals(
        await git(e, b, "rev-parse", "origin/main"),
        await git(e, a, "rev-parse", "main"),
      );
    },
  });

  Deno.test({
    name: `e2e ${backend.name}: tags, deletion, many refs in one push, HEAD symref`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(backend.env);
      const a = await newRepo(e, "a");
      const remote = `trunks::${await trunkUrl(backend, "tags")}`;
      await git(e, a, "tag", "light");
      await git(e, a, "tag", "-a", "-m", "annotated", "v1.0");
      for (let i = 0; i < 20; i++) await git(e, a, "branch", `topic/${i}`);
      await git(e, a, "push", "-q", remote, "refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*");
      const ls = await git(e, a, "ls-remote", remote);
      assertMatch(ls, /refs\/tags\/v1\.0\n/);
      assertMatch(ls, /refs\/tags\/light\n/);
      assertEquals(ls.trim().split("\n").filter((l) => l.includes("refs/heads/topic/")).length, 20);
      const tagOid = (await git(e, a, "rev-parse", "v1.0")).trim();
      assert(
        ls.includes(`${tagOid}\trefs/tags/v1.0`),
        "annotated tag object is listed, not its commit",
      );
      assertMatch(ls, /\tHEAD\n/);
      // A moved tag needs force ("already exists").
      await commitFile(e, a, "x", "x\n");
      await git(e, a, "tag", "-f", "light");
      const moved = await run(e, "git", ["push", remote, "refs/tags/light"], { cwd: a });
      assert(moved.code !== 0);
      assertMatch(moved.stderr, /already exists/);
      await git(e, a, "push", "-q", "--force", remote, "refs/tags/light");
      // Deletion.
      await git(e, a, "push", "-q", remote, ":refs/heads/topic/3", ":refs/tags/v1.0");
      const after = await git(e, a, "ls-remote", remote);
      assert(!after.includes("refs/heads/topic/3\n"));
      assert(!after.includes("refs/tags/v1.0"));
      const c = `${await Deno.makeTempDir()}/c`;
      await ok(e, "git", ["clone", "-q", remote, c]);
      assertEquals((await git(e, c, "symbolic-ref", "HEAD")).trim(), "refs/heads/main");
      assertEquals(await git(e, c, "rev-parse", "light"), await git(e, a, "rev-parse", "light"));
    },
  });

  Deno.test({
    name:
      `e2e ${backend.name}: 8 racers on one branch, one wins, the rest told fetch first; 8 branches all win`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(backend.env);
      const seed = await newRepo(e, "seed");
      const remote = `trunks::${await trunkUrl(backend, "race")}`;
      await git(e, seed, "push", "-q", remote, "main");
      const racers = 8;
      const dirs: string[] = [];
      for (let i = 0; i < racers; i++) {
        const d = `${await Deno.makeTempDir()}/r${i}`;
        await ok(e, "git", ["clone", "-q", remote, d]);
        await commitFile(e, d, `r${i}.txt`, `racer ${i}\n`);
        dirs.push(d);
      }
      const same = await Promise.all(
        dirs.map((d) => run(e, "git", ["push", "origin", "main"], { cwd: d })),
      );
      const winners = same.filter((r) => r.code === 0);
      assertEquals(winners.length, 1, same.map((r) => r.stderr).join("\n---\n"));
      for (const r of same.filter((r) => r.code !== 0)) assertMatch(r.stderr, /fetch first/);
      const branches = await Promise.all(
        dirs.map((d, i) =>
          run(e, "git", ["push", "origin", `main:refs/heads/agent/${i}`], { cwd: d })
        ),
      );
      assertEquals(
        branches.map((r) => r.code),
        dirs.map(() => 0),
        branches.map((r) => r.stderr).join("\n"),
      );
      const ls = await git(e, seed, "ls-remote", remote);
      assertEquals(ls.split("\n").filter((l) => l.includes("refs/heads/agent/")).length, racers);
      const check = `${await Deno.makeTempDir()}/check`;
      await ok(e, "git", ["clone", "-q", remote, check]);
      await git(e, check, "fetch", "-q", "origin", "refs/heads/*:refs/remotes/origin/*");
      await git(e, check, "fsck", "--strict", "--no-dangling");
    },
  });
}
