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
import { e2eBackends } from "../e2e/harness.ts";
import { secretKeys } from "../../src/storage/registry.ts";
import { readLatestMap, writeMap } from "../../src/trunk/storage_map.ts";
import { RecordingListener } from "../security/listener.ts";

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

/**
 * Command lines of this test's own descendants (git, the helper, the git and deno
 * processes it starts), sampled until `until` settles. Other processes on the machine
 * (test servers of other suites) are not ours to judge.
 */
async function sampleCmdlines(until: Promise<unknown>): Promise<string[]> {
  let done = false;
  until.finally(() => done = true);
  const seen = new Set<string>();
  const me = String(Deno.pid);
  while (!done) {
    // One pass: pid -> (parent, command line), then keep our descendants.
    const procs = new Map<string, { ppid: string; cmd: string }>();
    for await (const p of Deno.readDir("/proc")) {
      if (!/^\d+$/.test(p.name)) continue;
      try {
        const stat = await Deno.readTextFile(`/proc/${p.name}/stat`);
        // "pid (comm) state ppid ...": comm may hold spaces, so split after the last ")".
        const ppid = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1];
        const raw = await Deno.readFile(`/proc/${p.name}/cmdline`);
        procs.set(p.name, { ppid, cmd: new TextDecoder().decode(raw).replaceAll("\0", " ") });
      } catch {
        // gone already
      }
    }
    for (const [pid, { cmd }] of procs) {
      let at: string | undefined = pid;
      for (let depth = 0; at && at !== me && depth < 16; depth++) at = procs.get(at)?.ppid;
      if (at === me) seen.add(cmd);
    }
    await new Promise((r) => setTimeout(r, 5));
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

/** Every backend under test whose credentials include a secret (MinIO, Azurite, PostgreSQL). */
function secretBackends(): Backend[] {
  const secret = secretKeys();
  return e2eBackends().filter((b) => Object.keys(b.settings).some((k) => secret.has(k)));
}

/** `TRUNKS_STORAGE_STORE1_<KEY>` for each setting. */
function storageEnv(settings: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(settings).map((
      [k, v],
    ) => [`TRUNKS_STORAGE_STORE1_${k.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`, v]),
  );
}

for (const b of secretBackends()) {
  Deno.test({
    name: `secrets ${b.name}: a full session leaks no credential anywhere`,
    ...opts,
    fn: async () => {
      // The secret half of the credentials (an access key id is not secret, and MinIO's
      // test one is also its bucket's name).
      const secretKey = Object.keys(b.settings).find((k) =>
        secretKeys().has(k) && k !== "access-key"
      )!;
      const secret = b.settings[secretKey];
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
      await saveStorage(e, a, url, b.settings);
      // Big enough that the helper runs long enough to be seen.
      const big = new Uint8Array(6 * 1024 * 1024);
      for (let i = 0; i < big.length; i += 65536) {
        crypto.getRandomValues(big.subarray(i, i + 65536));
      }
      await Deno.writeFile(`${a}/big.bin`, big);
      await git(e, a, "add", "big.bin");
      await git(e, a, "commit", "-qm", "big");
      const pushing = step("push", a, ["push", remote, "main"]);
      const cmdlines = await sampleCmdlines(pushing);
      assert((await pushing).code === 0, (await pushing).stderr);
      assert(cmdlines.some((c) => /remote-helper|git-remote-trunks/.test(c)), "saw the helper");
      for (const c of cmdlines) assertClean(`process title ${c}`, c, secrets);

      // 2. Credentials through TRUNKS_STORAGE_<NAME>_<KEY>: fetch into a second repository.
      const bdir = `${await Deno.makeTempDir()}/b`;
      await git(e, await Deno.makeTempDir(), "init", "-q", bdir);
      await saveStorage(e, bdir, url, {});
      await git(e, bdir, "remote", "add", "origin", remote);
      const env = storageEnv(b.settings);
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
      await saveStorage(e, c, url, { ...b.settings, [secretKey]: wrong });
      const bad = await step("wrong secret", c, ["fetch", remote]);
      assert(bad.code !== 0, "a wrong secret is refused");
      const u = new URL(url);
      const encoded = encodeURIComponent(secret);
      if (encoded !== secret) secrets.push(encoded);
      const inUrl = `${u.protocol}//user:${encoded}@${u.host}${u.pathname}${u.search}`;
      const r1 = await step("secret in URL", c, ["ls-remote", `trunks::${inUrl}`]);
      assert(r1.code !== 0, "credentials inside the URL are refused");
      const inQuery = `${url}${u.search ? "&" : "?"}${secretKey}=${encoded}`;
      const r2 = await step("secret in query", c, ["ls-remote", `trunks::${inQuery}`]);
      assert(r2.code !== 0, "a secret in the query is refused");
      assert(
        new RegExp(`carries a secret \\(${secretKey}\\); .*TRUNKS_STORAGE_`).test(r2.stderr),
        r2.stderr,
      );

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
          !/ trace: /.test(l) && !l.includes(inUrl) && !l.includes(inQuery) &&
          !l.includes(`user:${encoded}@`)
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

/**
 * Mirrors: a local primary with an approved MinIO mirror whose credentials are saved
 * inline in one repository and given as TRUNKS_STORAGE_CLOUD_* in a clone, plus a
 * mirror planted in the storage map that points at a recording listener. No secret
 * reaches any object on either storage, any output (GIT_TRACE on), any git config, any
 * process title, or the planted storage (which is not even contacted).
 */
const minio = e2eBackends().find((b) => b.name === "minio");
Deno.test({
  name: "secrets mirrors: approved and planted mirrors leak no credential anywhere",
  ignore: !minio,
  ...opts,
  fn: async () => {
    const m = minio!;
    const secret = m.settings["secret-key"];
    const secrets = [secret, "pg-SECRET-planted-0042"];
    const fake = new RecordingListener();
    try {
      const e = await makeEnv({ GIT_TRACE: "1", TRUNKS_DEBUG_REQUESTS: "1" });
      const primaryDir = await Deno.makeTempDir({ prefix: "trunks-store-" });
      const primaryUrl = `local://${primaryDir}/trunks/sm.trunk`;
      const cloudUrl = await trunkUrl(m, "sm");
      const outputs: [string, Run][] = [];
      const step = async (what: string, cmd: string, cwd: string, args: string[], env = {}) => {
        const r = await run(e, cmd, args, { cwd, env });
        outputs.push([what, r]);
        assert(r.code === 0, `${what}: ${r.stderr}`);
        return r;
      };
      const a = await newRepo(e, "a");
      await step("init", "trunks", a, ["init"]);
      await step("add primary", "trunks", a, [
        "storage",
        "add",
        "--name",
        "primary",
        "--url",
        primaryUrl,
      ]);
      // The user's own argv holds the secret here: this step's output is not ours to judge.
      const add = await run(e, "trunks", [
        "storage",
        "add",
        "--name",
        "cloud",
        "--url",
        cloudUrl,
        "--access-key",
        m.settings["access-key"],
        "--secret-key",
        secret,
        "--mirror",
      ], { cwd: a });
      assert(add.code === 0, add.stderr);
      await commitFile(e, a, "a.txt", "a\n");
      const pushing = step("push", "git", a, ["push"]);
      const cmdlines = await sampleCmdlines(pushing);
      await pushing;
      for (const c of cmdlines) {
        if (!c.includes("--secret-key")) assertClean(`process title ${c}`, c, secrets);
      }

      // Someone plants a mirror pointing at a fake PostgreSQL.
      const store = await openStore(primaryUrl);
      try {
        const latest = (await readLatestMap(store))!;
        await writeMap(
          store,
          [...latest.map.storages, {
            name: "evil",
            role: "mirror",
            backend: "postgres",
            url: `postgres://victim@127.0.0.1:${fake.port}/db/trunks/sm.trunk`,
            settings: {},
          }],
          "attacker",
          latest.map.seq,
        );
      } finally {
        await store.close();
      }

      // A clone approves cloud (not evil) and gets its credentials from the environment.
      const env = {
        TRUNKS_STORAGE_CLOUD_ACCESS_KEY: m.settings["access-key"],
        TRUNKS_STORAGE_CLOUD_SECRET_KEY: secret,
        PGPASSWORD: secrets[1],
        TRUNKS_STORAGE_EVIL_PASSWORD: secrets[1],
      };
      const parent = await Deno.makeTempDir();
      await step(
        "clone",
        "trunks",
        parent,
        ["clone", primaryUrl, "b", "--trust-mirrors", "cloud"],
        env,
      );
      const b = `${parent}/b`;
      await commitFile(e, b, "b.txt", "b\n");
      await step("push b", "git", b, ["push"], env);
      await step("fetch a", "git", a, ["fetch"]);
      await step("status b", "trunks", b, ["status"], env);
      await step("sync b", "trunks", b, ["storage", "sync"], env);

      assert(fake.connections === 0, "the planted mirror was contacted");
      assertClean("the planted mirror's listener", fake.received, secrets);
      for (const f of await filesUnder(primaryDir)) {
        assertClean(f, new TextDecoder().decode(await Deno.readFile(f)), secrets);
      }
      const cloud = await openStore(cloudUrl, m.settings);
      try {
        const keys = (await cloud.list("")).map((x) => x.key);
        assert(keys.some((k) => k.startsWith("storages/")), "the mirror holds the map");
        for (const k of keys) {
          assertClean(
            `mirror object ${k}`,
            new TextDecoder().decode((await getBytes(cloud, k))!),
            secrets,
          );
        }
      } finally {
        await cloud.close();
      }
      for (const [what, r] of outputs) {
        const text = (r.stdout + r.stderr).split("\n").filter((l) => !/ trace: /.test(l)).join(
          "\n",
        );
        assertClean(`output of ${what}`, text, secrets);
      }
      for (const repo of [a, b]) {
        assertClean(`${repo}/.git/config`, await Deno.readTextFile(`${repo}/.git/config`), secrets);
      }
      // The clone got its secret from the environment: nothing of it may be on its disk.
      for (const f of await filesUnder(b)) {
        assertClean(f, new TextDecoder().decode(await Deno.readFile(f)), secrets);
      }
    } finally {
      fake.close();
    }
  },
});
