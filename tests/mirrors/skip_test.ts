/**
 * The explicit escape for a dead mirror: `git push -o mirrors=skip` and
 * `TRUNKS_MIRRORS=skip` land a push on the primary alone and name the mirrors now behind;
 * without it the push is refused and the refusal names the escape; the next push or
 * `trunks storage sync` catches the mirror up. Never silent, never the default.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { commitFile, type Env, git, makeEnv, newRepo, ok, run } from "../e2e/harness.ts";
import {
  down,
  entriesOn,
  haveServers,
  head,
  localPair,
  opts,
  refsOn,
  saveStorages,
  stopAll,
  storageSet,
  up,
} from "./harness.ts";

function trunks(e: Env, cwd: string, args: string[], env: Record<string, string> = {}) {
  return run(e, "trunks", args, { cwd, env });
}

Deno.test({
  name:
    "mirrors=skip: a dead local mirror refuses a push and names the escape; -o mirrors=skip and TRUNKS_MIRRORS=skip land on the primary alone, loudly; storage sync catches up",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const { repo, primary, nas } = await localPair(e);
    await git(e, repo, "push", "-q", "trunks", "main");
    const first = await head(e, repo);
    assertEquals((await refsOn(nas)).get("refs/heads/main"), first);

    await down(nas);
    await commitFile(e, repo, "b.txt", "two\n");
    // The default stays strict: nothing moves, and the message says how to get out.
    const refused = await run(e, "git", ["push", "trunks", "main"], { cwd: repo });
    assert(refused.code !== 0, "a dead mirror must refuse a plain push");
    assertMatch(refused.stderr, /mirror "nas".*unreachable/);
    assertMatch(refused.stderr, /git push -o mirrors=skip, or TRUNKS_MIRRORS=skip/);
    assertEquals((await refsOn(primary)).get("refs/heads/main"), first);

    // A misspelt choice is refused, never taken for the default or for skip.
    const typo = await run(e, "git", ["push", "-o", "mirrors=skpi", "trunks", "main"], {
      cwd: repo,
    });
    assert(typo.code !== 0);
    assertMatch(typo.stderr, /mirrors="skpi" is not understood/);
    assertEquals((await refsOn(primary)).get("refs/heads/main"), first);

    // The escape: on the primary alone, naming the mirror now behind.
    const skipped = await run(e, "git", ["push", "-o", "mirrors=skip", "trunks", "main"], {
      cwd: repo,
    });
    assertEquals(skipped.code, 0, skipped.stderr);
    assertMatch(
      skipped.stderr,
      /mirrors skipped for this push \(mirrors=skip\): mirror "nas" \(local:\/\/.*\) is now behind the primary; the next push or trunks storage sync catches it up/,
    );
    const second = await head(e, repo);
    assertEquals((await refsOn(primary)).get("refs/heads/main"), second);

    // The environment variable does the same (and `trunks push` passes -o through too).
    await commitFile(e, repo, "c.txt", "three\n");
    const bad = await trunks(e, repo, ["push"], { TRUNKS_MIRRORS: "maybe" });
    assert(bad.code !== 0);
    assertMatch(bad.stderr, /TRUNKS_MIRRORS="maybe" is not understood/);
    const viaEnv = await trunks(e, repo, ["push"], { TRUNKS_MIRRORS: "skip" });
    assertEquals(viaEnv.code, 0, viaEnv.stderr);
    assertMatch(viaEnv.stderr, /mirror "nas" .* is now behind the primary/);
    const third = await head(e, repo);
    assertEquals((await refsOn(primary)).get("refs/heads/main"), third);

    // The mirror comes back: status says it is behind, storage sync brings it level.
    await up(nas);
    assertEquals((await refsOn(nas)).get("refs/heads/main"), first);
    const status = await ok(e, "trunks", ["status"], { cwd: repo });
    assertMatch(status, /nas.*behind/);
    await ok(e, "trunks", ["storage", "sync"], { cwd: repo });
    assertEquals((await refsOn(nas)).get("refs/heads/main"), third);
    assertEquals(await entriesOn(nas), await entriesOn(primary));
  },
});

Deno.test({
  name:
    "mirrors=skip: a cloud mirror behind a stopped proxy; git push -o mirrors=skip saves the work on the MinIO primary, the next plain push catches the mirror up",
  ignore: !haveServers(),
  ...opts,
  fn: async () => {
    const storages = await storageSet("skip");
    try {
      const e = await makeEnv();
      const repo = await newRepo(e);
      saveStorages(repo, storages);
      await git(e, repo, "remote", "add", "origin", `trunks::${storages[0].url}`);
      await git(e, repo, "push", "-q", "origin", "main");
      const first = await head(e, repo);
      const cloud = storages.find((s) => s.name === "cloud")!;

      await down(cloud);
      await commitFile(e, repo, "b.txt", "two\n");
      const r = await run(e, "git", ["push", "-o", "mirrors=skip", "origin", "main"], {
        cwd: repo,
      });
      assertEquals(r.code, 0, r.stderr);
      assertMatch(r.stderr, /mirror "cloud" \(.*\)(, mirror "nas" \(.*\))? .*now behind/);
      assertMatch(r.stderr, /mirror "nas"/);
      const second = await head(e, repo);
      assertEquals((await refsOn(storages[0])).get("refs/heads/main"), second);
      // Skipped means skipped: no mirror moved, so none holds a ref without its data.
      for (const m of storages.slice(1).filter((s) => s !== cloud)) {
        assertEquals((await refsOn(m)).get("refs/heads/main"), first, m.name);
      }

      await up(cloud);
      assertEquals((await refsOn(cloud)).get("refs/heads/main"), first);
      await commitFile(e, repo, "c.txt", "three\n");
      const r2 = await run(e, "git", ["push", "origin", "main"], { cwd: repo });
      assertEquals(r2.code, 0, r2.stderr);
      assertMatch(r2.stderr, /mirror "cloud" .* caught up/);
      const primaryEntries = await entriesOn(storages[0]);
      for (const s of storages) {
        assertEquals((await refsOn(s)).get("refs/heads/main"), await head(e, repo), s.name);
        assertEquals(await entriesOn(s), primaryEntries, s.name);
      }
    } finally {
      stopAll(storages);
    }
  },
});
