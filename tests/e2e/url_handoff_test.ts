/**
 * The URL a user sees is the URL that works elsewhere: `storage add --name primary
 * s3://bucket/... --endpoint E` (the product page's form) keeps the endpoint in the URL
 * that `storage list`, `status` and `git remote -v` show, and a second machine (fresh
 * HOME, fresh directory, provider credentials only) clones from that URL alone against
 * MinIO. `storage ping URL` takes the same flags. Wrong or missing credentials say which
 * and name the storage's own variables.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../assert.ts";
import { commitFile, e2eBackends, git, makeEnv, newRepo, ok, run } from "./harness.ts";

const minio = e2eBackends().find((b) => b.name === "minio");

Deno.test({
  name:
    "url handoff: storage add URL --endpoint keeps the endpoint in list/status/remote -v; a second machine clones from that URL alone",
  ignore: !minio,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const root = new URL(await minio!.root());
    const endpoint = root.searchParams.get("endpoint")!;
    root.search = "";
    const bare = root.toString(); // s3://bucket/e2e-<uuid>: no endpoint, as on the product page
    const a = await makeEnv();
    const repo = await newRepo(a);
    await ok(a, "trunks", ["init"], { cwd: repo });

    // Credentials for this storage alone, wrong: the message says refused and names them.
    const wrongKeys = {
      TRUNKS_STORAGE_PRIMARY_ACCESS_KEY: "not-a-key",
      TRUNKS_STORAGE_PRIMARY_SECRET_KEY: "not-a-secret",
    };
    const wrong = await run(a, "trunks", [
      "storage",
      "add",
      "--name",
      "primary",
      bare,
      "--endpoint",
      endpoint,
    ], { cwd: repo, env: wrongKeys });
    assert(wrong.code !== 0);
    assertMatch(wrong.stderr, /refused the credentials/);
    assertStringIncludes(wrong.stderr, "TRUNKS_STORAGE_PRIMARY_ACCESS_KEY");
    assertStringIncludes(wrong.stderr, "nothing was saved");

    // No credentials at all (a provider without a default chain): never "refused".
    const r2 = await run(a, "trunks", [
      "storage",
      "ping",
      `wasabi://${root.hostname}`,
      "--endpoint",
      endpoint,
      "--name",
      "backup",
    ], { cwd: repo });
    assert(r2.code !== 0);
    assert(!/refused/.test(r2.stderr), r2.stderr);
    assertMatch(r2.stderr, /no credentials/);
    assertStringIncludes(r2.stderr, "TRUNKS_STORAGE_BACKUP_ACCESS_KEY");

    const creds = {
      TRUNKS_STORAGE_PRIMARY_ACCESS_KEY: minio!.settings["access-key"],
      TRUNKS_STORAGE_PRIMARY_SECRET_KEY: minio!.settings["secret-key"],
    };
    // `storage ping URL` takes storage add's flags.
    const ping = await run(a, "trunks", [
      "storage",
      "ping",
      bare,
      "--endpoint",
      endpoint,
      "--name",
      "primary",
    ], { cwd: repo, env: creds });
    assertEquals(ping.code, 0, ping.stderr);
    assertMatch(ping.stdout, /ok, \d+ ms; exclusive create honoured/);

    const added = await ok(a, "trunks", [
      "storage",
      "add",
      "--name",
      "primary",
      bare,
      "--endpoint",
      endpoint,
    ], { cwd: repo, env: creds });
    assertStringIncludes(added, `endpoint=${endpoint}`);
    // A flag that contradicts the URL is refused, not silently preferred.
    const clash = await run(a, "trunks", [
      "storage",
      "ping",
      `${bare}?endpoint=${endpoint}`,
      "--endpoint",
      "http://127.0.0.1:1",
    ], { cwd: repo });
    assertEquals(clash.code, 2, clash.stderr);
    assertMatch(clash.stderr, /contradicts endpoint=/);

    const list = await ok(a, "trunks", ["storage", "list"], { cwd: repo });
    assertStringIncludes(list, `?endpoint=${endpoint}`);
    const remotes = await git(a, repo, "remote", "-v");
    assertStringIncludes(remotes, `?endpoint=${endpoint}`);
    await commitFile(a, repo, "b.txt", "two\n");
    await ok(a, "trunks", ["push"], { cwd: repo, env: creds });
    const status = await ok(a, "trunks", ["status"], { cwd: repo, env: creds });
    assertStringIncludes(status, `?endpoint=${endpoint}`);
    // doctor against MinIO: everything OK, credentials named, never shown.
    const doctor = await run(a, "trunks", ["doctor"], { cwd: repo, env: creds });
    assertEquals(doctor.code, 0, doctor.stdout);
    assertMatch(doctor.stdout, /^OK +storage primary +exclusive create honoured/m);
    assertMatch(doctor.stdout, /^OK +storage primary +clock: within/m);
    assertStringIncludes(doctor.stdout, "TRUNKS_STORAGE_PRIMARY_ACCESS_KEY");
    assert(!doctor.stdout.includes(creds.TRUNKS_STORAGE_PRIMARY_SECRET_KEY));

    // The second machine: a fresh HOME, a fresh directory, the URL and provider credentials.
    const url = (await git(a, repo, "remote", "get-url", "trunks")).trim().replace(
      /^trunks::/,
      "",
    );
    const b = await makeEnv(minio!.env);
    const where = await Deno.makeTempDir({ prefix: "trunks-machine-b-" });
    const cloned = await ok(b, "trunks", ["clone", url, "work"], { cwd: where });
    assertStringIncludes(cloned, `endpoint=${endpoint}`);
    assertEquals(
      await Deno.readTextFile(`${where}/work/b.txt`),
      "two\n",
    );
    assertEquals(
      (await git(b, `${where}/work`, "rev-parse", "HEAD")).trim(),
      (await git(a, repo, "rev-parse", "HEAD")).trim(),
    );
    assertStringIncludes(await git(b, `${where}/work`, "remote", "-v"), `endpoint=${endpoint}`);
  },
});
