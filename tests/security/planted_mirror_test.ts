/**
 * Whoever can write a trunk can write its storage map. A planted map (a new mirror, and
 * an approved mirror whose URL now points elsewhere) must get nothing from another
 * client: no data, no credential, not even a connection. Fake servers on 127.0.0.1
 * stand in for the planted PostgreSQL, S3 and SFTP storages and record every byte.
 * And the approval flows: clone --trust-mirrors, TRUNKS_TRUST_MIRRORS, trunks storage
 * approve, status. On the local backend and on MinIO.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import {
  type Backend,
  commitFile,
  e2eBackends,
  type Env,
  git,
  makeEnv,
  newRepo,
  ok,
  run,
  trunkUrl,
} from "../e2e/harness.ts";
import { openStore } from "../../src/storage/registry.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { readMeta } from "../../src/trunk/meta.ts";
import { isDeleted, readRefState } from "../../src/trunk/refs.ts";
import { type MapEntry, readLatestMap, writeMap } from "../../src/trunk/storage_map.ts";
import { Trunk } from "../../mod.ts";
import { RecordingListener } from "./listener.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

const backends = e2eBackends().filter((b) => b.name === "local" || b.name === "minio");

/** What a victim's environment holds for other storages: none of it may leave. */
function victimSecrets(b: Backend): Record<string, string> {
  return {
    PGPASSWORD: "pg-SECRET-4711",
    TRUNKS_STORAGE_EVIL_PASSWORD: "evil-SECRET-4712",
    TRUNKS_STORAGE_NAS_SECRET_KEY: "nas-SECRET-4713",
    TRUNKS_STORAGE_NAS_ACCESS_KEY: "nas-ACCESS-4714",
    TRUNKS_STORAGE_BACKUP_PASSWORD: "sftp-SECRET-4715",
    SSH_AUTH_SOCK: "/nonexistent/agent.sock",
    // The primary's own credentials (MinIO's are real): a planted S3 mirror would get them.
    AWS_ACCESS_KEY_ID: "AKIA-VICTIM-4716",
    AWS_SECRET_ACCESS_KEY: "aws-SECRET-4717",
    ...b.env,
  };
}

function secretValues(env: Record<string, string>): string[] {
  return Object.entries(env).filter(([k]) => /SECRET|PASSWORD|ACCESS/.test(k)).map(([, v]) => v);
}

async function refsAt(url: string, settings: Record<string, string>): Promise<Map<string, string>> {
  const store = await openStore(url, settings);
  try {
    const meta = await readMeta(store);
    if (!meta) return new Map();
    const state = await readRefState(store, new MemoryCache(), meta);
    return new Map(
      [...state.latest].filter(([r, e]) => r !== "HEAD" && !isDeleted(e)).map(([r, e]) => [
        r,
        e.new,
      ]),
    );
  } finally {
    await store.close();
  }
}

async function headOf(e: Env, dir: string): Promise<string> {
  return (await git(e, dir, "rev-parse", "HEAD")).trim();
}

/** A colleague's repository: primary on `b`, mirror "nas" on local disk, pushed once. */
async function colleague(b: Backend, name: string) {
  const e = await makeEnv(b.env);
  const url = await trunkUrl(b, name);
  const nasDir = await Deno.makeTempDir({ prefix: "trunks-nas-" });
  const repo = await newRepo(e, name);
  const t = (...args: string[]) => ok(e, "trunks", args, { cwd: repo });
  await t("init");
  await t("storage", "add", "--name", "primary", "--url", url);
  await t("storage", "add", "--name", "nas", "--backend", "local", "--path", nasDir, "--mirror");
  await git(e, repo, "push", "-q");
  const nasUrl = `local://${nasDir}/trunks/${name}.trunk`;
  return { e, url, repo, nasDir, nasUrl };
}

for (const b of backends) {
  Deno.test({
    name:
      `security ${b.name}: a planted mirror and an approved mirror moved elsewhere get no byte, no credential, no connection`,
    ...opts,
    fn: async () => {
      const fake = new RecordingListener();
      try {
        const c = await colleague(b, "app");
        const secrets = victimSecrets(b);
        const victim = await makeEnv(secrets);
        const parent = await Deno.makeTempDir();
        const cl = await run(victim, "trunks", ["clone", c.url, "app", "--trust-mirrors", "nas"], {
          cwd: parent,
        });
        assertEquals(cl.code, 0, cl.stderr);
        assertMatch(cl.stdout, /mirror nas .*approved, reachable/);
        const dir = `${parent}/app`;
        await commitFile(victim, dir, "v1.txt", "one\n");
        await git(victim, dir, "push", "-q");
        assertEquals(
          (await refsAt(c.nasUrl, {})).get("refs/heads/main"),
          await headOf(victim, dir),
        );
        const nasBefore = await headOf(victim, dir);

        // The attacker rewrites the map: nas now points at a fake S3, and two new storages
        // point at a fake PostgreSQL and a fake SFTP server.
        const port = fake.port;
        const store = await openStore(c.url, b.settings);
        try {
          const latest = (await readLatestMap(store))!;
          const planted: MapEntry[] = [
            ...latest.map.storages.filter((s) => s.name !== "nas"),
            {
              name: "nas",
              role: "mirror",
              backend: "s3",
              url: `s3://stolen/trunks/app.trunk?endpoint=http://127.0.0.1:${port}`,
              settings: {},
            },
            {
              name: "evil",
              role: "mirror",
              backend: "postgres",
              url: `postgres://victim@127.0.0.1:${port}/db/trunks/app.trunk`,
              settings: {},
            },
            {
              name: "backup",
              role: "mirror",
              backend: "sftp",
              url: `sftp://victim@127.0.0.1:${port}/srv/trunks/app.trunk`,
              settings: {},
            },
          ];
          await writeMap(store, planted, "attacker", latest.map.seq);
        } finally {
          await store.close();
        }

        // The victim's push lands on the primary and says, loudly, what it left alone.
        await commitFile(victim, dir, "v2.txt", "two\n");
        const push = await run(victim, "git", ["push"], { cwd: dir });
        assertEquals(push.code, 0, push.stderr);
        assertMatch(
          push.stderr,
          /mirror "nas" \(s3, .*CHANGED in the trunk's storage map.*url local:/,
        );
        assertMatch(
          push.stderr,
          /mirror "evil" \(postgres.*not approved here.*trunks storage approve evil/,
        );
        assertMatch(push.stderr, /mirror "backup" \(sftp/);
        assertEquals(
          (await refsAt(c.url, b.settings)).get("refs/heads/main"),
          await headOf(victim, dir),
        );
        assertEquals(
          (await refsAt(c.nasUrl, {})).get("refs/heads/main"),
          nasBefore,
          "old nas unused",
        );

        const fetch = await run(victim, "git", ["fetch"], { cwd: dir });
        assertEquals(fetch.code, 0, fetch.stderr);
        assertMatch(fetch.stderr, /"nas".*CHANGED/);

        const status = await run(victim, "trunks", ["status"], { cwd: dir });
        assertEquals(status.code, 0, status.stderr);
        assertMatch(status.stdout, /nas \(mirror, s3\).*CHANGED.*trunks storage approve nas/);
        assertMatch(
          status.stdout,
          /evil \(mirror, postgres\).*NOT approved.*trunks storage approve evil/,
        );
        const json = JSON.parse(
          (await run(victim, "trunks", ["status", "--json"], { cwd: dir })).stdout,
        );
        assertEquals(
          json.unapproved.map((u: { name: string; state: string }) => `${u.name}:${u.state}`)
            .sort(),
          ["backup:new", "evil:new", "nas:changed"],
        );
        await run(victim, "trunks", ["storage", "ping"], { cwd: dir });
        await run(victim, "trunks", ["storage", "sync"], { cwd: dir });
        await run(victim, "git", ["ls-remote", "origin"], { cwd: dir });

        // Fresh machines: trunks clone and git clone with the primary URL alone.
        const fresh = await makeEnv(secrets);
        const p2 = await Deno.makeTempDir();
        const cl2 = await run(fresh, "trunks", ["clone", c.url, "fresh"], { cwd: p2 });
        assertEquals(cl2.code, 0, cl2.stderr);
        assertMatch(cl2.stdout, /mirror evil .*NOT approved here .*trunks storage approve evil/);
        assertMatch(cl2.stdout, /trunks storage approve (nas evil backup|evil backup nas|.*)/);
        const g = await run(fresh, "git", ["clone", "-q", `trunks::${c.url}`, `${p2}/g`]);
        assertEquals(g.code, 0, g.stderr);
        await commitFile(fresh, `${p2}/g`, "g.txt", "g\n");
        const gp = await run(fresh, "git", ["push", "origin", "main"], { cwd: `${p2}/g` });
        assertEquals(gp.code, 0, gp.stderr);

        // The library, with the same credentials in its settings.
        {
          await using t = await Trunk.open({ url: c.url, settings: b.settings, writer: "lib" });
          t.write("lib.txt", "lib\n");
          await t.commit({ message: "lib", branch: "main" });
          await t.push();
        }

        assertEquals(fake.connections, 0, `a planted storage was contacted: ${fake.received}`);
        for (const s of secretValues(secrets)) assert(!fake.received.includes(s));
      } finally {
        fake.close();
      }
    },
  });

  Deno.test({
    name:
      `security ${b.name}: approval flows: clone lists and does not use; storage approve; TRUNKS_TRUST_MIRRORS; status`,
    ...opts,
    fn: async () => {
      const c = await colleague(b, "flows");
      const e = await makeEnv(b.env);
      const parent = await Deno.makeTempDir();
      const t = (dir: string, args: string[], env: Record<string, string> = {}) =>
        run(e, "trunks", args, { cwd: dir, env });

      // Cloned without approval: listed, not used, the command to approve printed.
      const cl = await t(parent, ["clone", c.url, "one"]);
      assertEquals(cl.code, 0, cl.stderr);
      assertMatch(cl.stdout, /mirror nas .*NOT approved here .*: trunks storage approve nas/);
      const one = `${parent}/one`;
      await commitFile(e, one, "a.txt", "a\n");
      const p1 = await run(e, "git", ["push"], { cwd: one });
      assertEquals(p1.code, 0, p1.stderr);
      assertMatch(p1.stderr, /mirror "nas" .*not approved here/);
      assert((await refsAt(c.nasUrl, {})).get("refs/heads/main") !== await headOf(e, one));
      const st = await t(one, ["status"]);
      assertMatch(
        st.stdout,
        /nas \(mirror, local\) .*NOT approved here.*trunks storage approve nas/,
      );

      // Approved: the next push catches nas up and lands there; status shows it in sync.
      const ap = await t(one, ["storage", "approve", "nas"]);
      assertEquals(ap.code, 0, ap.stderr);
      assertMatch(ap.stdout, /approved mirror nas \(local, local:/);
      const bad = await t(one, ["storage", "approve", "nope"]);
      assertEquals(bad.code, 1);
      assertMatch(bad.stderr, /lists no storage "nope"; it lists: primary, nas/);
      await commitFile(e, one, "b.txt", "b\n");
      await git(e, one, "push", "-q");
      assertEquals((await refsAt(c.nasUrl, {})).get("refs/heads/main"), await headOf(e, one));
      const st2 = await t(one, ["status", "--json"]);
      const nas = JSON.parse(st2.stdout).storages.find((s: { name: string }) => s.name === "nas");
      assertEquals(nas.mirror.state, "in-sync");
      assertEquals(JSON.parse(st2.stdout).unapproved, []);

      // For one run: TRUNKS_TRUST_MIRRORS approves (and records) what the map lists now.
      const cl2 = await t(parent, ["clone", c.url, "two"]);
      assertEquals(cl2.code, 0, cl2.stderr);
      const two = `${parent}/two`;
      await git(e, two, "pull", "-q");
      await commitFile(e, two, "c.txt", "c\n");
      const p2 = await run(e, "git", ["push"], {
        cwd: two,
        env: { TRUNKS_TRUST_MIRRORS: "nas" },
      });
      assertEquals(p2.code, 0, p2.stderr);
      assertEquals((await refsAt(c.nasUrl, {})).get("refs/heads/main"), await headOf(e, two));
      await commitFile(e, two, "d.txt", "d\n");
      await git(e, two, "push", "-q");
      assertEquals((await refsAt(c.nasUrl, {})).get("refs/heads/main"), await headOf(e, two));

      // Cloned from the mirror: the map's primary is not approved, so the mirror is read
      // alone and a push (which would fork the trunk) is refused until it is approved.
      const cl3 = await t(parent, ["clone", c.nasUrl, "three"]);
      assertEquals(cl3.code, 0, cl3.stderr);
      assertMatch(
        cl3.stdout,
        /primary primary .*NOT approved here.*trunks storage approve primary/,
      );
      const three = `${parent}/three`;
      assertEquals(await headOf(e, three), await headOf(e, two));
      await commitFile(e, three, "e.txt", "e\n");
      const p3 = await run(e, "git", ["push"], { cwd: three });
      assert(p3.code !== 0, "a push to a mirror alone is refused");
      assertMatch(
        p3.stderr,
        /is mirror "nas" of a trunk whose primary "primary" is not approved here.*trunks storage approve primary/,
      );
      assertEquals((await refsAt(c.url, b.settings)).get("refs/heads/main"), await headOf(e, two));
      const ap3 = await t(three, ["storage", "approve", "primary"]);
      assertEquals(ap3.code, 0, ap3.stderr);
      const p4 = await run(e, "git", ["push"], { cwd: three });
      assertEquals(p4.code, 0, p4.stderr);
      for (const [url, settings] of [[c.url, b.settings], [c.nasUrl, {}]] as const) {
        assertEquals((await refsAt(url, settings)).get("refs/heads/main"), await headOf(e, three));
      }
    },
  });
}
