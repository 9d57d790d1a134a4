/**
 * `trunks doctor` on a healthy setup (everything OK, exit 0) and on broken ones: the
 * helper missing from PATH, a storage whose directory is gone, a store whose clock is
 * ten minutes off. Each failure is named with what to do; no secret is ever printed.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../assert.ts";
import { initRepoWithStore, makeEnv, newRepo, ok, run, trunksBinDir } from "./harness.ts";
import { judgeSkew, measureSkew } from "../../src/cli/doctor_checks.ts";
import { openStore } from "../../src/storage/registry.ts";
import type { Store } from "../../src/storage/store.ts";

Deno.test({
  name: "doctor: healthy setup -> every check OK, exit 0; JSON says the same",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const e = await makeEnv();
    const [repo, store] = await initRepoWithStore(e);
    const r = await run(e, "trunks", ["doctor"], { cwd: repo });
    assertEquals(r.code, 0, r.stdout + r.stderr);
    assertMatch(r.stdout, /^OK +git +\d+\.\d+/m);
    assertMatch(r.stdout, /^OK +helper +git-remote-trunks at \//m);
    assertMatch(r.stdout, /^OK +storage primary +local:\/\/.*write, read, list and delete work/m);
    assertMatch(r.stdout, /^OK +storage primary +exclusive create honoured/m);
    assertMatch(r.stdout, /^OK +storage primary +clock: within/m);
    assertMatch(r.stdout, /^OK +storage primary +credentials: none needed/m);
    assert(!/FAIL|WARN/.test(r.stdout), r.stdout);
    const json = JSON.parse(await ok(e, "trunks", ["doctor", "--json"], { cwd: repo }));
    assertEquals(json.ok, true);
    assert(json.checks.length >= 6);
    // No probe object is left behind.
    const left = [...Deno.readDirSync(store)].map((d) => d.name);
    assertEquals(left.filter((n) => n !== "trunks"), []);
  },
});

Deno.test({
  name: "doctor: helper not on PATH and a storage gone -> FAIL lines saying what to do, exit 1",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const e = await makeEnv();
    const [repo, store] = await initRepoWithStore(e);
    await Deno.remove(store, { recursive: true });
    const bin = await trunksBinDir();
    const path = (Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== bin).join(":");
    const r = await run(e, `${bin}/trunks`, ["doctor"], { cwd: repo, env: { PATH: path } });
    assertEquals(r.code, 1, r.stdout + r.stderr);
    assertMatch(r.stdout, /^OK +git /m);
    assertMatch(
      r.stdout,
      /^FAIL +helper +git-remote-trunks is not on PATH.*trunks install-helper/m,
    );
    assertMatch(r.stdout, /^FAIL +storage primary +local:\/\/.*does not exist/m);
    const json = JSON.parse(
      (await run(e, `${bin}/trunks`, ["doctor", "--json"], {
        cwd: repo,
        env: { PATH: path },
      })).stdout,
    );
    assertEquals(json.ok, false);
  },
});

Deno.test({
  name: "doctor: credentials are named by where they were found, never shown",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const e = await makeEnv();
    const repo = await newRepo(e);
    await ok(e, "trunks", ["init"], { cwd: repo });
    // A storage the doctor cannot reach (nothing listens on port 9), with keys in the env.
    const db = `${repo}/.trunks`;
    const trunkDb = [...Deno.readDirSync(db)].find((d) => d.name.endsWith(".trunk"))!.name;
    const { LocalDb } = await import("../../src/local/db.ts");
    const local = new LocalDb(`${db}/${trunkDb}`);
    local.db.prepare(
      `INSERT INTO storages (name, role, url, backend, settings, secrets, added) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      "backup",
      "primary",
      "s3://bkt/trunks/work.trunk?endpoint=http://127.0.0.1:9",
      "s3",
      "{}",
      JSON.stringify({ "secret-key": "saved-secret-value" }),
      new Date().toISOString(),
    );
    local.close();
    const r = await run(e, "trunks", ["doctor"], {
      cwd: repo,
      env: {
        TRUNKS_STORAGE_BACKUP_ACCESS_KEY: "env-access-value",
        AWS_SECRET_ACCESS_KEY: "aws-secret-value",
        TRUNKS_STORE_TIMEOUT: "3",
      },
    });
    assertEquals(r.code, 1, r.stdout);
    assertStringIncludes(r.stdout, "TRUNKS_STORAGE_BACKUP_ACCESS_KEY (environment, used first)");
    assertStringIncludes(r.stdout, "--secret-key (saved in .trunks/ by storage add)");
    assertStringIncludes(r.stdout, "AWS_SECRET_ACCESS_KEY (provider variables)");
    for (const secret of ["env-access-value", "aws-secret-value", "saved-secret-value"]) {
      assert(!(r.stdout + r.stderr).includes(secret), `doctor printed ${secret}`);
    }
  },
});

/** A store whose listing reports modified times `offset` ms off (a store with a wrong clock). */
function skewed(store: Store, offset: number): Store {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === "list") {
        return async (prefix: string, after?: string) =>
          (await target.list(prefix, after)).map((e) => ({
            ...e,
            modified: new Date(e.modified.getTime() + offset),
          }));
      }
      const v = Reflect.get(target, prop);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

Deno.test("doctor: clock skew against the store is measured and judged", async () => {
  const store = await openStore("memory://doctor-clock");
  assertEquals(judgeSkew("s", await measureSkew(store)).verdict, "ok");
  const ahead = judgeSkew("s", await measureSkew(skewed(store, 10 * 60_000)));
  assertEquals(ahead.verdict, "fail");
  assertMatch(ahead.detail, /the store is 59\d s ahead of this machine; fix the system clock/);
  const behind = judgeSkew("s", await measureSkew(skewed(store, -45_000)));
  assertEquals(behind.verdict, "warn");
  assertMatch(behind.detail, /behind this machine/);
  assertEquals(await store.list("probe/"), []);
});
