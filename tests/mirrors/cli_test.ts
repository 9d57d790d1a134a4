/**
 * Mirrors through the command line, as the documentation shows them: storage add
 * [--mirror] on MinIO + local disk + Azurite, git push everywhere, status per mirror,
 * storage sync after a crash, ping and sync with a mirror down, a fresh `trunks clone`
 * from the primary URL naming the credentials a mirror still needs, and storage remove
 * taking a mirror out of the trunk's map.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import {
  commitFile,
  e2eBackends,
  type Env,
  git,
  makeEnv,
  newRepo,
  ok,
  run,
} from "../e2e/harness.ts";
import { head, opts, refsOn, type Storage } from "./harness.ts";
import { hostPort, TcpProxy } from "./proxy.ts";

const minio = e2eBackends().find((b) => b.name === "minio");
const azurite = e2eBackends().find((b) => b.name === "azurite");

function trunks(e: Env, cwd: string, args: string[], env: Record<string, string> = {}) {
  return run(e, "trunks", args, { cwd, env });
}

interface Listed {
  name: string;
  role: "primary" | "mirror";
  url: string;
  backend: string;
}

Deno.test({
  name:
    "mirrors cli: storage add --mirror, push everywhere, status, storage sync, ping, clone discovers mirrors, remove",
  ignore: !minio || !azurite,
  ...opts,
  fn: async () => {
    const m = Object.fromEntries(
      ["ENDPOINT", "ACCESS_KEY", "SECRET_KEY", "BUCKET"].map((
        k,
      ) => [k, Deno.env.get(`TRUNKS_TEST_MINIO_${k}`)!]),
    );
    const a = Object.fromEntries(
      ["ENDPOINT", "ACCOUNT", "KEY", "CONTAINER"].map((
        k,
      ) => [k, Deno.env.get(`TRUNKS_TEST_AZURITE_${k}`)!]),
    );
    const minioProxy = new TcpProxy(hostPort(m.ENDPOINT));
    const azureProxy = new TcpProxy(hostPort(a.ENDPOINT));
    minioProxy.up();
    azureProxy.up();
    const viaProxy = (endpoint: string, p: TcpProxy) => {
      const u = new URL(endpoint);
      u.port = String(p.port);
      return u.toString().replace(/\/$/, "");
    };
    try {
      const e = await makeEnv();
      const repo = await newRepo(e, "shop");
      const nasDir = await Deno.makeTempDir({ prefix: "trunks-nas-" });
      const id = crypto.randomUUID();
      const t = async (...args: string[]) => {
        const r = await trunks(e, repo, args);
        assertEquals(r.code, 0, `trunks ${args.join(" ")}: ${r.stderr}`);
        return r.stdout;
      };
      await t("init");
      await t(
        "storage",
        "add",
        "--name",
        "primary",
        "--backend",
        "s3",
        "--bucket",
        m.BUCKET,
        "--prefix",
        `mirrors-${id}`,
        "--endpoint",
        viaProxy(m.ENDPOINT, minioProxy),
        "--access-key",
        m.ACCESS_KEY,
        "--secret-key",
        m.SECRET_KEY,
      );
      await git(e, repo, "push", "-q");
      // A mirror added to an existing trunk gets a copy at once.
      const added = await t(
        "storage",
        "add",
        "--name",
        "nas",
        "--backend",
        "local",
        "--path",
        nasDir,
        "--mirror",
      );
      assertMatch(added, /copied the trunk here: nas: caught up 2 entries/);
      await t(
        "storage",
        "add",
        "--name",
        "cloud",
        "--backend",
        "azure",
        "--account",
        a.ACCOUNT,
        "--container",
        a.CONTAINER,
        "--prefix",
        `mirrors-${id}`,
        "--endpoint",
        viaProxy(a.ENDPOINT, azureProxy),
        "--account-key",
        a.KEY,
        "--mirror",
      );
      const listed = JSON.parse(await t("storage", "list", "--json")) as
        | Listed[]
        | { storages: Listed[] };
      const rows = Array.isArray(listed) ? listed : listed.storages;
      const secrets: Record<string, Record<string, string>> = {
        primary: { "access-key": m.ACCESS_KEY, "secret-key": m.SECRET_KEY },
        nas: {},
        cloud: { "account-key": a.KEY },
      };
      const storages: Storage[] = rows.map((r) => ({ ...r, secrets: secrets[r.name] }));
      assertEquals(storages.map((s) => s.name).sort(), ["cloud", "nas", "primary"]);

      await commitFile(e, repo, "b.txt", "two\n");
      await git(e, repo, "push", "-q");
      for (const s of storages) {
        assertEquals((await refsOn(s)).get("refs/heads/main"), await head(e, repo), s.name);
      }
      assertMatch(await t("status"), /nas \(mirror, local\).*in sync/);

      // A crash between the primary's entry and the mirrors': status shows them behind.
      await commitFile(e, repo, "c.txt", "three\n");
      const crashed = await run(e, "git", ["push"], {
        cwd: repo,
        env: { TRUNKS_FAULT: "push:mid-mirror" },
      });
      assert(crashed.code !== 0);
      const status = JSON.parse(await t("status", "--json"));
      const byName = Object.fromEntries(
        status.storages.map((s: { name: string }) => [s.name, s]),
      );
      assertEquals(byName.nas.mirror, { state: "behind", behind: 1, detail: null });
      assertEquals(byName.cloud.mirror.state, "behind");
      assertEquals(byName.primary.mirror, null);
      assertMatch(await t("status"), /cloud \(mirror, azure\).*behind by 1 entry/);
      const synced = await t("storage", "sync");
      assertMatch(synced, /nas: caught up 1 entry/);
      assertMatch(synced, /cloud: caught up 1 entry/);
      assertMatch(await t("storage", "sync"), /nas: in sync\ncloud: in sync/);
      for (const s of storages) {
        assertEquals((await refsOn(s)).get("refs/heads/main"), await head(e, repo), s.name);
      }

      // A mirror down: ping, sync and status say so; sync exits non-zero.
      azureProxy.down();
      const ping = await trunks(e, repo, ["storage", "ping"]);
      assertEquals(ping.code, 1);
      assertMatch(ping.stderr, /cloud/);
      const sync = await trunks(e, repo, ["storage", "sync"]);
      assertEquals(sync.code, 1);
      assertMatch(sync.stderr, /mirror "cloud".*unreachable/);
      assertMatch(await t("status"), /cloud \(mirror, azure\).*UNREACHABLE/);
      azureProxy.up();

      // A fresh sandbox with the primary URL and the provider's variables for it only,
      // approving the mirrors the trunk's map names (one explicit step).
      const fresh = await makeEnv(minio!.env);
      const parent = await Deno.makeTempDir();
      const primaryUrl = storages.find((s) => s.role === "primary")!.url;
      const cl = await run(fresh, "trunks", [
        "clone",
        primaryUrl,
        "shop",
        "--trust-mirrors",
        "nas,cloud",
      ], { cwd: parent });
      assertEquals(cl.code, 0, cl.stderr);
      assertMatch(cl.stdout, /mirror nas .*reachable/);
      assertMatch(cl.stdout, /mirror cloud .*NOT reachable.*TRUNKS_STORAGE_CLOUD_ACCOUNT_KEY/);
      const clone = `${parent}/shop`;
      const cloneRows = JSON.parse(
        await ok(fresh, "trunks", ["storage", "list", "--json"], { cwd: clone }),
      );
      assertEquals(
        (Array.isArray(cloneRows) ? cloneRows : cloneRows.storages).map((r: Listed) =>
          `${r.name}:${r.role}`
        ).sort(),
        ["cloud:mirror", "nas:mirror", "primary:primary"],
      );
      await commitFile(fresh, clone, "d.txt", "four\n");
      const refused = await run(fresh, "git", ["push"], { cwd: clone });
      assert(refused.code !== 0, "cloud has no credentials in the sandbox");
      assertMatch(refused.stderr, /TRUNKS_STORAGE_CLOUD_ACCOUNT_KEY/);
      const pushed = await run(fresh, "git", ["push"], {
        cwd: clone,
        env: { TRUNKS_STORAGE_CLOUD_ACCOUNT_KEY: a.KEY },
      });
      assertEquals(pushed.code, 0, pushed.stderr);
      for (const s of storages) {
        assertEquals((await refsOn(s)).get("refs/heads/main"), await head(fresh, clone), s.name);
      }

      // Removing a mirror (here in the clone) takes it out of the trunk's map: nobody's
      // push goes there any more, not even from the repository that added it.
      const cloudEnv = { TRUNKS_STORAGE_CLOUD_ACCOUNT_KEY: a.KEY };
      const rm = await ok(fresh, "trunks", ["storage", "remove", "nas"], {
        cwd: clone,
        env: cloudEnv,
      });
      assertMatch(rm, /storage map/);
      const nas = storages.find((s) => s.name === "nas")!;
      const nasMain = (await refsOn(nas)).get("refs/heads/main");
      await git(e, repo, "pull", "-q", "--rebase");
      await commitFile(e, repo, "e.txt", "five\n");
      const again = await run(e, "git", ["push"], { cwd: repo });
      assertEquals(again.code, 0, again.stderr);
      assertMatch(again.stderr, /mirror "nas" was removed from the trunk's storage map/);
      assertEquals((await refsOn(nas)).get("refs/heads/main"), nasMain, "nas got no push");
      for (const s of storages.filter((x) => x.name !== "nas")) {
        assertEquals((await refsOn(s)).get("refs/heads/main"), await head(e, repo), s.name);
      }
      // The original's own push did not put nas back into the map.
      await ok(fresh, "git", ["pull", "-q", "--rebase"], { cwd: clone, env: cloudEnv });
      await commitFile(fresh, clone, "f.txt", "six\n");
      await ok(fresh, "git", ["push", "-q"], { cwd: clone, env: cloudEnv });
      assertEquals((await refsOn(nas)).get("refs/heads/main"), nasMain, "still no push to nas");
    } finally {
      minioProxy.down();
      azureProxy.down();
    }
  },
});

Deno.test({
  name: "mirrors cli: storage ping checks a mirror known only from the trunk's storage map",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const repo = await newRepo(e, "pinged");
    const primary = await Deno.makeTempDir();
    const mirror = await Deno.makeTempDir();
    const t = (cwd: string, ...args: string[]) => ok(e, "trunks", args, { cwd });
    await t(repo, "init");
    await t(repo, "storage", "add", "--name", "primary", "--backend", "local", "--path", primary);
    await t(
      repo,
      "storage",
      "add",
      "--name",
      "nas",
      "--backend",
      "local",
      "--path",
      mirror,
      "--mirror",
    );
    await git(e, repo, "push", "-q");
    // Another repository saves only the primary; the map names the mirror.
    const other = await newRepo(e, "other");
    await t(other, "init");
    await t(
      other,
      "storage",
      "add",
      "--name",
      "primary",
      "--url",
      `local://${primary}/trunks/pinged.trunk`,
    );
    // Not approved here: not pinged (nothing is sent to it); approved: pinged.
    const before = JSON.parse(await t(other, "storage", "ping", "--json"));
    assertEquals(before.storages.map((s: { name: string }) => s.name), ["primary"]);
    await t(other, "storage", "approve", "nas");
    const ping = JSON.parse(await t(other, "storage", "ping", "--json"));
    assertEquals(
      ping.storages.map((s: { name: string; ok: boolean }) => [s.name, s.ok]),
      [["primary", true], ["nas", true]],
    );
    await Deno.rename(mirror, `${mirror}.away`);
    const down = await trunks(e, other, ["storage", "ping"]);
    assertEquals(down.code, 1);
    assertMatch(down.stderr, /nas \(mirror\): unreachable/);
  },
});
