/**
 * The CLI end to end, with real git in temp repositories: the 60-second start verbatim,
 * storage add/list/show/ping/remove, status --json, clone, the push/pull/fetch
 * wrappers, the managed shell, errors, and secrets that never leave .trunks/.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import {
  commitFile,
  e2eBackends,
  type Env,
  git,
  initRepoWithStore,
  makeEnv,
  newRepo,
  ok,
  REPO_ROOT,
  run,
  serverEnv,
  trunksBinDir,
} from "./harness.ts";
import { openStore } from "../../src/storage/registry.ts";
import { getBytes } from "../../src/storage/store.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

function trunks(e: Env, cwd: string, ...args: string[]) {
  return run(e, "trunks", args, { cwd });
}

async function trunksOk(e: Env, cwd: string, ...args: string[]): Promise<string> {
  return await ok(e, "trunks", args, { cwd });
}

async function trunksJson<T = Record<string, unknown>>(
  e: Env,
  cwd: string,
  ...args: string[]
): Promise<T> {
  return JSON.parse(await trunksOk(e, cwd, ...args, "--json")) as T;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** Every file under dir, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...await filesUnder(p));
    else if (e.isFile) out.push(p);
  }
  return out;
}

Deno.test({
  name: "cli: the 60-second start, verbatim, lands in ~/trunks-store/trunks/myrepo.trunk",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const parent = await Deno.makeTempDir();
    await ok(e, "git", ["init", "-q", "-b", "main", `${parent}/myrepo`]);
    await Deno.writeTextFile(`${parent}/myrepo/README.md`, "# myrepo\n");
    await git(e, `${parent}/myrepo`, "add", ".");
    await git(e, `${parent}/myrepo`, "commit", "-qm", "initial");
    await Deno.writeTextFile(`${parent}/myrepo/auth.ts`, "export const fixed = true;\n");
    const script = [
      "set -e",
      "cd myrepo",
      "trunks init",
      "trunks storage add --name primary --backend local --path ~/trunks-store",
      "git checkout -b feature/auth",
      'git add . && git commit -m "fix auth"',
      "git push                 # no origin needed; lands in ~/trunks-store/trunks/myrepo.trunk/",
    ].join("\n");
    const r = await run(e, "sh", ["-c", script], { cwd: parent });
    assertEquals(r.code, 0, r.stderr);
    const trunkDir = `${e.home}/trunks-store/trunks/myrepo.trunk`;
    assert(await exists(`${trunkDir}/trunk.json`), "trunk.json in the store");
    // No probe leftovers in the store.
    assert(!(await exists(`${trunkDir}/probe`)), "storage add left a probe directory");
    // .trunks/ never shows in git status, and git add . never took it.
    const repo = `${parent}/myrepo`;
    assertEquals(await git(e, repo, "status", "--porcelain"), "");
    assert(!(await git(e, repo, "ls-files")).includes(".trunks"));
    // Inline secrets may live in it: the owner's only.
    assertEquals((await Deno.stat(`${repo}/.trunks/myrepo.trunk`)).mode! & 0o777, 0o600);
    assertEquals((await Deno.stat(`${repo}/.trunks`)).mode! & 0o777, 0o700);
    // The pushed branch is really there: plain git clones it.
    const other = `${await Deno.makeTempDir()}/other`;
    await ok(e, "git", ["clone", "-q", `trunks::local://${trunkDir}`, other]);
    assertEquals(
      (await git(e, other, "log", "-1", "--format=%s", "origin/feature/auth")).trim(),
      "fix auth",
    );
    // A second push of a new branch also needs no options.
    await git(e, repo, "checkout", "-q", "-b", "second");
    await commitFile(e, repo, "b.txt", "b\n");
    await git(e, repo, "push", "-q");
    const st = await trunksJson<{ trunk: { state: string } }>(e, repo, "status");
    assertEquals(st.trunk.state, "in-sync");
  },
});

Deno.test({
  name: "cli: init is idempotent, excludes .trunks/, and keeps an existing origin working",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const repo = await newRepo(e, "app");
    const origin = `${await Deno.makeTempDir()}/origin.git`;
    await ok(e, "git", ["init", "-q", "--bare", origin]);
    await git(e, repo, "remote", "add", "origin", origin);
    await git(e, repo, "push", "-q", "-u", "origin", "main");

    const first = await trunksJson<{ created: boolean; repo: string }>(e, repo, "init");
    assertEquals(first, { ...first, created: true, repo: "app" });
    const again = await trunks(e, repo, "init");
    assertEquals(again.code, 0);
    assertMatch(again.stdout, /already set up/);
    assertEquals((await trunksJson<{ created: boolean }>(e, repo, "init")).created, false);
    const exclude = await Deno.readTextFile(`${repo}/.git/info/exclude`);
    assertEquals(exclude.split("\n").filter((l) => l === "/.trunks/").length, 1);

    // Before any storage, git push says what to do.
    await git(e, repo, "checkout", "-q", "-b", "topic");
    await commitFile(e, repo, "t.txt", "t\n");
    const early = await run(e, "git", ["push"], { cwd: repo });
    assert(early.code !== 0);
    assertMatch(early.stderr, /no storage yet.*trunks storage add/);

    const store = await Deno.makeTempDir();
    await trunksOk(
      e,
      repo,
      "storage",
      "add",
      "--name",
      "primary",
      "--backend",
      "local",
      "--path",
      store,
    );
    await git(e, repo, "push", "-q");
    assert(await exists(`${store}/trunks/app.trunk/trunk.json`));
    // init again repairs a remote someone removed.
    await git(e, repo, "remote", "remove", "trunks");
    await trunksOk(e, repo, "init");
    assertEquals(
      (await git(e, repo, "remote", "get-url", "trunks")).trim(),
      `trunks::local://${store}/trunks/app.trunk`,
    );
    await commitFile(e, repo, "t2.txt", "t2\n");
    await git(e, repo, "push", "-q", "trunks", "topic");
    // origin still works, by name, and main still tracks it.
    await git(e, repo, "push", "-q", "origin", "topic");
    const originRefs = await ok(e, "git", [
      "--git-dir",
      origin,
      "for-each-ref",
      "--format=%(refname)",
    ]);
    assert(originRefs.includes("refs/heads/topic"));
    assertEquals(
      (await git(e, repo, "config", "branch.main.remote")).trim(),
      "origin",
    );
    await git(e, repo, "checkout", "-q", "main");
    await git(e, repo, "pull", "-q");
    assertEquals(await git(e, repo, "status", "--porcelain"), "");
  },
});

Deno.test({
  name: "cli: a linked work tree (git worktree add) shares the main one's .trunks",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const [repo, store] = await initRepoWithStore(e, "wt");
    const linked = `${await Deno.makeTempDir()}/linked`;
    await git(e, repo, "worktree", "add", "-q", linked, "-b", "side");
    const again = await trunksJson<{ created: boolean; repo: string }>(e, linked, "init");
    assertEquals([again.created, again.repo], [false, "wt"]);
    assert(!(await exists(`${linked}/.trunks`)));
    await commitFile(e, linked, "side.txt", "side\n");
    await git(e, linked, "push", "-q");
    const st = await trunksJson<{ root: string; trunk: { state: string; url: string } }>(
      e,
      linked,
      "status",
    );
    assertEquals([st.root, st.trunk.state], [linked, "in-sync"]);
    assertEquals(st.trunk.url, `local://${store}/trunks/wt.trunk`);
  },
});

Deno.test({
  name: "cli: storage add/list/show/ping/remove with --json shapes",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const [repo, store] = await initRepoWithStore(e, "shapes");
    const mirrorDir = await Deno.makeTempDir();
    const added = await trunksJson(
      e,
      repo,
      "storage",
      "add",
      "--name",
      "backup",
      "--backend",
      "local",
      "--path",
      mirrorDir,
      "--mirror",
    );
    assertEquals(added.name, "backup");
    assertEquals(added.role, "mirror");
    assertEquals(added.url, `local://${mirrorDir}/trunks/shapes.trunk`);
    assertEquals((added.probe as { exclusiveCreate: boolean }).exclusiveCreate, true);

    const list = await trunksJson<{ storages: { name: string; role: string; url: string }[] }>(
      e,
      repo,
      "storage",
      "list",
    );
    assertEquals(list.storages.map((s) => [s.name, s.role]), [["primary", "primary"], [
      "backup",
      "mirror",
    ]]);
    assertEquals(list.storages[0].url, `local://${store}/trunks/shapes.trunk`);
    const text = await trunksOk(e, repo, "storage", "list");
    assertMatch(text, /^NAME\s+ROLE\s+BACKEND\s+URL/);

    const show = await trunksJson(e, repo, "storage", "show", "primary");
    for (const k of ["name", "role", "backend", "url", "settings", "secrets", "env", "added"]) {
      assert(k in show, `storage show --json has ${k}`);
    }

    const ping = await trunksJson<{ ok: boolean; storages: { name: string; ok: boolean }[] }>(
      e,
      repo,
      "storage",
      "ping",
    );
    assertEquals(ping.ok, true);
    assertEquals(ping.storages.map((s) => [s.name, s.ok]), [["primary", true], ["backup", true]]);
    // An unsaved URL, even outside any repository.
    const outside = await Deno.makeTempDir();
    const one = await trunksJson<{ ok: boolean; storages: { name: null; url: string }[] }>(
      e,
      outside,
      "storage",
      "ping",
      `local://${store}`,
    );
    assertEquals(one.ok, true);
    assertEquals(one.storages[0].name, null);
    // The probe leaves nothing behind.
    assertEquals(await filesUnder(store), []);

    // A storage that went away: ping fails with exit 1 and says why.
    await Deno.remove(mirrorDir, { recursive: true });
    const bad = await trunks(e, repo, "storage", "ping", "backup");
    assertEquals(bad.code, 1);
    assertMatch(bad.stderr, /backup \(mirror\): unreachable: .*does not exist/);

    const removed = await trunksJson(e, repo, "storage", "remove", "backup");
    assertEquals(removed, { removed: "backup", role: "mirror", url: added.url, unmapped: false });
    const status = await trunksJson<{ storages: unknown[] }>(e, repo, "status");
    assertEquals(status.storages.length, 1);
    // Removing the primary points the remote back at "no storage".
    await trunksOk(e, repo, "storage", "remove", "primary");
    assertEquals(
      (await git(e, repo, "remote", "get-url", "trunks")).trim(),
      "trunks::unconfigured",
    );
  },
});

Deno.test({
  name: "cli: status --json fields through the life of a branch",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const repo = await newRepo(e, "stat");
    await trunksOk(e, repo, "init");
    const s = await trunksJson<Record<string, unknown>>(e, repo, "status");
    assertEquals(Object.keys(s).sort(), [
      "branch",
      "changes",
      "database",
      "dirty",
      "head",
      "helper",
      "primary",
      "published",
      "repo",
      "root",
      "storages",
      "trunk",
      "unapproved",
    ]);
    assertEquals(s.repo, "stat");
    assertEquals(s.unapproved, null, "no primary: nothing to compare with a storage map");
    assertEquals(s.branch, "main");
    assertEquals(s.primary, null);
    assertEquals(s.helper, `${await trunksBinDir()}/git-remote-trunks`);
    assertEquals((s.trunk as { state: string }).state, "no-storage");

    const store = await Deno.makeTempDir();
    await trunksOk(
      e,
      repo,
      "storage",
      "add",
      "--name",
      "primary",
      "--backend",
      "local",
      "--path",
      store,
    );
    await Deno.writeTextFile(`${repo}/new.txt`, "x\n");
    await Deno.writeTextFile(`${repo}/README.md`, "changed\n");
    type Status = {
      dirty: boolean;
      changes: { staged: number; unstaged: number; untracked: number; conflicted: number };
      storages: { name: string; reachable: boolean | null; trunkExists: boolean; refs: number }[];
      trunk: {
        url: string;
        ref: string;
        oid: string | null;
        ahead: number | null;
        behind: number | null;
        state: string;
      };
    };
    let t = await trunksJson<Status>(e, repo, "status");
    assertEquals(t.dirty, true);
    assertEquals(t.changes, { staged: 0, unstaged: 1, untracked: 1, conflicted: 0 });
    assertEquals(t.storages[0].reachable, true);
    assertEquals(t.storages[0].trunkExists, false);
    assertEquals(t.trunk.state, "not-pushed");
    assertEquals(t.trunk.ahead, 1);
    assertEquals(t.trunk.ref, "refs/heads/main");

    await git(e, repo, "add", ".");
    await git(e, repo, "commit", "-qm", "two");
    await git(e, repo, "push", "-q");
    t = await trunksJson<Status>(e, repo, "status");
    assertEquals(t.dirty, false);
    assertEquals(t.trunk.state, "in-sync");
    assertEquals(t.trunk.oid, (await git(e, repo, "rev-parse", "HEAD")).trim());
    assertEquals([t.trunk.ahead, t.trunk.behind], [0, 0]);
    assertEquals(t.storages[0].refs, 1);

    // A new branch: only its own commits are to send.
    await git(e, repo, "checkout", "-q", "-b", "topic");
    await commitFile(e, repo, "topic.txt", "t\n");
    t = await trunksJson<Status>(e, repo, "status");
    assertEquals([t.trunk.state, t.trunk.ahead, t.trunk.oid], ["not-pushed", 1, null]);
    assertMatch(
      await trunksOk(e, repo, "status"),
      /not in the trunk yet \(1 commit\(s\) to send\)/,
    );
    await git(e, repo, "checkout", "-q", "main");

    await commitFile(e, repo, "a.txt", "a\n");
    await commitFile(e, repo, "b.txt", "b\n");
    t = await trunksJson<Status>(e, repo, "status");
    assertEquals([t.trunk.state, t.trunk.ahead, t.trunk.behind], ["ahead", 2, 0]);
    await git(e, repo, "reset", "-q", "--hard", "HEAD~3");
    t = await trunksJson<Status>(e, repo, "status");
    assertEquals([t.trunk.state, t.trunk.ahead, t.trunk.behind], ["behind", 0, 1]);
    const offline = await trunksJson<Status>(
      e,
      repo,
      "status",
      "--offline",
    );
    assertEquals(offline.storages[0].reachable, null);
    assertEquals(offline.trunk.state, "behind");

    // An unreachable storage is reported, not fatal.
    await Deno.remove(store, { recursive: true });
    t = await trunksJson<Status>(e, repo, "status");
    assertEquals(t.storages[0].reachable, false);
    assertEquals(t.trunk.state, "unreachable");
    const text = await trunks(e, repo, "status");
    assertEquals(text.code, 0);
    assertMatch(text.stdout, /UNREACHABLE/);
  },
});

Deno.test({
  name: "cli: clone sets up .trunks; push from the clone, pull in the original",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const [repo, store] = await initRepoWithStore(e, "proj");
    await git(e, repo, "push", "-q");
    const url = `local://${store}/trunks/proj.trunk`;
    const sandbox = await Deno.makeTempDir();
    const cloned = await trunksJson<{ dir: string; branch: string; repo: string }>(
      e,
      sandbox,
      "clone",
      url,
    );
    assertEquals(cloned.dir, `${sandbox}/proj`);
    assertEquals(cloned.branch, "main");
    const clone = cloned.dir;
    assert(await exists(`${clone}/.trunks/proj.trunk`));
    assertEquals(await git(e, clone, "status", "--porcelain"), "");
    assertEquals((await git(e, clone, "config", "branch.main.remote")).trim(), "trunks");
    const list = await trunksJson<{ storages: { name: string; url: string }[] }>(
      e,
      clone,
      "storage",
      "list",
    );
    assertEquals(list.storages.map((s) => [s.name, s.url]), [["primary", url]]);

    await commitFile(e, clone, "from-clone.txt", "hi\n");
    const pushed = await trunks(e, clone, "push");
    assertEquals(pushed.code, 0, pushed.stderr);
    const pulled = await trunks(e, repo, "pull", "--ff-only", "-q");
    assertEquals(pulled.code, 0, pulled.stderr);
    assert(await exists(`${repo}/from-clone.txt`));
    const fetched = await trunks(e, repo, "fetch");
    assertEquals(fetched.code, 0);
    // --all pushes every branch (no HEAD refspec added beside it).
    await git(e, repo, "branch", "side");
    const all = await trunks(e, repo, "push", "--all");
    assertEquals(all.code, 0, all.stderr);
    assertMatch(await git(e, repo, "ls-remote", "trunks"), /refs\/heads\/side/);

    // The wrappers keep git's exit code: a non-fast-forward push is refused.
    await git(e, repo, "reset", "-q", "--hard", "HEAD~1");
    await commitFile(e, repo, "diverge.txt", "d\n");
    const refused = await trunks(e, repo, "push");
    assertEquals(refused.code, 1);
    assertMatch(refused.stderr, /rejected/);

    // A destination in use, or a URL that is no trunk, leaves nothing behind.
    const busy = await trunks(e, sandbox, "clone", url);
    assertEquals(busy.code, 1);
    assertMatch(busy.stderr, /already exists/);
    const missing = await trunks(e, sandbox, "clone", `local://${store}/trunks/nope.trunk`);
    assertEquals(missing.code, 1);
    assertMatch(missing.stderr, /no trunk at/);
    assert(!(await exists(`${sandbox}/nope`)));
    // A plain `git clone trunks::...` becomes a trunks repository with trunks init.
    const plain = `${sandbox}/plain`;
    await ok(e, "git", ["clone", "-q", `trunks::${url}`, plain]);
    const adopted = await trunksJson<{ repo: string; primary: string; adoptedFrom: string }>(
      e,
      plain,
      "init",
    );
    assertEquals(adopted, { ...adopted, repo: "proj", primary: "primary", adoptedFrom: "origin" });
    assertEquals((await git(e, plain, "remote", "get-url", "trunks")).trim(), `trunks::${url}`);
    const plainStatus = await trunksJson<{ trunk: { state: string } }>(e, plain, "status");
    assertEquals(plainStatus.trunk.state, "in-sync");

    // -b picks a branch; the repo name and DIR are honoured.
    await git(e, clone, "checkout", "-q", "-b", "other");
    await git(e, clone, "push", "-q");
    const two = await trunksJson<{ branch: string; dir: string }>(
      e,
      sandbox,
      "clone",
      url,
      "second",
      "-b",
      "other",
    );
    assertEquals([two.branch, two.dir], ["other", `${sandbox}/second`]);
  },
});

Deno.test({
  name: "cli: the managed shell, driven by a script on stdin, can git push",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    // A PATH with trunks but no git-remote-trunks: the shell must make it reachable.
    const onlyTrunks = await Deno.makeTempDir();
    await Deno.copyFile(`${await trunksBinDir()}/trunks`, `${onlyTrunks}/trunks`);
    await Deno.chmod(`${onlyTrunks}/trunks`, 0o755);
    // Only system directories besides: a git-remote-trunks installed on this machine
    // (e.g. in ~/.local/bin) must not make the test pass.
    const git_ = (await ok(e, "sh", ["-c", "command -v git"])).trim();
    const path = [onlyTrunks, git_.slice(0, git_.lastIndexOf("/")), "/usr/bin", "/bin"];
    const env = { PATH: path.join(":"), SHELL: "/bin/sh" };
    const [repo, store] = await initRepoWithStore(e, "shelled");
    await commitFile(e, repo, "s.txt", "s\n");
    const outside = await run(e, "git", ["push", "-q"], { cwd: repo, env });
    assert(outside.code !== 0, "without the helper on PATH, git push cannot work");
    const warned = await run(e, "trunks", ["status"], { cwd: repo, env });
    assertMatch(warned.stdout, /git-remote-trunks is not on PATH.*trunks install-helper/);
    const script = [
      'echo "repo=$TRUNKS_REPO shell=$TRUNKS_SHELL"',
      "git push -q",
      "exit 7",
    ].join("\n") + "\n";
    const r = await run(e, "trunks", [], { cwd: repo, env, stdin: script });
    assertEquals(r.code, 7, r.stderr);
    assertMatch(r.stdout, /repo=shelled shell=1/);
    const head = (await git(e, repo, "rev-parse", "HEAD")).trim();
    const cloned = `${await Deno.makeTempDir()}/c`;
    await ok(e, "git", ["clone", "-q", `trunks::local://${store}/trunks/shelled.trunk`, cloned]);
    assertEquals((await git(e, cloned, "rev-parse", "HEAD")).trim(), head);
    // -c runs one command; nesting is refused.
    const c = await run(e, "trunks", ["shell", "-c", "echo $TRUNKS_TRUNK"], { cwd: repo, env });
    assertEquals(c.stdout.trim(), `local://${store}/trunks/shelled.trunk`);
    const nested = await run(e, "trunks", ["shell", "-c", "true"], {
      cwd: repo,
      env: { ...env, TRUNKS_SHELL: "1" },
    });
    assertEquals(nested.code, 1);
  },
});

Deno.test({
  name: "cli: the interactive shell (on a pty) shows the trunk in the prompt; exit returns",
  // util-linux `script` provides the terminal; its flags differ elsewhere.
  ignore: Deno.build.os !== "linux",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const [repo] = await initRepoWithStore(e, "tty");
    await Deno.writeTextFile(`${e.home}/.bashrc`, "PS1='mine$ '\n");
    // Input arrives after the shell started, as typed.
    const r = await run(e, "sh", [
      "-c",
      "(sleep 2; printf 'echo in=$TRUNKS_REPO\\nexit 5\\n') | script -qec trunks /dev/null",
    ], {
      cwd: repo,
      env: { SHELL: "/bin/bash", TERM: "dumb" },
    });
    assertEquals(r.code, 5, r.stdout + r.stderr);
    assertMatch(r.stdout, /\(trunks:tty@primary\) mine\$ /);
    assertMatch(r.stdout, /in=tty/);
  },
});

Deno.test({
  name: "cli: errors are one line, say what to do, and exit non-zero",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const notRepo = await Deno.makeTempDir();
    const cases: [string, string[], number, RegExp][] = [
      ["not a repo", ["init"], 1, /not a git repository/],
      ["not a repo: storage", ["storage", "list"], 1, /not a git repository/],
      ["unknown command", ["frobnicate"], 2, /not a trunks command/],
      ["unknown flag", ["init", "--frob"], 2, /unknown option --frob/],
    ];
    for (const [what, args, code, re] of cases) {
      const r = await trunks(e, notRepo, ...args);
      assertEquals(r.code, code, `${what}: ${r.stderr}`);
      assertMatch(r.stderr, re, what);
      assertEquals(r.stderr.trim().split("\n").length, 1, `${what}: one line`);
    }
    const repo = await newRepo(e, "errs");
    const notInit = await trunks(
      e,
      repo,
      "storage",
      "add",
      "--name",
      "p",
      "--backend",
      "local",
      "--path",
      "/tmp",
    );
    assertEquals(notInit.code, 1);
    assertMatch(notInit.stderr, /run trunks init first/);
    await trunksOk(e, repo, "init");
    const store = await Deno.makeTempDir();
    const add = (...a: string[]) => trunks(e, repo, "storage", "add", ...a);
    const errs: [string, Promise<{ code: number; stderr: string }>, number, RegExp][] = [
      [
        "unknown backend",
        add("--name", "p", "--backend", "floppy"),
        2,
        /unknown backend "floppy"; known: .*local/,
      ],
      ["missing flag", add("--name", "p", "--backend", "local"), 2, /--backend local needs --path/],
      ["missing name", add("--backend", "local", "--path", store), 2, /needs --name/],
      ["bad name", add("--name", "../x", "--backend", "local", "--path", store), 2, /not usable/],
      [
        "foreign flag",
        add("--name", "p", "--backend", "local", "--path", store, "--bucket", "b"),
        2,
        /--bucket is not an option of --backend local/,
      ],
      [
        "unreachable",
        add(
          "--name",
          "p",
          "--backend",
          "s3",
          "--bucket",
          "b",
          "--endpoint",
          "http://127.0.0.1:1",
          "--access-key",
          "a",
          "--secret-key",
          "sekrit-value-1",
        ),
        1,
        /storage p .* is unreachable: .*nothing was saved/,
      ],
      [
        "not a dir",
        add("--name", "p", "--backend", "local", "--path", `${REPO_ROOT}/deno.json`),
        1,
        /storage root|not a directory|cannot create/,
      ],
    ];
    for (const [what, p, code, re] of errs) {
      const r = await p;
      assertEquals(r.code, code, `${what}: ${r.stderr}`);
      assertMatch(r.stderr, re, what);
      assertEquals(r.stderr.trim().split("\n").length, 1, `${what}: one line: ${r.stderr}`);
      assert(!r.stderr.includes("sekrit-value-1"), `${what}: no secret in the error`);
    }
    assertEquals(
      (await trunksJson<{ storages: unknown[] }>(e, repo, "storage", "list")).storages,
      [],
    );
    await trunksOk(e, repo, "storage", "add", "--name", "p", "--backend", "local", "--path", store);
    const dup = await add("--name", "P", "--backend", "local", "--path", store, "--mirror");
    assertEquals(dup.code, 1);
    assertMatch(dup.stderr, /a storage named p already exists/);
    const second = await add("--name", "q", "--backend", "local", "--path", store);
    assertEquals(second.code, 1);
    assertMatch(second.stderr, /already has a primary storage \(p\); add this one with --mirror/);
    const show = await trunks(e, repo, "storage", "show", "nope");
    assertEquals(show.code, 1);
    assertMatch(show.stderr, /no storage named "nope"; this repository has: p/);
    // --json callers get the failure as JSON on stdout too.
    const showJson = await trunks(e, repo, "storage", "show", "nope", "--json");
    assertEquals(JSON.parse(showJson.stdout), {
      error: 'no storage named "nope"; this repository has: p',
      exitCode: 1,
    });
    // A repository named like another project's trunk: warned, not refused.
    await git(e, repo, "push", "-q");
    const same = await newRepo(e, "errs");
    await trunksOk(e, same, "init");
    const clash = await trunks(
      e,
      same,
      "storage",
      "add",
      "--name",
      "p",
      "--backend",
      "local",
      "--path",
      store,
      "--json",
    );
    assertEquals(clash.code, 0, clash.stderr);
    assertEquals(JSON.parse(clash.stdout).unrelatedTrunk, true);
    assertMatch(clash.stderr, /shares no commit with this repository/);
    // A name with nothing usable in it asks for --name.
    const dots = await newRepo(e, "...");
    const bad = await trunks(e, dots, "init");
    assertEquals(bad.code, 1);
    assertMatch(bad.stderr, /no usable characters; pick one with --name/);
  },
});

Deno.test({
  name: "cli: repo names with spaces, .., / and unicode are sanitised inside the root",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const store = await Deno.makeTempDir();
    for (
      const [dir, name, want] of [
        ["my repo", undefined, "my-repo"],
        ["ünïcödé", undefined, "ünïcödé"],
        ["plain", "../../escape", "escape"],
        ["plain2", "a/b/../c", "a-b-.-c"],
      ] as const
    ) {
      const repo = await newRepo(e, dir);
      const args = name ? ["init", "--name", name] : ["init"];
      const r = await trunksJson<{ repo: string }>(e, repo, ...args);
      assertEquals(r.repo, want);
      await trunksOk(
        e,
        repo,
        "storage",
        "add",
        "--name",
        "primary",
        "--backend",
        "local",
        "--path",
        store,
      );
      await git(e, repo, "push", "-q");
      assert(await exists(`${store}/trunks/${want}.trunk/trunk.json`), want);
    }
    // Nothing escaped the root.
    const top = [...Deno.readDirSync(store)].map((d) => d.name);
    assertEquals(top, ["trunks"]);
    const parent = store.slice(0, store.lastIndexOf("/"));
    assert(!(await exists(`${parent}/escape.trunk`)));
  },
});

/** MinIO: a secret given with --secret-key stays in .trunks/ and nowhere else. */
const minio = serverEnv("minio", [
  "TRUNKS_TEST_MINIO_ENDPOINT",
  "TRUNKS_TEST_MINIO_ACCESS_KEY",
  "TRUNKS_TEST_MINIO_SECRET_KEY",
  "TRUNKS_TEST_MINIO_BUCKET",
]);

Deno.test({
  name: "cli minio: --secret-key reaches no store object, no git config, no output",
  ignore: !minio,
  ...opts,
  fn: async () => {
    const m = minio!;
    const secret = m.TRUNKS_TEST_MINIO_SECRET_KEY;
    // No provider variables: the saved inline secret is what must work.
    const e = await makeEnv();
    const repo = await newRepo(e, "secretive");
    await trunksOk(e, repo, "init");
    const prefix = `cli-${crypto.randomUUID()}`;
    const outputs: string[] = [];
    const t = async (...args: string[]) => {
      const r = await trunks(e, repo, ...args);
      outputs.push(r.stdout, r.stderr);
      assertEquals(r.code, 0, r.stderr);
      return r.stdout;
    };
    // Wrong credentials: refused, said so without the secret, nothing saved.
    const denied = await trunks(
      e,
      repo,
      "storage",
      "add",
      "--name",
      "primary",
      "--backend",
      "s3",
      "--bucket",
      m.TRUNKS_TEST_MINIO_BUCKET,
      "--endpoint",
      m.TRUNKS_TEST_MINIO_ENDPOINT,
      "--access-key",
      m.TRUNKS_TEST_MINIO_ACCESS_KEY,
      "--secret-key",
      "wrong-secret-value",
    );
    assertEquals(denied.code, 1);
    assertMatch(
      denied.stderr,
      /^trunks: storage primary \(s3:.*\) refused the credentials: .*nothing was saved\n$/,
    );
    assert(!denied.stderr.includes("wrong-secret-value"));
    assertEquals((await trunksJson<{ storages: [] }>(e, repo, "storage", "list")).storages, []);

    await t(
      "storage",
      "add",
      "--name",
      "primary",
      "--backend",
      "s3",
      "--bucket",
      m.TRUNKS_TEST_MINIO_BUCKET,
      "--prefix",
      prefix,
      "--endpoint",
      m.TRUNKS_TEST_MINIO_ENDPOINT,
      "--access-key",
      m.TRUNKS_TEST_MINIO_ACCESS_KEY,
      "--secret-key",
      secret,
    );
    const push = await run(e, "git", ["push"], { cwd: repo });
    assertEquals(push.code, 0, push.stderr);
    outputs.push(push.stdout, push.stderr);
    const show = JSON.parse(await t("storage", "show", "primary", "--json"));
    assertEquals(show.secrets, { "access-key": "***", "secret-key": "***" });
    await t("storage", "show", "primary");
    await t("storage", "list", "--json");
    await t("storage", "ping");
    await t("status", "--json");
    await t("status");
    for (const o of outputs) assert(!o.includes(secret), `secret printed: ${o}`);

    // git config, and every file of the work tree outside .trunks/.
    const config = await git(e, repo, "config", "--list", "--show-origin");
    assert(!config.includes(secret), "secret in git config");
    for (const f of await filesUnder(repo)) {
      if (f.includes("/.trunks/")) continue;
      const bytes = await Deno.readFile(f);
      assert(!new TextDecoder().decode(bytes).includes(secret), `secret in ${f}`);
    }
    // Every object the push and the probe wrote under the prefix.
    const store = await openStore(
      `s3://${m.TRUNKS_TEST_MINIO_BUCKET}/${prefix}?endpoint=${m.TRUNKS_TEST_MINIO_ENDPOINT}`,
      { "access-key": m.TRUNKS_TEST_MINIO_ACCESS_KEY, "secret-key": secret },
    );
    try {
      const keys = (await store.list("")).map((k) => k.key);
      assert(keys.some((k) => k.endsWith("trunk.json")), `pushed: ${keys.join(", ")}`);
      assert(!keys.some((k) => k.includes("probe/")), "probe objects left behind");
      for (const k of keys) {
        const bytes = await getBytes(store, k);
        assert(!new TextDecoder("latin1").decode(bytes!).includes(secret), `secret in ${k}`);
      }
    } finally {
      await store.close();
    }

    // And the files MinIO keeps on disk for them (data and metadata), when we can see them.
    const state = Deno.env.get("TRUNKS_TEST_STATE");
    const onDisk = `${state}/minio/data/${m.TRUNKS_TEST_MINIO_BUCKET}/${prefix}`;
    if (state && await exists(onDisk)) {
      const files = await filesUnder(onDisk);
      assert(files.length > 0);
      for (const f of files) {
        const text = new TextDecoder("latin1").decode(await Deno.readFile(f));
        assert(!text.includes(secret), `secret in ${f}`);
      }
    }

    // Lookup order: TRUNKS_STORAGE_<NAME>_SECRET_KEY wins over the saved value.
    const wrong = await run(e, "trunks", ["storage", "ping", "--json"], {
      cwd: repo,
      env: { TRUNKS_STORAGE_PRIMARY_SECRET_KEY: "not-the-secret" },
    });
    assertEquals(wrong.code, 1);
    assert(!wrong.stdout.includes("not-the-secret"));
    const shown = JSON.parse(
      (await run(e, "trunks", ["storage", "show", "primary", "--json"], {
        cwd: repo,
        env: { TRUNKS_STORAGE_PRIMARY_SECRET_KEY: "x" },
      })).stdout,
    );
    assertEquals(shown.env, ["TRUNKS_STORAGE_PRIMARY_SECRET_KEY"]);

    // trunks clone with the credentials as flags, the secret read from standard input
    // (`--secret-key -`: on no command line): saved in the clone's .trunks only.
    const sandbox = await Deno.makeTempDir();
    const trunkUrl = JSON.parse(await t("storage", "show", "primary", "--json")).url;
    const cloned = await run(e, "trunks", [
      "clone",
      trunkUrl,
      "--access-key",
      m.TRUNKS_TEST_MINIO_ACCESS_KEY,
      "--secret-key",
      "-",
    ], { cwd: sandbox, stdin: `${secret}\n` });
    assertEquals(cloned.code, 0, cloned.stderr);
    assert(!cloned.stdout.includes(secret) && !cloned.stderr.includes(secret));
    const clone = `${sandbox}/secretive`;
    assert(!(await git(e, clone, "config", "--list")).includes(secret));
    await commitFile(e, clone, "c.txt", "from the clone\n");
    await git(e, clone, "push", "-q");

    // A storage added with the secret only in env saves no secret at all.
    const repo2 = await newRepo(e, "envonly");
    await trunksOk(e, repo2, "init");
    await ok(e, "trunks", [
      "storage",
      "add",
      "--name",
      "primary",
      "--backend",
      "s3",
      "--bucket",
      m.TRUNKS_TEST_MINIO_BUCKET,
      "--prefix",
      `${prefix}-env`,
      "--endpoint",
      m.TRUNKS_TEST_MINIO_ENDPOINT,
    ], {
      cwd: repo2,
      env: {
        TRUNKS_STORAGE_PRIMARY_ACCESS_KEY: m.TRUNKS_TEST_MINIO_ACCESS_KEY,
        TRUNKS_STORAGE_PRIMARY_SECRET_KEY: secret,
      },
    });
    const db = await Deno.readFile(`${repo2}/.trunks/envonly.trunk`);
    assert(!new TextDecoder("latin1").decode(db).includes(secret), "env secret saved");
    const envShow = await trunksJson<{ secrets: Record<string, string> }>(
      e,
      repo2,
      "storage",
      "show",
      "primary",
    );
    assertEquals(envShow.secrets, {});
  },
});

Deno.test({
  name: "cli: help, -h everywhere, --version",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const dir = await Deno.makeTempDir();
    const help = await trunksOk(e, dir, "help");
    for (const c of ["init", "storage", "status", "push", "pull", "fetch", "clone", "shell"]) {
      assertMatch(help, new RegExp(`^  ${c} `, "m"));
      const h = await trunks(e, dir, c, "-h");
      assertEquals(h.code, 0, `${c} -h: ${h.stderr}`);
      assertMatch(h.stdout, /^usage: trunks/, c);
      assertEquals(await trunksOk(e, dir, "help", c), h.stdout);
    }
    for (const s of ["add", "list", "show", "ping", "remove"]) {
      const h = await trunks(e, dir, "storage", s, "--help");
      assertEquals(h.code, 0, s);
      assertMatch(h.stdout, new RegExp(`^usage: trunks storage ${s}`), s);
    }
    assertMatch(await trunksOk(e, dir, "--version"), /^trunks \d+\.\d+\.\d+/);
    // install-helper writes a shim git can use.
    const bin = `${dir}/bin`;
    assertMatch(await trunksOk(e, dir, "install-helper", bin), /installed .*git-remote-trunks/);
    const shim = await run(e, `${bin}/git-remote-trunks`, [], { cwd: dir });
    assertMatch(shim.stderr, /usage: git-remote-trunks/);
  },
});

for (const backend of e2eBackends()) {
  Deno.test({
    name: `cli ${backend.name}: storage add --url, git push, trunks clone, status in sync`,
    ...opts,
    fn: async () => {
      // Credentials from the provider's own variables (the backend's env).
      const e = await makeEnv(backend.env);
      const repo = await newRepo(e, "everywhere");
      await trunksOk(e, repo, "init");
      const root = await backend.root();
      const added = await trunksJson<{ url: string; probe: { exclusiveCreate: boolean } }>(
        e,
        repo,
        "storage",
        "add",
        "--name",
        "primary",
        "--url",
        root,
      );
      assertEquals(added.probe.exclusiveCreate, true);
      const u = new URL(root);
      u.pathname = `${u.pathname.replace(/\/+$/, "")}/trunks/everywhere.trunk`;
      assertEquals(added.url, u.toString());
      await git(e, repo, "checkout", "-q", "-b", "feature/x");
      await commitFile(e, repo, "x.txt", "x\n");
      await git(e, repo, "push", "-q");
      const sandbox = await Deno.makeTempDir();
      const cloned = await trunksJson<{ dir: string; branch: string }>(
        e,
        sandbox,
        "clone",
        added.url,
        "-b",
        "feature/x",
      );
      assertEquals(
        (await git(e, cloned.dir, "rev-parse", "HEAD")).trim(),
        (await git(e, repo, "rev-parse", "HEAD")).trim(),
      );
      const st = await trunksJson<{ trunk: { state: string }; storages: { refs: number }[] }>(
        e,
        cloned.dir,
        "status",
      );
      assertEquals(st.trunk.state, "in-sync");
      assertEquals(st.storages[0].refs, 1);
      const ping = await trunksJson<{ ok: boolean }>(e, repo, "storage", "ping");
      assertEquals(ping.ok, true);
    },
  });
}

Deno.test({
  name: "cli: deno task demo (scripts/demo.sh) runs end to end",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const r = await run(e, "bash", [`${REPO_ROOT}/scripts/demo.sh`], { cwd: REPO_ROOT });
    assertEquals(r.code, 0, r.stdout + r.stderr);
    assertMatch(r.stdout, /cloned local:\/\/.*\/store\/trunks\/myrepo\.trunk into /);
    assertMatch(r.stdout, /"state": "in-sync"/);
    assertMatch(r.stdout, /demo finished/);
  },
});

/** s3rver ignores If-None-Match: storage add must catch that and refuse it for shared use. */
const s3rver = serverEnv("s3rver", [
  "TRUNKS_TEST_S3RVER_ENDPOINT",
  "TRUNKS_TEST_S3RVER_ACCESS_KEY",
  "TRUNKS_TEST_S3RVER_SECRET_KEY",
  "TRUNKS_TEST_S3RVER_BUCKET",
]);

Deno.test({
  name: "cli s3rver: a store without exclusive create is refused unless --single-writer",
  ignore: !s3rver,
  ...opts,
  fn: async () => {
    const s = s3rver!;
    const e = await makeEnv({
      AWS_ACCESS_KEY_ID: s.TRUNKS_TEST_S3RVER_ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: s.TRUNKS_TEST_S3RVER_SECRET_KEY,
      AWS_REGION: "us-east-1",
    });
    const repo = await newRepo(e, "lax");
    await trunksOk(e, repo, "init");
    const add = [
      "storage",
      "add",
      "--name",
      "primary",
      "--backend",
      "s3",
      "--bucket",
      s.TRUNKS_TEST_S3RVER_BUCKET,
      "--prefix",
      `cli-${crypto.randomUUID()}`,
      "--endpoint",
      s.TRUNKS_TEST_S3RVER_ENDPOINT,
    ];
    const refused = await trunks(e, repo, ...add);
    assertEquals(refused.code, 1);
    assertMatch(
      refused.stderr,
      /failed its check: .* does not honour exclusive create.*--single-writer.*nothing was saved/,
    );
    assertEquals((await trunksJson<{ storages: [] }>(e, repo, "storage", "list")).storages, []);
    const accepted = await trunksJson<{ singleWriter: boolean }>(
      e,
      repo,
      ...add,
      "--single-writer",
    );
    assertEquals(accepted.singleWriter, true);
    assertMatch(await trunksOk(e, repo, "storage", "list"), /\(single writer\)/);
    const ping = await trunksJson<{ ok: boolean; storages: { exclusiveCreate: boolean }[] }>(
      e,
      repo,
      "storage",
      "ping",
    );
    assertEquals([ping.ok, ping.storages[0].exclusiveCreate], [true, false]);
    await git(e, repo, "push", "-q");
    const st = await trunksJson<{ trunk: { state: string } }>(e, repo, "status");
    assertEquals(st.trunk.state, "in-sync");
    assertMatch(await trunksOk(e, repo, "status"), /primary \(primary, s3, single writer\)/);
  },
});

Deno.test({
  name:
    "cli: storage ping NAME resolves NAME as trunks://NAME does: the repository's own storage, then the per-user config",
  ...opts,
  fn: async () => {
    const xdg = await Deno.makeTempDir({ prefix: "trunks-xdg-" });
    const e = await makeEnv({ XDG_CONFIG_HOME: xdg });
    const global = await Deno.makeTempDir({ prefix: "trunks-store-global-" });
    await trunksOk(e, global, "storage", "add", "--global", "team", `local://${global}`);
    type Pinged = { ok: boolean; storages: { name: string; url: string; ok: boolean }[] };

    // Saved only per user: found outside any repository and in one without its own "team".
    const outside = await Deno.makeTempDir();
    const text = await trunksOk(e, outside, "storage", "ping", "team");
    assertMatch(text, /^team \(per-user\): ok, \d+ ms; exclusive create honoured$/m);
    const [repo] = await initRepoWithStore(e, "pingrepo");
    const viaUser = await trunksJson<Pinged>(e, repo, "storage", "ping", "team");
    assertEquals(viaUser.storages.map((s) => [s.name, s.url, s.ok]), [
      ["team", `local://${global}`, true],
    ]);

    // The repository's own storage of that name comes first, as for trunks://team/...
    const own = await Deno.makeTempDir({ prefix: "trunks-store-own-" });
    await trunksOk(e, repo, "storage", "add", "--name", "team", "--mirror", `local://${own}`);
    await Deno.remove(global, { recursive: true });
    const viaRepo = await trunksJson<Pinged>(e, repo, "storage", "ping", "team");
    assertEquals(viaRepo.ok, true);
    assertMatch(viaRepo.storages[0].url, new RegExp(`^local://${own}/`));
    const gone = await trunks(e, outside, "storage", "ping", "team");
    assertEquals(gone.code, 1);
    assertMatch(gone.stderr, /^team \(per-user\): unreachable: .*does not exist/m);

    // A name configured nowhere: one line naming it and the command that adds it.
    const none = await trunks(e, repo, "storage", "ping", "nope");
    assert(none.code !== 0);
    const lines = none.stderr.trim().split("\n");
    assertEquals(lines.length, 1, none.stderr);
    assertMatch(
      lines[0],
      /no storage named nope in this repository or in the per-user config \(.*config\.json\); add it with: trunks storage add --global nope URL/,
    );
  },
});
