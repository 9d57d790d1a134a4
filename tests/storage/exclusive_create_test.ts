/**
 * Exclusive create is verified before the first write through every entry point (issue
 * "No acknowledged push is ever lost", point 2): the library and a raw `trunks::` URL
 * through the remote helper refuse a store that ignores If-None-Match (s3rver) with one
 * line and write nothing; stores that honour it record "verified" in trunk.json, an
 * explicit single-writer opt-in records "single-writer".
 */
import { assert, assertEquals, assertMatch, assertRejects } from "../assert.ts";
import { Trunk } from "../../mod.ts";
import { openStore } from "../../src/storage/registry.ts";
import { getBytes, type Store } from "../../src/storage/store.ts";
import { serverEnv } from "../servers.ts";
import { git, makeEnv, newRepo, run } from "../e2e/harness.ts";
import { Trunk as Core } from "../../src/trunk/trunk.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { ensureMetaCreated } from "../../src/trunk/meta.ts";

const minio = serverEnv("minio", [
  "TRUNKS_TEST_MINIO_ENDPOINT",
  "TRUNKS_TEST_MINIO_ACCESS_KEY",
  "TRUNKS_TEST_MINIO_SECRET_KEY",
  "TRUNKS_TEST_MINIO_BUCKET",
]);
const s3rver = serverEnv("s3rver", [
  "TRUNKS_TEST_S3RVER_ENDPOINT",
  "TRUNKS_TEST_S3RVER_ACCESS_KEY",
  "TRUNKS_TEST_S3RVER_SECRET_KEY",
  "TRUNKS_TEST_S3RVER_BUCKET",
]);

const opts = { sanitizeOps: false, sanitizeResources: false };

function s3rverUrl(): string {
  const e = s3rver!;
  return `s3://${e.TRUNKS_TEST_S3RVER_BUCKET}/run-${crypto.randomUUID()}/trunks/r.trunk` +
    `?endpoint=${e.TRUNKS_TEST_S3RVER_ENDPOINT}`;
}
const s3rverKeys = () => ({
  "access-key": s3rver!.TRUNKS_TEST_S3RVER_ACCESS_KEY,
  "secret-key": s3rver!.TRUNKS_TEST_S3RVER_SECRET_KEY,
});

async function recorded(store: Store): Promise<unknown> {
  const raw = await getBytes(store, "trunk.json");
  assert(raw, "trunk.json was written");
  return JSON.parse(new TextDecoder().decode(raw)).exclusiveCreate;
}

async function keysUnder(url: string, settings: Record<string, string>): Promise<string[]> {
  const store = await openStore(url, settings);
  try {
    return (await store.list("")).map((e) => e.key);
  } finally {
    await store.close();
  }
}

async function createWithLibrary(url: string, settings: Record<string, string> = {}) {
  await using t = await Trunk.open({ url, create: true, writer: "lib", settings });
  t.write("README.md", "hello\n");
  await t.commit({ message: "first", branch: "main" });
  await t.push();
}

Deno.test("exclusive create: local disk and memory record verified", async () => {
  const dir = await Deno.makeTempDir();
  for (
    const url of [
      `local://${dir}/trunks/r.trunk`,
      `memory://xc-${crypto.randomUUID()}/trunks/r.trunk`,
    ]
  ) {
    await createWithLibrary(url);
    const store = await openStore(url);
    try {
      assertEquals(await recorded(store), "verified", url);
      assertEquals((await store.list("probe/")).length, 0, "the probe leaves nothing");
    } finally {
      await store.close();
    }
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("exclusive create: a trunk without a record is probed once per client", async () => {
  const url = `memory://xc-${crypto.randomUUID()}/trunks/r.trunk`;
  const store = await openStore(url);
  const legacy = { format: 1, id: crypto.randomUUID(), objectFormat: "sha1", created: "x" };
  assert(await store.create("trunk.json", new TextEncoder().encode(JSON.stringify(legacy))));
  let creates = 0;
  const create = store.create.bind(store);
  store.create = (k, d) => {
    if (k.startsWith("probe/")) creates++;
    return create(k, d);
  };
  const cache = new MemoryCache();
  await Core.openOrCreate(store, cache, "w", "sha1");
  assertEquals(creates, 2, "the first write probes (two creates of one key)");
  await Core.openOrCreate(store, cache, "w", "sha1");
  assertEquals(creates, 2, "a second open of the same trunk does not probe again");
});

Deno.test({
  name: "exclusive create: MinIO records verified",
  ignore: !minio,
  ...opts,
  fn: async () => {
    const m = minio!;
    const url = `s3://${m.TRUNKS_TEST_MINIO_BUCKET}/run-${crypto.randomUUID()}/trunks/r.trunk` +
      `?endpoint=${m.TRUNKS_TEST_MINIO_ENDPOINT}`;
    const settings = {
      "access-key": m.TRUNKS_TEST_MINIO_ACCESS_KEY,
      "secret-key": m.TRUNKS_TEST_MINIO_SECRET_KEY,
    };
    await createWithLibrary(url, settings);
    const store = await openStore(url, settings);
    try {
      assertEquals(await recorded(store), "verified");
    } finally {
      await store.close();
    }
  },
});

Deno.test({
  name: "exclusive create: the library refuses s3rver with one line and writes nothing",
  ignore: !s3rver,
  ...opts,
  fn: async () => {
    const url = s3rverUrl();
    const err = await assertRejects(() => createWithLibrary(url, s3rverKeys()));
    assertMatch(err.message, /ignores create-exclusive.*nothing was written.*single-writer/);
    assert(!err.message.includes("\n"), err.message);
    assert(!err.message.includes(s3rver!.TRUNKS_TEST_S3RVER_SECRET_KEY), err.message);
    assertEquals(await keysUnder(url, s3rverKeys()), []);
  },
});

Deno.test({
  name: "exclusive create: single-writer on s3rver is an explicit opt-in, recorded",
  ignore: !s3rver,
  ...opts,
  fn: async () => {
    const url = s3rverUrl();
    const settings = { ...s3rverKeys(), "single-writer": "true" };
    await createWithLibrary(url, settings);
    const store = await openStore(url, settings);
    try {
      assertEquals(store.capabilities.atomicCreate, false);
      assertEquals(await recorded(store), "single-writer");
    } finally {
      await store.close();
    }
  },
});

Deno.test({
  name: "exclusive create: a raw git push trunks::s3://... to s3rver is refused, nothing moves",
  ignore: !s3rver,
  ...opts,
  fn: async () => {
    const s = s3rver!;
    const e = await makeEnv({
      AWS_ACCESS_KEY_ID: s.TRUNKS_TEST_S3RVER_ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: s.TRUNKS_TEST_S3RVER_SECRET_KEY,
      AWS_REGION: "us-east-1",
    });
    const url = s3rverUrl();
    // Two racing pushers of one new trunk: neither may be told it won.
    const repos = [await newRepo(e, "a"), await newRepo(e, "b")];
    const pushes = await Promise.all(
      repos.map((dir) => run(e, "git", ["push", `trunks::${url}`, "main"], { cwd: dir })),
    );
    for (const r of pushes) {
      assert(r.code !== 0, `push must fail: ${r.stderr}`);
      assertMatch(r.stderr, /ignores create-exclusive.*nothing was written/);
    }
    assertEquals(await keysUnder(url, s3rverKeys()), []);

    // A trunk made by an older trunks (no record) is probed by the writer and refused too.
    const store = await openStore(url, s3rverKeys());
    const legacy = { format: 1, id: crypto.randomUUID(), objectFormat: "sha1", created: "x" };
    await store.put("trunk.json", new TextEncoder().encode(JSON.stringify(legacy)));
    await store.close();
    const again = await run(e, "git", ["push", `trunks::${url}`, "main"], { cwd: repos[0] });
    assert(again.code !== 0, again.stderr);
    assertMatch(again.stderr, /ignores create-exclusive/);
    assertEquals(await keysUnder(url, s3rverKeys()), ["trunk.json"]);
    assertEquals(await git(e, repos[0], "ls-remote", `trunks::${url}`), "");
  },
});

Deno.test("exclusive create: creators racing on a location each saw empty agree on one trunk.json; no probe key is left", async () => {
  const inner = await openStore(`local://${await Deno.makeTempDir()}`);
  // Deletes answer late: the probe keys' removal is still out when trunk.json is created.
  const store = new Proxy(inner, {
    get(t, p) {
      if (p === "delete") {
        return async (key: string) => {
          await new Promise((r) => setTimeout(r, 30));
          return await t.delete(key);
        };
      }
      const v = Reflect.get(t, p);
      return typeof v === "function" ? v.bind(t) : v;
    },
  });
  // `absent`: each caller found no trunk.json a moment ago and does not read it again first.
  const got = await Promise.all(
    Array.from({ length: 6 }, () => ensureMetaCreated(store, "sha1", { absent: true })),
  );
  assertEquals(got.filter((g) => g.created).length, 1);
  assertEquals(new Set(got.map((g) => g.meta.id)).size, 1);
  assertEquals(got[0].meta.exclusiveCreate, "verified");
  // The probe's DELETE went out beside the create, and was done before each returned.
  assertEquals((await store.list("probe/")).map((e) => e.key), []);
});
