/**
 * Secrets: after a whole session with credentials given inline (saved in the local
 * database, as `trunks storage add` does), through TRUNKS_STORAGE_<NAME>_<KEY> and
 * through the provider's variables, no secret appears in any stored object, any line
 * git or trunks printed (debug output included), any git config, any process's command
 * line, or any error message, including the errors for wrong and misplaced credentials.
 */
import { LocalDb } from "../../src/local/db.ts";
import { openStore } from "../../src/storage/registry.ts";
import { getBytes } from "../../src/storage/store.ts";
import { assert } from "../assert.ts";
import {
  type Backend,
  commitFile,
  type Env,
  git,
  makeEnv,
  newRepo,
  type Run,
  run,
  trunkUrl,
} from "../e2e/harness.ts";
import { reliabilityBackends } from "./lib.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** Save a storage row as `trunks storage add` would: settings, and secrets kept locally. */
async function saveStorage(
  e: Env,
  repo: string,
  url: string,
  secrets: Record<string, string>,
  settings: Record<string, string> = {},
) {
  const gitDir = (await git(e, repo, "rev-parse", "--absolute-git-dir")).trim();
  const db = new LocalDb(`${gitDir}/trunks.sqlite`);
  db.db.prepare(
    `INSERT OR REPLACE INTO storages (name, role, url, backend, settings, secrets, added) VALUES (?, 'primary', ?, ?, ?, ?, ?)`,
  ).run(
    "store1",
    url,
    new URL(url).protocol.replace(/:$/, ""),
    JSON.stringify(settings),
    JSON.stringify(secrets),
    new Date().toISOString(),
  );
  db.close();
}

/** Command lines of every process, sampled until `until` settles. */
async function sampleCmdlines(until: Promise<unknown>): Promise<string[]> {
  let done = false;
  until.finally(() => done = true);
  const seen = new Set<string>();
  while (!done) {
    for await (const p of Deno.readDir("/proc")) {
      if (!/^\d+$/.test(p.name)) continue;
      try {
        const raw = await Deno.readFile(`/proc/${p.name}/cmdline`);
        seen.add(new TextDecoder().decode(raw).replaceAll("\0", " "));
      } catch {
        // gone already
      }
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return [...seen];
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const f of Deno.readDir(dir)) {
    const p = `${dir}/${f.name}`;
    if (f.isDirectory) out.push(...await filesUnder(p));
    else if (f.isFile) out.push(p);
  }
  return out;
}

function assertClean(where: string, text: string, secrets: string[]) {
  for (const s of secrets) assert(!text.includes(s), `a secret appears in ${where}`);
}

function secretBackends(): Backend[] {
  return reliabilityBackends().filter((b) => b.name !== "local");
}

for (const b of secretBackends()) {
  Deno.test({
    name: `secrets ${b.name}: a full session leaks no credential anywhere`,
    ...opts,
    fn: async () => {
      const secret = b.settings["secret-key"];
      const access = b.settings["access-key"];
      assert(secret, "backend has a secret to look for");
      const secrets = [secret];
      // No provider variables: credentials come from the local database or TRUNKS_STORAGE_*.
      const e = await makeEnv({ TRUNKS_DEBUG_REQUESTS: "1", GIT_TRACE: "1" });
      const url = await trunkUrl(b, "secret");
      const remote = `trunks::${url}`;
      const outputs: [string, Run][] = [];
      const step = async (what: string, cwd: string, args: string[], env = {}) => {
        const r = await run(e, "git", args, { cwd, env });
        outputs.push([what, r]);
        return r;
      };

      // 1. Inline credentials saved locally; push while watching every process's argv.
      const a = await newRepo(e, "a");
      await saveStorage(e, a, url, { "access-key": access, "secret-key": secret });
      for (let i = 0; i < 30; i++) await commitFile(e, a, `f${i}.txt`, `${i}\n`.repeat(1000));
      const pushing = step("push", a, ["push", remote, "main"]);
      const cmdlines = await sampleCmdlines(pushing);
      assert((await pushing).code === 0, (await pushing).stderr);
      assert(cmdlines.some((c) => /remote-helper|git-remote-trunks/.test(c)), "saw the helper");
      for (const c of cmdlines) assertClean(`process title ${c.slice(0, 60)}`, c, secrets);

      // 2. Credentials through TRUNKS_STORAGE_<NAME>_<KEY>: fetch into a second repository.
      const bdir = `${await Deno.makeTempDir()}/b`;
      await git(e, await Deno.makeTempDir(), "init", "-q", bdir);
      await saveStorage(e, bdir, url, {});
      await git(e, bdir, "remote", "add", "origin", remote);
      const env = {
        TRUNKS_STORAGE_STORE1_ACCESS_KEY: access,
        TRUNKS_STORAGE_STORE1_SECRET_KEY: secret,
      };
      assert((await step("fetch", bdir, ["fetch", "origin"], env)).code === 0);
      assert((await step("ls-remote", bdir, ["ls-remote", "origin"], env)).code === 0);
      await commitFile(e, a, "more.txt", "more\n");
      assert((await step("push 2", a, ["push", remote, "main"])).code === 0);
      assert((await step("fetch 2", bdir, ["fetch", "origin"], env)).code === 0);

      // 3. Wrong, partial and misplaced credentials: refused, the values never echoed.
      const wrong = "WRONG-secret-value-0123456789";
      secrets.push(wrong);
      const c = `${await Deno.makeTempDir()}/c`;
      await git(e, await Deno.makeTempDir(), "init", "-q", c);
      await saveStorage(e, c, url, { "access-key": access, "secret-key": wrong });
      const bad = await step("wrong secret", c, ["fetch", remote]);
      assert(bad.code !== 0, "a wrong secret is refused");
      const u = new URL(url);
      const inUrl = `${u.protocol}//${access}:${secret}@${u.host}${u.pathname}${u.search}`;
      const r1 = await step("secret in URL", c, ["ls-remote", `trunks::${inUrl}`]);
      assert(r1.code !== 0, "credentials inside the URL are refused");
      const inQuery = `${url}&secret-key=${secret}`;
      const r2 = await step("secret in query", c, ["ls-remote", `trunks::${inQuery}`]);
      assert(r2.code !== 0, "a secret in the query is refused");
      assert(/carries a secret \(secret-key\); .*TRUNKS_STORAGE_/.test(r2.stderr), r2.stderr);

      // Nothing stored in the trunk holds a secret.
      const store = await openStore(url, b.settings);
      try {
        const keys = (await store.list("")).map((x) => x.key);
        assert(keys.length > 3, "the trunk has objects");
        for (const k of keys) {
          assertClean(`stored object ${k}`, new TextDecoder().decode((await getBytes(store, k))!), [
            secret,
          ]);
        }
      } finally {
        await store.close();
      }
      // Nothing printed, nothing in git's config, nothing cached.
      for (const [what, r] of outputs) {
        // GIT_TRACE echoes argv, and git repeats a URL the user typed: both are the
        // user's own words, not ours. Every other line must be clean.
        const text = (r.stdout + r.stderr).split("\n").filter((l) =>
          !/ trace: /.test(l) && !l.includes(inUrl) && !l.includes(inQuery)
        ).join("\n");
        if (Deno.env.get("SHOW")) console.log(what, r.stderr);
        assertClean(`output of ${what}`, text, secrets);
      }
      for (const repo of [a, bdir, c]) {
        assertClean(`${repo}/.git/config`, await Deno.readTextFile(`${repo}/.git/config`), secrets);
      }
      assertClean("~/.gitconfig", await Deno.readTextFile(`${e.home}/.gitconfig`), secrets);
      // Repository b got its secret from the environment: nothing of it may be on disk.
      for (const f of await filesUnder(`${bdir}/.git`)) {
        const bytes = await Deno.readFile(f);
        assertClean(f, new TextDecoder().decode(bytes), [secret]);
      }
    },
  });
}
