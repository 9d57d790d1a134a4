/**
 * Strict pushes to a MinIO primary with a local-disk and a fake-gcs/Azurite mirror, real
 * git throughout: everything lands everywhere, or (a mirror down) nothing moves anywhere;
 * a mirror that fell behind is caught up by the next push; a crash between the primary's
 * entry and the mirrors' is repaired the same way; a diverged mirror is never overwritten.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { commitFile, git, makeEnv, newRepo, ok, run } from "../e2e/harness.ts";
import { refEntryKey } from "../keys.ts";
import {
  down,
  entriesOn,
  haveServers,
  head,
  mapOn,
  opts,
  refsOn,
  saveStorages,
  segmentIds,
  stopAll,
  storageSet,
  textOn,
  up,
  withStore,
} from "./harness.ts";

const ignore = !haveServers();

Deno.test({
  name: "mirrors: a push lands on the primary and every mirror, with the storage map and no secret",
  ignore,
  ...opts,
  fn: async () => {
    const storages = await storageSet();
    try {
      const e = await makeEnv();
      const repo = await newRepo(e);
      saveStorages(repo, storages);
      await git(e, repo, "remote", "add", "origin", `trunks::${storages[0].url}`);
      await git(e, repo, "tag", "v1");
      await git(e, repo, "push", "-q", "origin", "main", "v1");
      const want = new Map([["refs/heads/main", await head(e, repo)], [
        "refs/tags/v1",
        await head(e, repo),
      ]]);
      const primaryEntries = await entriesOn(storages[0]);
      const segs = await segmentIds(storages[0]);
      assertEquals(segs.length, 1);
      for (const s of storages) {
        assertEquals(await refsOn(s), want, `refs on ${s.name}`);
        assertEquals(await entriesOn(s), primaryEntries, `entries on ${s.name} (same bytes)`);
        assertEquals(await segmentIds(s), segs, `segments on ${s.name}`);
        const map = await mapOn(s);
        assertEquals(
          map?.storages.map((x) => `${x.name}:${x.role}`).sort(),
          ["cloud:mirror", "nas:mirror", "primary:primary"],
        );
      }
      // No secret in any object of the local mirror (every key, every byte).
      // (MinIO's test access key equals its bucket name, which URLs do hold.)
      const secrets = storages.flatMap((s) => Object.values(s.secrets)).filter((v) =>
        !storages.some((s) => s.url.includes(v))
      );
      assert(secrets.length > 0);
      for await (const f of walk(storages[1].dir!)) {
        const text = new TextDecoder().decode(await Deno.readFile(f));
        for (const secret of secrets) assert(!text.includes(secret), `${f} holds a secret`);
      }
      // A second push moves the ref everywhere and adds one segment everywhere.
      await commitFile(e, repo, "b.txt", "two\n");
      await git(e, repo, "push", "-q", "origin", "main");
      for (const s of storages) {
        assertEquals((await refsOn(s)).get("refs/heads/main"), await head(e, repo), s.name);
        assertEquals((await segmentIds(s)).length, 2, s.name);
      }
    } finally {
      stopAll(storages);
    }
  },
});

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const d of Deno.readDir(dir)) {
    const p = `${dir}/${d.name}`;
    if (d.isDirectory) yield* walk(p);
    else yield p;
  }
}

for (const which of ["nas", "cloud"] as const) {
  Deno.test({
    name:
      `mirrors: ${which} mirror down -> push fails naming it, no storage shows the new ref; back -> next push catches it up`,
    ignore,
    ...opts,
    fn: async () => {
      const storages = await storageSet();
      try {
        const e = await makeEnv();
        const repo = await newRepo(e);
        saveStorages(repo, storages);
        await git(e, repo, "remote", "add", "origin", `trunks::${storages[0].url}`);
        await git(e, repo, "push", "-q", "origin", "main");
        const first = await head(e, repo);
        const mirror = storages.find((s) => s.name === which)!;

        await down(mirror);
        await commitFile(e, repo, "b.txt", "two\n");
        await git(e, repo, "branch", "feature");
        const r = await run(e, "git", ["push", "origin", "main", "feature"], { cwd: repo });
        assert(r.code !== 0, "push with a mirror down must fail");
        assertMatch(r.stderr, new RegExp(`mirror "${which}".*unreachable`));
        assertMatch(r.stderr, /push refused before any ref moved/);
        for (const s of storages.filter((x) => x !== mirror)) {
          const refs = await refsOn(s);
          assertEquals(refs.get("refs/heads/main"), first, `${s.name} must not show the new main`);
          assertEquals(refs.has("refs/heads/feature"), false, `${s.name} must not show feature`);
        }

        await up(mirror);
        assertEquals((await refsOn(mirror)).get("refs/heads/main"), first);
        const r2 = await run(e, "git", ["push", "origin", "main", "feature"], { cwd: repo });
        assertEquals(r2.code, 0, r2.stderr);
        const primaryEntries = await entriesOn(storages[0]);
        for (const s of storages) {
          const refs = await refsOn(s);
          assertEquals(refs.get("refs/heads/main"), await head(e, repo), s.name);
          assertEquals(refs.get("refs/heads/feature"), await head(e, repo), s.name);
          assertEquals(await entriesOn(s), primaryEntries, `${s.name}: same entries, same bytes`);
          assertEquals(await segmentIds(s), await segmentIds(storages[0]), s.name);
        }
      } finally {
        stopAll(storages);
      }
    },
  });
}

Deno.test({
  name:
    "mirrors: a crash between the primary's entry and the mirrors' leaves them behind; the next push catches up",
  ignore,
  ...opts,
  fn: async () => {
    const storages = await storageSet();
    try {
      const e = await makeEnv();
      const repo = await newRepo(e);
      saveStorages(repo, storages);
      await git(e, repo, "remote", "add", "origin", `trunks::${storages[0].url}`);
      await git(e, repo, "push", "-q", "origin", "main");
      await commitFile(e, repo, "b.txt", "two\n");
      const r = await run(e, "git", ["push", "origin", "main"], {
        cwd: repo,
        env: { TRUNKS_FAULT: "push:mid-mirror" },
      });
      assert(r.code !== 0, "the helper was killed");
      const second = await head(e, repo);
      assertEquals((await refsOn(storages[0])).get("refs/heads/main"), second);
      for (const m of storages.slice(1)) {
        assert((await refsOn(m)).get("refs/heads/main") !== second, `${m.name} is behind`);
      }
      await commitFile(e, repo, "c.txt", "three\n");
      const r2 = await run(e, "git", ["push", "origin", "main"], { cwd: repo });
      assertEquals(r2.code, 0, r2.stderr);
      assertMatch(r2.stderr, /was behind by 1 ref entry; caught up/);
      const primaryEntries = await entriesOn(storages[0]);
      for (const s of storages) {
        assertEquals(await entriesOn(s), primaryEntries, s.name);
      }
    } finally {
      stopAll(storages);
    }
  },
});

Deno.test({
  name: "mirrors: a diverged mirror refuses the push and keeps its own entry",
  ignore,
  ...opts,
  fn: async () => {
    const storages = await storageSet();
    try {
      const e = await makeEnv();
      const repo = await newRepo(e);
      saveStorages(repo, storages);
      await git(e, repo, "remote", "add", "origin", `trunks::${storages[0].url}`);
      await git(e, repo, "push", "-q", "origin", "main");
      // Someone wrote entry 2 of main straight into the local mirror.
      const nas = storages[1];
      const key = refEntryKey("refs/heads/main", 2);
      const first = JSON.parse(await textOn(nas, refEntryKey("refs/heads/main", 1)));
      const rogue = new TextEncoder().encode(
        JSON.stringify({ ...first, seq: 2, old: first.new, writer: "rogue@elsewhere" }),
      );
      assert(await withStore(nas, (s) => s.create(key, rogue)));

      await commitFile(e, repo, "b.txt", "two\n");
      const r = await run(e, "git", ["push", "origin", "main"], { cwd: repo });
      assert(r.code !== 0);
      assertMatch(r.stderr, /mirror "nas".*has diverged/);
      assertEquals(
        await textOn(nas, key),
        new TextDecoder().decode(rogue),
        "the mirror's entry is never overwritten",
      );
      assertEquals((await refsOn(storages[0])).get("refs/heads/main"), first.new);
    } finally {
      stopAll(storages);
    }
  },
});

Deno.test({
  name:
    "mirrors: concurrent pushers (4 branches, 2 racing on one) leave every storage with the same log, none called diverged",
  ignore,
  ...opts,
  fn: async () => {
    const storages = await storageSet();
    try {
      const e = await makeEnv();
      const base = await newRepo(e);
      saveStorages(base, storages);
      await git(e, base, "remote", "add", "origin", `trunks::${storages[0].url}`);
      await git(e, base, "push", "-q", "origin", "main");
      const clones: string[] = [];
      for (let i = 0; i < 6; i++) {
        const dir = `${await Deno.makeTempDir()}/c${i}`;
        await ok(e, "git", ["clone", "-q", base, dir]);
        saveStorages(dir, storages);
        await git(e, dir, "remote", "set-url", "origin", `trunks::${storages[0].url}`);
        await commitFile(e, dir, `f${i}.txt`, `${i}\n`);
        clones.push(dir);
      }
      const results = await Promise.all(
        clones.map((dir, i) =>
          run(e, "git", [
            "push",
            "origin",
            i < 4 ? `HEAD:refs/heads/b${i}` : "HEAD:refs/heads/race",
          ], {
            cwd: dir,
          })
        ),
      );
      for (const [i, r] of results.entries()) {
        assert(!/diverged/.test(r.stderr), `pusher ${i}: ${r.stderr}`);
        if (i < 4) assertEquals(r.code, 0, `pusher ${i}: ${r.stderr}`);
      }
      assertEquals(results.slice(4).filter((r) => r.code === 0).length, 1, "one racer wins");
      const primaryEntries = await entriesOn(storages[0]);
      for (const s of storages) {
        assertEquals(await entriesOn(s), primaryEntries, `${s.name}: same log`);
      }
      const refs = await refsOn(storages[0]);
      for (let i = 0; i < 4; i++) assert(refs.has(`refs/heads/b${i}`));
    } finally {
      stopAll(storages);
    }
  },
});

Deno.test({
  name:
    "mirrors: an upload failing on one mirror (after the checks passed) fails the push naming it; no storage shows the new ref",
  ignore,
  ...opts,
  fn: async () => {
    const storages = await storageSet();
    try {
      const e = await makeEnv();
      const repo = await newRepo(e);
      saveStorages(repo, storages);
      await git(e, repo, "remote", "add", "origin", `trunks::${storages[0].url}`);
      await git(e, repo, "push", "-q", "origin", "main");
      const first = await head(e, repo);
      // The local mirror answers lists, but no segment can be written there any more.
      const nas = storages[1];
      const segDir = `${nas.dir}/trunks/app.trunk/segments`;
      await Deno.rename(segDir, `${segDir}.moved`);
      await Deno.writeTextFile(segDir, "not a directory\n");
      await commitFile(e, repo, "b.txt", "two\n");
      const r = await run(e, "git", ["push", "origin", "main"], { cwd: repo });
      assert(r.code !== 0, "the push must fail");
      assertMatch(r.stderr, /mirror "nas" .*uploading segment/);
      for (const s of storages) {
        assertEquals((await refsOn(s)).get("refs/heads/main"), first, `${s.name} unchanged`);
      }
      await Deno.remove(segDir);
      await Deno.rename(`${segDir}.moved`, segDir);
      await git(e, repo, "push", "-q", "origin", "main");
      for (const s of storages) {
        assertEquals((await refsOn(s)).get("refs/heads/main"), await head(e, repo), s.name);
      }
    } finally {
      stopAll(storages);
    }
  },
});
