import { AzureStore } from "../../src/storage/azure.ts";
import { azureConfig, DEV_KEY } from "../../src/storage/azure_config.ts";
import { backendSpec } from "../../src/storage/registry.ts";
import { getBytes, StoreError } from "../../src/storage/store.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../assert.ts";
import { serverEnv } from "../servers.ts";

const noEnv = (_: string): string | undefined => undefined;
const envOf = (vars: Record<string, string>) => (n: string): string | undefined => vars[n];
const url = (s: string) => new URL(s);
const FAST = { attempts: 2, baseDelayMs: 10, maxDelayMs: 50 };

Deno.test("azure URL: account, container, prefix, default endpoint", () => {
  const c = azureConfig(url("azure://MyAcct/repos/team/trunks/x.trunk"), {}, noEnv);
  assertEquals(c.account, "myacct");
  assertEquals(c.container, "repos");
  assertEquals(c.prefix, "team/trunks/x.trunk/");
  assertEquals(c.endpoint, "https://myacct.blob.core.windows.net");
  assertEquals(c.auth.kind, "anonymous");
  assertEquals(azureConfig(url("azure://acct/repos"), {}, noEnv).prefix, "");
});

Deno.test("azure URL: bad account or container names say what is expected", () => {
  for (
    const [u, part] of [
      ["azure://a/repos", "storage account"],
      ["azure://has-dash/repos", "storage account"],
      ["azure://acct/", "container"],
      ["azure://acct/Upper", "container"],
      ["azure://acct/a--b", "container"],
    ]
  ) {
    let err: unknown;
    try {
      azureConfig(url(u), {}, noEnv);
    } catch (e) {
      err = e;
    }
    assert(err instanceof StoreError, u);
    assertStringIncludes(err.message, part);
    assertStringIncludes(err.message, "azure://");
  }
});

Deno.test("azure endpoint: setting, then ?endpoint=, then BlobEndpoint, then default", () => {
  const cs = `AccountName=acct;AccountKey=${DEV_KEY};BlobEndpoint=http://cs.example/acct/`;
  const u = url("azure://acct/cnt?endpoint=http://127.0.0.1:10000/acct/");
  assertEquals(
    azureConfig(u, { endpoint: "https://setting.example/", "connection-string": cs }, noEnv)
      .endpoint,
    "https://setting.example",
  );
  assertEquals(
    azureConfig(u, { "connection-string": cs }, noEnv).endpoint,
    "http://127.0.0.1:10000/acct",
  );
  assertEquals(
    azureConfig(url("azure://acct/cnt"), { "connection-string": cs }, noEnv).endpoint,
    "http://cs.example/acct",
  );
  const suffix = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=k;" +
    "EndpointSuffix=core.chinacloudapi.cn";
  assertEquals(
    azureConfig(url("azure://acct/cnt"), { "connection-string": suffix }, noEnv).endpoint,
    "https://acct.blob.core.chinacloudapi.cn",
  );
  // The display location keeps a custom endpoint (so the URL is complete) and no secret.
  const c = azureConfig(u, { "account-key": "c2VjcmV0" }, noEnv);
  assertEquals(c.location, "azure://acct/cnt/?endpoint=http%3A%2F%2F127.0.0.1%3A10000%2Facct");
});

Deno.test("azure credentials: settings before environment, in the documented order", () => {
  const env = envOf({
    AZURE_STORAGE_CONNECTION_STRING: "AccountName=acct;AccountKey=ZW52Y3M=",
    AZURE_STORAGE_ACCOUNT: "acct",
    AZURE_STORAGE_KEY: "ZW52a2V5",
    AZURE_STORAGE_SAS_TOKEN: "?sv=env&sig=x",
  });
  const u = url("azure://acct/cnt");
  const all = {
    "connection-string": "AccountName=acct;AccountKey=c2V0Y3M=",
    "account-key": "c2V0a2V5",
    "sas-token": "?sv=set&sig=y",
  };
  const pick = (s: Record<string, string>, e = env) => {
    const a = azureConfig(u, s, e).auth;
    return a.kind === "shared-key" ? `key:${a.key}` : a.kind === "sas" ? `sas:${a.token}` : a.kind;
  };
  assertEquals(pick(all), "key:c2V0Y3M=");
  assertEquals(pick({ ...all, "connection-string": "" }), "key:c2V0a2V5");
  assertEquals(pick({ "sas-token": all["sas-token"] }), "sas:sv=set&sig=y");
  assertEquals(pick({}), "key:ZW52Y3M=");
  assertEquals(
    pick({}, envOf({ AZURE_STORAGE_ACCOUNT: "acct", AZURE_STORAGE_KEY: "ZW52a2V5" })),
    "key:ZW52a2V5",
  );
  assertEquals(pick({}, envOf({ AZURE_STORAGE_SAS_TOKEN: "sv=1&sig=2" })), "sas:sv=1&sig=2");
  assertEquals(pick({}, noEnv), "anonymous");
  assertEquals(
    pick({
      "connection-string": "BlobEndpoint=https://x.example/;SharedAccessSignature=sv=3&sig=4",
    }),
    "sas:sv=3&sig=4",
  );
  const dev = azureConfig(
    url("azure://devstoreaccount1/cnt"),
    { "connection-string": "UseDevelopmentStorage=true" },
    noEnv,
  );
  assertEquals(dev.auth.kind === "shared-key" && dev.auth.key, DEV_KEY);
  assertEquals(dev.endpoint, "http://127.0.0.1:10000/devstoreaccount1");
});

Deno.test("azure credentials: a key for another account is refused without showing it", () => {
  const secret = "c2VjcmV0LWtleS1mb3Itb3RoZXI=";
  for (
    const [settings, env] of [
      [{ "connection-string": `AccountName=other;AccountKey=${secret}` }, noEnv],
      [{}, envOf({ AZURE_STORAGE_ACCOUNT: "other", AZURE_STORAGE_KEY: secret })],
    ] as const
  ) {
    let err: unknown;
    try {
      azureConfig(url("azure://acct/cnt"), settings, env);
    } catch (e) {
      err = e;
    }
    assert(err instanceof StoreError);
    assertStringIncludes(err.message, "'other'");
    assert(!err.message.includes(secret), err.message);
  }
});

Deno.test("azure credentials: a connection string missing a ';' does not quote the key glued into its BlobEndpoint", () => {
  const secret = "c2VjcmV0LWdsdWVkLWtleQ==";
  const cs = `AccountName=acct;BlobEndpoint=https://acct.example AccountKey=${secret}`;
  let err: unknown;
  try {
    azureConfig(url("azure://acct/cnt"), { "connection-string": cs }, noEnv);
  } catch (e) {
    err = e;
  }
  assert(err instanceof StoreError);
  assert(!err.message.includes(secret), err.message);
  assertStringIncludes(err.message, "BlobEndpoint is not a URL");
});

Deno.test("azure rootUrl from storage add flags", () => {
  const spec = backendSpec("azure")!;
  assertEquals(spec.rootUrl({ account: "Acct", container: "repos" }), "azure://acct/repos");
  assertEquals(
    spec.rootUrl({ account: "acct", container: "repos", prefix: "/team/" }),
    "azure://acct/repos/team",
  );
  assertEquals(
    spec.rootUrl({ container: "cnt", "connection-string": "AccountName=fromcs;AccountKey=k" }),
    "azure://fromcs/cnt",
  );
  assertEquals(
    spec.rootUrl({
      account: "devstoreaccount1",
      container: "cnt",
      endpoint: "http://127.0.0.1:1/x",
    }),
    "azure://devstoreaccount1/cnt?endpoint=http%3A%2F%2F127.0.0.1%3A1%2Fx",
  );
  for (const s of ["account-key", "sas-token", "connection-string"]) {
    assert(spec.settings.find((x) => x.key === s)?.secret, s);
  }
  let err: unknown;
  try {
    spec.rootUrl({ container: "cnt" });
  } catch (e) {
    err = e;
  }
  assertStringIncludes(String(err), "--account");
});

async function closedPort(): Promise<number> {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return await Promise.resolve(port);
}

Deno.test({
  name: "azure: an unreachable endpoint is one clear line",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const port = await closedPort();
    const key = "dW5yZWFjaGFibGUta2V5LXNlY3JldA==";
    const cfg = azureConfig(
      url(`azure://devstoreaccount1/cnt?endpoint=http://127.0.0.1:${port}/devstoreaccount1`),
      { "account-key": key },
      noEnv,
    );
    const store = new AzureStore(cfg, { retry: FAST });
    const err = await assertRejects(() => store.get("x"), StoreError);
    assertEquals((err as StoreError).code, "unreachable");
    assertStringIncludes(err.message, `http://127.0.0.1:${port}/devstoreaccount1`);
    assertStringIncludes(err.message, "ECONNREFUSED");
    assert(!err.message.includes(key));
  },
});

const az = serverEnv("azurite", [
  "TRUNKS_TEST_AZURITE_ENDPOINT",
  "TRUNKS_TEST_AZURITE_ACCOUNT",
  "TRUNKS_TEST_AZURITE_KEY",
  "TRUNKS_TEST_AZURITE_CONTAINER",
]);

function azuriteStore(container: string, settings: Record<string, string>, pageSize?: number) {
  const e = az!;
  const base = `unit-${crypto.randomUUID().slice(0, 8)}`;
  const cfg = azureConfig(
    url(`azure://${e.TRUNKS_TEST_AZURITE_ACCOUNT}/${container}/${base}`),
    { endpoint: e.TRUNKS_TEST_AZURITE_ENDPOINT, ...settings },
    noEnv,
  );
  return new AzureStore(cfg, { retry: FAST, pageSize });
}

Deno.test({
  name: "azure (Azurite): errors for a wrong key, a SAS, a missing container; no secrets",
  ignore: az === null,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const e = az!;
    const wrongKey = btoa("this is not the account key, it is wrong!");
    const wrong = azuriteStore(e.TRUNKS_TEST_AZURITE_CONTAINER, { "account-key": wrongKey });
    for (const op of [() => wrong.get("a"), () => wrong.create("a", new Uint8Array([1]))]) {
      const err = await assertRejects(op, StoreError);
      assertEquals((err as StoreError).code, "access-denied");
      assertStringIncludes(err.message, "authentication failed");
      assertStringIncludes(err.message, "--account-key");
      assert(!err.message.includes(wrongKey), err.message);
      assert(!err.message.includes("\n"), err.message);
    }

    const sig = "sv=2021-12-02&ss=b&srt=sco&sp=rwdl&se=2099-01-01T00:00:00Z&sig=Zm9vYmFy";
    const sas = azuriteStore(e.TRUNKS_TEST_AZURITE_CONTAINER, { "sas-token": sig });
    const sasErr = await assertRejects(() => sas.put("a", new Uint8Array([1])), StoreError);
    assertEquals((sasErr as StoreError).code, "access-denied");
    assert(!sasErr.message.includes("Zm9vYmFy"), sasErr.message);

    const missing = azuriteStore("no-such-container", {
      "account-key": e.TRUNKS_TEST_AZURITE_KEY,
    });
    for (
      const op of [
        () => missing.get("a"),
        () => missing.list(""),
        () => missing.put("a", new Uint8Array()),
      ]
    ) {
      const err = await assertRejects(op, StoreError);
      assertEquals((err as StoreError).code, "not-found-root");
      assertStringIncludes(err.message, "container 'no-such-container' does not exist");
      assert(!err.message.includes(e.TRUNKS_TEST_AZURITE_KEY));
    }
  },
});

Deno.test({
  name: "azure (Azurite): list pages through continuation tokens; empty range; deep get",
  ignore: az === null,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const e = az!;
    const store = azuriteStore(
      e.TRUNKS_TEST_AZURITE_CONTAINER,
      { "account-key": e.TRUNKS_TEST_AZURITE_KEY },
      7,
    );
    const keys = Array.from({ length: 30 }, (_, i) => `p/${String(i).padStart(3, "0")}`);
    await Promise.all(keys.map((k) => store.put(k, new TextEncoder().encode(k))));
    assertEquals((await store.list("p/")).map((x) => x.key), keys);
    assertEquals((await store.list("p/", "p/024")).map((x) => x.key), keys.slice(25));
    const empty = await store.get("p/001", { offset: 2, length: 0 });
    assertEquals((await new Response(empty).arrayBuffer()).byteLength, 0);
    assertEquals(await store.get("p/nothing", { offset: 0, length: 0 }), null);
    const past = await store.get("p/001", { offset: 5 });
    assertEquals((await new Response(past).arrayBuffer()).byteLength, 0);
  },
});

/** What the fake blob service holds for one blob: bytes and the create nonce metadata. */
interface FakeBlob {
  body: Uint8Array;
  nonce: string | null;
}

/**
 * A stand-in for the blob service that answers a create's first try with 503 after
 * `onFirstTry` ran: the create was applied (or a racer's was) but its answer was lost.
 */
function flakyBlobService(onFirstTry: (blobs: Map<string, FakeBlob>, ours: FakeBlob) => void) {
  const blobs = new Map<string, FakeBlob>();
  const seen = { puts: 0, gets: 0 };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    if (req.method === "PUT") {
      const body = new Uint8Array(await req.arrayBuffer());
      const nonce = req.headers.get("x-ms-meta-trunkscreate");
      if (++seen.puts === 1) {
        onFirstTry(blobs, { body, nonce });
        return new Response("busy", { status: 503 });
      }
      if (blobs.has(path)) {
        return new Response("exists", {
          status: 409,
          headers: { "x-ms-error-code": "BlobAlreadyExists" },
        });
      }
      blobs.set(path, { body, nonce });
      return new Response(null, { status: 201 });
    }
    seen.gets++;
    const blob = blobs.get(path);
    if (!blob) {
      return new Response("", { status: 404, headers: { "x-ms-error-code": "BlobNotFound" } });
    }
    return new Response(req.method === "HEAD" ? null : blob.body as Uint8Array<ArrayBuffer>, {
      headers: {
        ...(blob.nonce ? { "x-ms-meta-trunkscreate": blob.nonce } : {}),
        "content-length": String(blob.body.byteLength),
        "x-ms-blob-type": "BlockBlob",
        etag: '"0x1"',
        "last-modified": new Date().toUTCString(),
      },
    });
  });
  return { store: fakeServiceStore(server), seen, close: () => server.shutdown() };
}

/** An AzureStore of container `cnt` on a fake Blob service (`Deno.serve` on loopback). */
function fakeServiceStore(server: Deno.HttpServer<Deno.NetAddr>): AzureStore {
  const endpoint = `http://127.0.0.1:${server.addr.port}/devstoreaccount1`;
  return new AzureStore(
    azureConfig(url(`azure://devstoreaccount1/cnt?endpoint=${endpoint}`), {
      "account-key": DEV_KEY,
    }, noEnv),
    { retry: FAST },
  );
}

Deno.test({
  name: "azure create: a retry that finds its own nonce won; a racer lost, " +
    "even one that wrote the same bytes",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const ours = new TextEncoder().encode("ours");
    const applied = flakyBlobService((blobs, ours) => blobs.set("/devstoreaccount1/cnt/k", ours));
    try {
      assertEquals(await applied.store.create("k", ours), true);
      assertEquals(applied.seen.gets, 1);
    } finally {
      await applied.close();
    }
    for (const theirs of [new TextEncoder().encode("theirs"), ours]) {
      const racer = flakyBlobService((blobs) =>
        blobs.set("/devstoreaccount1/cnt/k", { body: theirs, nonce: "someone-else" })
      );
      try {
        assertEquals(await racer.store.create("k", ours), false);
      } finally {
        await racer.close();
      }
    }
    // Without a lost answer a 409 is a plain loss: no read-back.
    const plain = flakyBlobService(() => {});
    try {
      assertEquals(await plain.store.create("k", ours), true);
      assertEquals(await plain.store.create("k", ours), false);
      assertEquals(plain.seen.gets, 0);
    } finally {
      await plain.close();
    }
  },
});

Deno.test("azure: a ranged get takes only the range: a 200 is cut to it, a 206 for another is refused", async () => {
  // The rule is S3's and GCS's too (range_answer.ts).
  const headers = {
    "x-ms-blob-type": "BlockBlob",
    etag: '"0x1"',
    "last-modified": new Date().toUTCString(),
  };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) =>
      req.url.includes("whole") ? new Response("0123456789", { headers }) : new Response("012", {
        status: 206,
        headers: { ...headers, "content-range": "bytes 0-2/10" },
      }),
  );
  try {
    const store = fakeServiceStore(server);
    const got = await getBytes(store, "whole", { offset: 5, length: 3 });
    assertEquals(new TextDecoder().decode(got!), "567");
    const err = await assertRejects(() => store.get("other", { offset: 5, length: 3 }), StoreError);
    assertEquals((err as StoreError).code, "corrupt");
    assertStringIncludes(err.message, "azure: other: asked for bytes 5-7");
  } finally {
    await server.shutdown();
  }
});
