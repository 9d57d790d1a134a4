/**
 * `trunks storage approve` binds a storage exactly as the trunk's map lists it, settings
 * included (a map that later changes one is refused again), so what it prints and its
 * JSON show those settings: endpoint, region, ... and never a secret.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { git, makeEnv, newRepo, ok, run } from "../e2e/harness.ts";
import { openStore } from "../../src/storage/registry.ts";
import { type MapEntry, readLatestMap, writeMap } from "../../src/trunk/storage_map.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "storage approve shows the settings it binds (endpoint, region), never a secret",
  ...opts,
  fn: async () => {
    const e = await makeEnv({
      // A credential for the mirror in this machine's environment must not be printed.
      TRUNKS_STORAGE_NAS_SECRET_KEY: "do-not-print-this-secret",
      TRUNKS_STORAGE_NAS_ACCESS_KEY: "do-not-print-this-key",
    });
    const root = await Deno.makeTempDir({ prefix: "trunks-store-" });
    const url = `local://${root}/trunks/app.trunk`;
    const repo = await newRepo(e, "app");
    await ok(e, "trunks", ["init"], { cwd: repo });
    await ok(e, "trunks", ["storage", "add", "--name", "primary", "--url", url], { cwd: repo });
    await git(e, repo, "push", "-q");
    // The map names an S3 mirror with an endpoint and a region (nothing connects to it).
    const store = await openStore(url, {});
    try {
      const latest = await readLatestMap(store);
      const storages: MapEntry[] = latest?.map.storages ??
        [{ name: "primary", role: "primary", backend: "local", url, settings: {} }];
      const nas: MapEntry = {
        name: "nas",
        role: "mirror",
        backend: "s3",
        url: "s3://backups/trunks/app.trunk",
        settings: { endpoint: "http://127.0.0.1:9", region: "eu-west-1" },
      };
      await writeMap(store, [...storages, nas], "test", latest?.map.seq ?? 0);
    } finally {
      await store.close();
    }
    const parent = await Deno.makeTempDir();
    await ok(e, "trunks", ["clone", url, "b"], { cwd: parent });
    const b = `${parent}/b`;

    const ap = await run(e, "trunks", ["storage", "approve", "nas"], { cwd: b });
    assertEquals(ap.code, 0, ap.stderr);
    assertMatch(
      ap.stdout,
      /approved mirror nas \(s3, s3:\/\/backups\/trunks\/app\.trunk; endpoint=http:\/\/127\.0\.0\.1:9 region=eu-west-1\)/,
    );
    const again = await run(e, "trunks", ["storage", "approve", "nas", "--json"], { cwd: b });
    assertEquals(again.code, 0, again.stderr);
    const [entry] = JSON.parse(again.stdout).approved;
    assertEquals(entry.settings, { endpoint: "http://127.0.0.1:9", region: "eu-west-1" });
    assertEquals(entry.was, "approved");
    for (const out of [ap.stdout, ap.stderr, again.stdout, again.stderr]) {
      assert(!out.includes("do-not-print"), out);
    }
  },
});
