/**
 * Reads across mirrors, real git: a fresh clone from the primary URL alone finds the
 * mirrors (and a push from it reaches them, naming the credential it lacks); with the
 * primary down a clone from a mirror and a fetch of an existing clone still work and
 * say so; a corrupt segment on the primary is read from a mirror and repaired.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { commitFile, e2eBackends, git, makeEnv, newRepo, ok, run } from "../e2e/harness.ts";
import {
  corruptSegment,
  down,
  haveServers,
  head,
  opts,
  packSha,
  refsOn,
  saveStorages,
  segmentIds,
  stopAll,
  storageSet,
  up,
} from "./harness.ts";

const ignore = !haveServers() || !e2eBackends().some((b) => b.name === "azurite");

/** MinIO credentials as the provider's own variables (what a fresh sandbox has). */
/**
 * A sandbox's env: the provider's variables for the primary, and its one explicit step to
 * use the storages the trunk's map names (else they are listed and left alone).
 */
/** A repository whose `origin` is the set (saved as its storages), `main` pushed to it. */
async function pushedTo(storages: Awaited<ReturnType<typeof storageSet>>) {
  const e = await makeEnv();
  const repo = await newRepo(e);
  saveStorages(repo, storages);
  await git(e, repo, "remote", "add", "origin", `trunks::${storages[0].url}`);
  await git(e, repo, "push", "-q", "origin", "main");
  return { e, repo };
}

/**
 * A fresh clone from the primary's URL, elsewhere, whose copy of segment `id` is corrupt:
 * it succeeds at `tip`, says it repaired the primary's copy, and that copy is good again.
 */
async function cloneRepairing(
  storages: Awaited<ReturnType<typeof storageSet>>,
  id: string,
  tip: string,
) {
  const other = await makeEnv(awsEnv());
  const dir = `${await Deno.makeTempDir()}/clone`;
  const r = await run(other, "git", ["clone", `trunks::${storages[0].url}`, dir]);
  assertEquals(r.code, 0, r.stderr);
  assertMatch(r.stderr, /repaired the copy on primary "primary"/);
  assertEquals(await head(other, dir), tip);
  await git(other, dir, "fsck", "--strict");
  assertEquals(await packSha(storages[0], id), id, "the primary's copy is good again");
  return r;
}

function awsEnv(): Record<string, string> {
  return {
    ...e2eBackends().find((b) => b.name === "minio")!.env,
    TRUNKS_TRUST_MIRRORS: "primary,nas,cloud",
  };
}

Deno.test({
  name:
    "mirrors: a fresh clone from the primary URL alone discovers the mirrors; its push names the credential a mirror lacks, then lands everywhere",
  ignore,
  ...opts,
  fn: async () => {
    const storages = await storageSet("app", "azurite");
    try {
      const { e, repo } = await pushedTo(storages);

      // A new sandbox: only the primary URL and the provider's variables for it.
      const fresh = await makeEnv(awsEnv());
      const dir = `${await Deno.makeTempDir()}/clone`;
      await ok(fresh, "git", ["clone", "-q", `trunks::${storages[0].url}`, dir]);
      assertEquals(await head(fresh, dir), await head(e, repo));
      await commitFile(fresh, dir, "from-sandbox.txt", "hi\n");
      const r = await run(fresh, "git", ["push", "origin", "main"], { cwd: dir });
      assert(r.code !== 0, "the azure mirror has no credentials here: the push must fail");
      assertMatch(r.stderr, /mirror "cloud"/);
      assertMatch(r.stderr, /TRUNKS_STORAGE_CLOUD_ACCOUNT_KEY/);
      assertEquals((await refsOn(storages[0])).get("refs/heads/main"), await head(e, repo));

      const key = storages[2].secrets["account-key"];
      const r2 = await run(fresh, "git", ["push", "origin", "main"], {
        cwd: dir,
        env: { TRUNKS_STORAGE_CLOUD_ACCOUNT_KEY: key },
      });
      assertEquals(r2.code, 0, r2.stderr);
      for (const s of storages) {
        assertEquals((await refsOn(s)).get("refs/heads/main"), await head(fresh, dir), s.name);
      }
    } finally {
      stopAll(storages);
    }
  },
});

Deno.test({
  name:
    "mirrors: primary down -> a clone from a mirror URL and a fetch in an existing clone read from a mirror and say so",
  ignore: !haveServers(),
  ...opts,
  fn: async () => {
    const storages = await storageSet();
    try {
      const { e, repo } = await pushedTo(storages);
      const existing = `${await Deno.makeTempDir()}/existing`;
      await ok(e, "git", ["clone", "-q", `trunks::${storages[0].url}`, existing], {
        env: awsEnv(),
      });
      await commitFile(e, repo, "b.txt", "two\n");
      await git(e, repo, "push", "-q", "origin", "main");

      await down(storages[0]);
      // A fresh sandbox given the local mirror's URL: the map there names the primary,
      // which does not answer, so the mirror serves the clone.
      const fresh = await makeEnv(awsEnv());
      const dir = `${await Deno.makeTempDir()}/clone`;
      const r = await run(fresh, "git", ["clone", `trunks::${storages[1].url}`, dir]);
      assertEquals(r.code, 0, r.stderr);
      assertMatch(r.stderr, /primary "primary" .* is unreachable/);
      assertMatch(r.stderr, /reading from mirror "nas"/);
      assertEquals(await head(fresh, dir), await head(e, repo));
      await git(fresh, dir, "fsck", "--strict");

      // The existing clone knows the mirrors from the map it cached: fetch fails over.
      const f = await run(e, "git", ["fetch", "origin"], { cwd: existing, env: awsEnv() });
      assertEquals(f.code, 0, f.stderr);
      assertMatch(f.stderr, /reading from mirror/);
      assertEquals(await head(e, existing, "origin/main"), await head(e, repo));

      // A push needs the primary: refused, saying so.
      await commitFile(e, existing, "c.txt", "three\n");
      const p = await run(e, "git", ["push", "origin", "HEAD:main"], {
        cwd: existing,
        env: awsEnv(),
      });
      assert(p.code !== 0);
      assertMatch(p.stderr, /primary "primary" .*unreachable/);
      await up(storages[0]);
    } finally {
      stopAll(storages);
    }
  },
});

Deno.test({
  name:
    "mirrors: a corrupt segment on the primary is read from a mirror, the fetch succeeds, the primary is repaired",
  ignore: !haveServers(),
  ...opts,
  fn: async () => {
    const storages = await storageSet();
    try {
      const { e, repo } = await pushedTo(storages);
      const [id] = await segmentIds(storages[0]);
      await corruptSegment(storages[0], id);
      assert((await packSha(storages[0], id)) !== id);

      const r = await cloneRepairing(storages, id, await head(e, repo));
      assertMatch(r.stderr, /corrupt/);
    } finally {
      stopAll(storages);
    }
  },
});

Deno.test({
  name:
    "mirrors: a clone of several small segments (read into memory) repairs a corrupt one on the primary from a mirror",
  ignore: !haveServers(),
  ...opts,
  fn: async () => {
    const storages = await storageSet();
    try {
      const { e, repo } = await pushedTo(storages);
      await commitFile(e, repo, "second.txt", "second\n");
      await git(e, repo, "push", "-q", "origin", "main");
      const ids = await segmentIds(storages[0]);
      assertEquals(ids.length, 2, "two segments: the clone joins them");
      await corruptSegment(storages[0], ids[1]);

      await cloneRepairing(storages, ids[1], await head(e, repo));
    } finally {
      stopAll(storages);
    }
  },
});
