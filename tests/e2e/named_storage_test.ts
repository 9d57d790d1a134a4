/**
 * Named storages from any repository: `trunks storage add --global NAME URL` in one
 * repository, then `git clone trunks://NAME/REPO`, `trunks clone trunks://NAME/REPO` and
 * `git remote add x trunks://NAME/REPO` from other directories with fresh repositories
 * (one temporary XDG_CONFIG_HOME), on local disk and on MinIO (the endpoint from the
 * per-user config, the keys from TRUNKS_STORAGE_<NAME>_*). A name the machine lacks
 * fails in one line; wrong or missing keys name the storage's own variables through both
 * `trunks` and `git push`.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../assert.ts";
import { commitFile, e2eBackends, type Env, git, makeEnv, newRepo, ok, run } from "./harness.ts";

const minio = e2eBackends().find((b) => b.name === "minio");

/** A machine: fresh HOME, its per-user config in a temporary XDG_CONFIG_HOME. */
async function machine(extra: Record<string, string> = {}): Promise<Env & { config: string }> {
  const xdg = await Deno.makeTempDir({ prefix: "trunks-xdg-" });
  const e = await makeEnv({ XDG_CONFIG_HOME: xdg, ...extra });
  return { ...e, config: `${xdg}/trunks/config.json` };
}

/** One line of stderr that is not git's own "Cloning into" chatter. */
function ownLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.trim() && !/^Cloning into/.test(l));
}

Deno.test({
  name:
    "named storages: storage add --global in one repository, then trunks://NAME/REPO from fresh repositories elsewhere (local disk)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const a = await machine();
    const store = await Deno.makeTempDir({ prefix: "trunks-store-" });
    const repo = await newRepo(a, "proj");
    const added = await ok(a, "trunks", [
      "storage",
      "add",
      "--global",
      "shared",
      `local://${store}`,
    ], {
      cwd: repo,
    });
    assertStringIncludes(added, `added per-user storage shared (local): local://${store}`);
    assertEquals((await Deno.stat(a.config)).mode! & 0o777, 0o600);
    const cfg = JSON.parse(await Deno.readTextFile(a.config));
    assertEquals(cfg.storages.shared.url, `local://${store}`);

    await git(a, repo, "remote", "add", "shared", "trunks://shared/proj");
    await git(a, repo, "push", "-q", "shared", "main");
    assert((await Deno.stat(`${store}/trunks/proj.trunk/trunk.json`)).isFile);

    // Another directory, no repository around it: git clone by name.
    const elsewhere = await Deno.makeTempDir({ prefix: "trunks-elsewhere-" });
    await git(a, elsewhere, "clone", "-q", "trunks://shared/proj", "viagit");
    assertEquals(await Deno.readTextFile(`${elsewhere}/viagit/README.md`), "hello\n");
    assertStringIncludes(
      await git(a, `${elsewhere}/viagit`, "remote", "-v"),
      "trunks://shared/proj",
    );

    // trunks clone saves the backend URL the name stands for (it can be handed on).
    const cloned = await ok(a, "trunks", ["clone", "trunks://shared/proj", "viatrunks"], {
      cwd: elsewhere,
    });
    assertStringIncludes(cloned, "(trunks://shared/proj, from the per-user config)");
    assertStringIncludes(
      await git(a, `${elsewhere}/viatrunks`, "remote", "get-url", "trunks"),
      `trunks::local://${store}/trunks/proj.trunk`,
    );

    // A fresh repository adds the remote by name and fetches; its push lands for all.
    const fresh = await newRepo(a, "other");
    await git(a, fresh, "remote", "add", "x", "trunks://shared/proj");
    await git(a, fresh, "fetch", "-q", "x");
    assertEquals(
      (await git(a, fresh, "rev-parse", "x/main")).trim(),
      (await git(a, repo, "rev-parse", "main")).trim(),
    );
    await commitFile(a, `${elsewhere}/viagit`, "b.txt", "two\n");
    await git(a, `${elsewhere}/viagit`, "push", "-q", "origin", "main");
    await git(a, repo, "pull", "-q", "shared", "main");
    assertEquals(await Deno.readTextFile(`${repo}/b.txt`), "two\n");

    // list shows it, marked when a repository's own storage of that name applies instead.
    const listed = await ok(a, "trunks", ["storage", "list", "--global"], { cwd: elsewhere });
    assertMatch(listed, /^shared +local +local:\/\//m);
    const local = await newRepo(a, "shadow");
    await ok(a, "trunks", ["init"], { cwd: local });
    const own = await Deno.makeTempDir({ prefix: "trunks-store-" });
    await ok(a, "trunks", [
      "storage",
      "add",
      "--name",
      "shared",
      "--backend",
      "local",
      "--path",
      own,
    ], {
      cwd: local,
    });
    assertStringIncludes(
      await ok(a, "trunks", ["storage", "list"], { cwd: local }),
      "(not used here: this repository's own storage of that name applies)",
    );
    const doctor = await run(a, "trunks", ["doctor"], { cwd: local });
    assertMatch(doctor.stdout, /per-user storage shared +not used in this repository/);
    // ... and trunks://shared/... there goes to the repository's storage.
    await git(a, local, "push", "-q", "trunks://shared/mine", "main");
    assert((await Deno.stat(`${own}/trunks/mine.trunk/trunk.json`)).isFile);
    assertEquals(
      await Deno.stat(`${store}/trunks/mine.trunk`).then(() => true, () => false),
      false,
    );

    // A machine without the name: one line naming it and the command, nothing created.
    const b = await machine();
    const where = await Deno.makeTempDir({ prefix: "trunks-machine-b-" });
    const missing = await run(b, "git", ["clone", "trunks://shared/proj", "copy"], { cwd: where });
    assert(missing.code !== 0);
    assertEquals(ownLines(missing.stderr), [
      `fatal: trunks: trunks://shared/proj: no storage named shared in this repository or in the per-user config (${b.config}); add it with: trunks storage add --global shared URL`,
    ]);
    assertEquals(await Deno.stat(`${where}/copy`).then(() => true, () => false), false);
    const viaTrunks = await run(b, "trunks", ["clone", "trunks://shared/proj"], { cwd: where });
    assertEquals(viaTrunks.code, 1);
    assertEquals(ownLines(viaTrunks.stderr).length, 1, viaTrunks.stderr);
    assertStringIncludes(viaTrunks.stderr, "trunks storage add --global shared URL");

    // Forgetting it leaves the data alone; then the name means nothing here either.
    await ok(a, "trunks", ["storage", "remove", "--global", "shared"], { cwd: elsewhere });
    const gone = await run(a, "git", ["-C", `${elsewhere}/viagit`, "fetch", "origin"]);
    assertStringIncludes(gone.stderr, "no storage named shared");
    assert((await Deno.stat(`${store}/trunks/proj.trunk/trunk.json`)).isFile);
  },
});

Deno.test({
  name:
    "named storages: the per-user config takes no secret, and an nfs:// share with a host is refused (trunks mounts nothing)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const a = await machine();
    for (
      const args of [
        ["s", "s3://bucket", "--endpoint", "http://127.0.0.1:1", "--secret-key", "SEKRIT-1"],
        ["s", "sftp://me:SEKRIT-1@127.0.0.1/srv"],
        ["s", "s3://bucket?secret-key=SEKRIT-1"],
      ]
    ) {
      const r = await run(a, "trunks", ["storage", "add", "--global", ...args]);
      assertEquals(r.code, 2, r.stderr);
      assertEquals(ownLines(r.stderr).length, 1, r.stderr);
      assertMatch(r.stderr, /holds settings only, never secrets/);
      assert(!r.stderr.includes("SEKRIT-1"), r.stderr);
    }
    assertEquals(await Deno.stat(a.config).then(() => true, () => false), false);
    const nfs = await run(a, "trunks", ["storage", "add", "--global", "n", "nfs://filer/export"]);
    assertEquals(nfs.code, 1);
    assertMatch(nfs.stderr, /does not mount shares; mount it first \(mount -t nfs filer:/);
    // A mounted share is a local path: nfs:///MOUNT works and is saved as local://.
    const mount = await Deno.makeTempDir({ prefix: "trunks-mount-" });
    await ok(a, "trunks", ["storage", "add", "--global", "n", `nfs://${mount}`]);
    const cfg = JSON.parse(await Deno.readTextFile(a.config));
    assertEquals([cfg.storages.n.backend, cfg.storages.n.url], ["local", `local://${mount}`]);
  },
});

Deno.test({
  name:
    "named storages on MinIO: endpoint from the per-user config, keys from TRUNKS_STORAGE_<NAME>_*; wrong or missing keys named through trunks and git push",
  ignore: !minio,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const root = new URL(await minio!.root()); // s3://bucket/e2e-<uuid>?endpoint=E
    const endpoint = root.searchParams.get("endpoint")!;
    const bucket = root.hostname;
    const prefix = root.pathname.replace(/^\//, "");
    const keys = {
      TRUNKS_STORAGE_TEAM_ACCESS_KEY: minio!.settings["access-key"],
      TRUNKS_STORAGE_TEAM_SECRET_KEY: minio!.settings["secret-key"],
    };
    const a = await machine(keys);
    const repo = await newRepo(a, "app");
    // The alias form: minio://HOST:PORT/BUCKET/PREFIX is s3:// with that endpoint.
    const host = new URL(endpoint).host;
    await ok(a, "trunks", [
      "storage",
      "add",
      "--global",
      "team",
      `minio://${host}/${bucket}/${prefix}`,
    ], {
      cwd: repo,
    });
    const text = await Deno.readTextFile(a.config);
    assertEquals(
      JSON.parse(text).storages.team.url,
      `s3://${bucket}/${prefix}?endpoint=${endpoint}`,
    );
    assert(!text.includes(keys.TRUNKS_STORAGE_TEAM_SECRET_KEY), "a secret reached the config");

    await git(a, repo, "push", "-q", "trunks://team/app", "main");
    const elsewhere = await Deno.makeTempDir({ prefix: "trunks-elsewhere-" });
    await git(a, elsewhere, "clone", "-q", "trunks://team/app", "copy");
    assertEquals(await Deno.readTextFile(`${elsewhere}/copy/README.md`), "hello\n");
    const viaTrunks = await ok(a, "trunks", ["clone", "trunks://team/app", "copy2"], {
      cwd: elsewhere,
    });
    assertStringIncludes(viaTrunks, `endpoint=${endpoint}`);

    // Wrong keys for this storage: refused, and its own variables named as set.
    await commitFile(a, `${elsewhere}/copy`, "c.txt", "three\n");
    const wrong = { TRUNKS_STORAGE_TEAM_SECRET_KEY: "not-the-secret" };
    const pushWrong = await run(a, "git", ["-C", `${elsewhere}/copy`, "push", "origin", "main"], {
      env: wrong,
    });
    assert(pushWrong.code !== 0);
    assertMatch(pushWrong.stderr, /secret key does not match/);
    assertMatch(
      pushWrong.stderr,
      /storage team reads its own TRUNKS_STORAGE_TEAM_ACCESS_KEY, TRUNKS_STORAGE_TEAM_SECRET_KEY.*set here: TRUNKS_STORAGE_TEAM_ACCESS_KEY, TRUNKS_STORAGE_TEAM_SECRET_KEY/,
    );
    assert(!pushWrong.stderr.includes("not-the-secret"));
    const addWrong = await run(a, "trunks", [
      "storage",
      "add",
      "--global",
      "spare",
      `minio://${host}/${bucket}/${prefix}-spare`,
    ], {
      env: { TRUNKS_STORAGE_SPARE_ACCESS_KEY: "nobody", TRUNKS_STORAGE_SPARE_SECRET_KEY: "x" },
    });
    assertEquals(addWrong.code, 1);
    assertMatch(addWrong.stderr, /refused the credentials/);
    assertStringIncludes(addWrong.stderr, "TRUNKS_STORAGE_SPARE_ACCESS_KEY");

    // No keys at all (a machine with the name but no credentials): said so, never "refused".
    const bare = await machine();
    await Deno.mkdir(bare.config.replace(/\/config\.json$/, ""), { recursive: true });
    await Deno.writeTextFile(bare.config, text);
    const none = await run(bare, "git", ["-C", `${elsewhere}/copy`, "push", "origin", "main"]);
    assert(none.code !== 0);
    assertMatch(none.stderr, /no credentials/);
    assert(!/refused/.test(none.stderr), none.stderr);
    assertStringIncludes(none.stderr, "TRUNKS_STORAGE_TEAM_ACCESS_KEY");
    assertStringIncludes(none.stderr, "none of them set here");
    const addNone = await run(bare, "trunks", [
      "storage",
      "add",
      "--global",
      "spare",
      `minio://${host}/${bucket}/${prefix}-spare`,
    ]);
    assertEquals(addNone.code, 1);
    assertMatch(addNone.stderr, /got no credentials/);
    assertStringIncludes(addNone.stderr, "TRUNKS_STORAGE_SPARE_SECRET_KEY");
    // A raw URL reads no TRUNKS_STORAGE_* at all: the hint says so rather than name them.
    const raw = await run(bare, "git", [
      "-C",
      `${elsewhere}/copy`,
      "push",
      `trunks::s3://${bucket}/${prefix}/trunks/app.trunk?endpoint=${endpoint}`,
      "main",
    ], { env: { AWS_ACCESS_KEY_ID: "nobody", AWS_SECRET_ACCESS_KEY: "x" } });
    assert(raw.code !== 0);
    assertMatch(raw.stderr, /AWS_ACCESS_KEY_ID/);
    assertMatch(raw.stderr, /this URL is used as given/);
  },
});
