/**
 * The library opens `trunks://NAME/REPO` through the resolver git, `trunks clone` and the
 * helper use (src/local/named_url.ts): the per-user config's NAME (`trunks storage add
 * --global`, the keys from TRUNKS_STORAGE_<NAME>_*), or with `database` that repository's
 * own storage NAME first. It runs with no git on PATH; a name configured nowhere fails with
 * the helper's own line.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import {
  e2eBackends,
  type Env,
  git,
  makeEnv,
  newRepo,
  ok,
  REPO_ROOT,
  run,
} from "../e2e/harness.ts";
import { Trunk } from "../../mod.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** A machine: fresh HOME and per-user config (a temporary XDG_CONFIG_HOME). */
async function machine(extra: Record<string, string> = {}): Promise<Env & { xdg: string }> {
  const xdg = await Deno.makeTempDir({ prefix: "trunks-xdg-" });
  return { ...(await makeEnv({ XDG_CONFIG_HOME: xdg, ...extra })), xdg };
}

/**
 * `body` run by the library in a child Deno whose PATH has no git, with only this
 * machine's config and `env`; prints what `body` returns as JSON, or the error's code and
 * message.
 */
async function library(
  e: Env & { xdg: string },
  body: string,
  env: Record<string, string> = {},
): Promise<{ value?: unknown; code?: string; message?: string }> {
  const script = `import { Trunk } from ${
    JSON.stringify(new URL("mod.ts", `file://${REPO_ROOT}/`).href)
  };
try {
  const value = await (async () => { ${body} })();
  console.log(JSON.stringify({ value }));
} catch (e) {
  console.log(JSON.stringify({ code: e.code, message: e.message }));
}`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    cwd: REPO_ROOT, // deno.json maps the npm imports of the backends
    clearEnv: true,
    env: {
      PATH: "/nonexistent",
      HOME: e.env.HOME,
      XDG_CONFIG_HOME: e.xdg,
      DENO_DIR: e.env.DENO_DIR,
      TRUNKS_AUTO_MAINTENANCE: "0",
      TMPDIR: Deno.env.get("TMPDIR") ?? "/tmp",
      NO_COLOR: "1",
      ...env,
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  const stdout = dec.decode(out.stdout).trim().split("\n").at(-1) ?? "";
  assertEquals(out.code, 0, dec.decode(out.stderr));
  return JSON.parse(stdout);
}

/** `library` that must succeed. */
async function libraryOk(
  e: Env & { xdg: string },
  body: string,
  env: Record<string, string> = {},
): Promise<unknown> {
  const r = await library(e, body, env);
  assertEquals(r.message, undefined, `the library failed: ${r.message}`);
  return r.value;
}

const WRITE = (url: string, text: string, more = "") => `
  await using t = await Trunk.open({ url: ${JSON.stringify(url)}, create: true ${more} });
  t.write("who.txt", ${JSON.stringify(text)});
  await t.commit({ message: "by name", branch: "main" });
  await t.push();
  return t.location;`;

for (const backend of e2eBackends().filter((b) => b.name === "local" || b.name === "minio")) {
  Deno.test({
    name:
      `sdk ${backend.name}: Trunk.open(trunks://NAME/REPO) through the per-user config, with no git on PATH`,
    ...opts,
    fn: async () => {
      const root = await backend.root();
      // Credentials the way the helper takes them for a named storage: its own variables.
      const keys: Record<string, string> = backend.name === "minio"
        ? {
          TRUNKS_STORAGE_TEAM_ACCESS_KEY: backend.settings["access-key"],
          TRUNKS_STORAGE_TEAM_SECRET_KEY: backend.settings["secret-key"],
        }
        : {};
      const a = await machine(keys);
      await ok(a, "trunks", ["storage", "add", "--global", "team", root]);
      const url = await libraryOk(a, WRITE("trunks://team/app", "by name\n"), keys) as string;
      assertEquals(new URL(url).pathname.replace(/\/+$/, "").split("/").slice(-2), [
        "trunks",
        "app.trunk",
      ]);
      // What the library wrote is the trunk the name stands for: git clones it by name.
      const dir = await Deno.makeTempDir({ prefix: "trunks-named-lib-" });
      await git(a, dir, "clone", "-q", "trunks://team/app", "copy");
      assertEquals(await Deno.readTextFile(`${dir}/copy/who.txt`), "by name\n");
      // Opened again by name (read only).
      const read = await libraryOk(
        a,
        `await using t = await Trunk.open({ url: "trunks://team/app" });
         return await t.readText("who.txt");`,
        keys,
      );
      assertEquals(read, "by name\n");
    },
  });
}

Deno.test({
  name:
    "sdk: trunks://NAME/REPO with a database takes that repository's storage NAME first; an unknown name fails with the helper's line",
  ...opts,
  fn: async () => {
    const a = await machine();
    const global = await Deno.makeTempDir({ prefix: "trunks-store-global-" });
    const own = await Deno.makeTempDir({ prefix: "trunks-store-own-" });
    await ok(a, "trunks", ["storage", "add", "--global", "team", `local://${global}`]);
    const repo = await newRepo(a, "proj");
    await ok(a, "trunks", ["init"], { cwd: repo });
    await ok(a, "trunks", [
      "storage",
      "add",
      "--name",
      "team",
      "--backend",
      "local",
      "--path",
      own,
    ], { cwd: repo });
    const db = `${repo}/.trunks/proj.trunk`;
    assert((await Deno.stat(db)).isFile, "trunks init made the database");
    await libraryOk(a, WRITE("trunks://team/mine", "own\n", `, database: ${JSON.stringify(db)}`));
    assert((await Deno.stat(`${own}/trunks/mine.trunk/trunk.json`)).isFile);
    assertEquals(await Deno.stat(`${global}/trunks/mine.trunk`).then(() => 1, () => 0), 0);
    // Without the database, only the per-user config applies.
    await libraryOk(a, WRITE("trunks://team/theirs", "global\n"));
    assert((await Deno.stat(`${global}/trunks/theirs.trunk/trunk.json`)).isFile);
    const back = await Trunk.open({ url: `local://${global}/trunks/theirs.trunk` });
    assertEquals(await back.readText("who.txt"), "global\n");
    await back.close();

    // A name configured nowhere: the helper's line, word for word, and nothing created.
    const lib = await library(a, `await Trunk.open({ url: "trunks://nope/app", create: true });`);
    assertEquals(lib.code, "bad-input");
    const helper = await run(a, "git", ["ls-remote", "trunks://nope/app"], { cwd: repo });
    assert(helper.code !== 0);
    const line = helper.stderr.split("\n").find((l) => l.includes("no storage named nope"));
    assertEquals(line, `fatal: trunks: ${lib.message}`);
    assertStringIncludes(lib.message!, "add it with: trunks storage add --global nope URL");
  },
});
