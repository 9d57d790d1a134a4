import {
  authFromJson,
  loadAuth,
  SCOPE,
  serviceAccountAuth,
  type ServiceAccountKey,
  signServiceAccountJwt,
} from "../../src/storage/gcs_auth.ts";
import { GCS_API, gcsConfig, type GcsEnvironment } from "../../src/storage/gcs_config.ts";
import { CHUNK_SIZE, GcsStore } from "../../src/storage/gcs.ts";
import { backendSpec } from "../../src/storage/registry.ts";
import { getBytes, StoreError } from "../../src/storage/store.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../assert.ts";
import { serverEnv } from "../servers.ts";

const FAST = { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 };
const url = (s: string) => new URL(s);

function fakeEnv(vars: Record<string, string>, files: string[] = [], dmi?: string): GcsEnvironment {
  return {
    env: (n) => vars[n],
    exists: (p) => files.includes(p),
    readText: (p) => p === "/sys/class/dmi/id/product_name" ? dmi : undefined,
  };
}

Deno.test("gcs URL: gs:// and gcs://, bucket and prefix, bad bucket names", () => {
  const c = gcsConfig(url("gs://my-bucket/team/trunks/x.trunk"), {}, fakeEnv({}));
  assertEquals([c.bucket, c.prefix, c.api, c.emulator], [
    "my-bucket",
    "team/trunks/x.trunk/",
    GCS_API,
    false,
  ]);
  assertEquals(gcsConfig(url("gcs://b_1.example"), {}, fakeEnv({})).prefix, "");
  assertEquals(gcsConfig(url("gcs://bkt/p"), {}, fakeEnv({})).location, "gcs://bkt/p/");
  for (const bad of ["gs://a/x", "gs://-bkt/x", "gs://bkt-/x", "gs://b..kt/x"]) {
    let err: unknown;
    try {
      gcsConfig(url(bad), {}, fakeEnv({}));
    } catch (e) {
      err = e;
    }
    assert(err instanceof StoreError, bad);
    assertStringIncludes(err.message, "bucket");
  }
});

Deno.test("gcs endpoint: setting, then ?endpoint=, then STORAGE_EMULATOR_HOST", () => {
  const u = url("gs://bkt/p?endpoint=http://127.0.0.1:4443/storage/v1/");
  const emu = fakeEnv({ STORAGE_EMULATOR_HOST: "localhost:9023" });
  const a = gcsConfig(u, { endpoint: "https://private.example" }, emu);
  assertEquals([a.api, a.emulator], ["https://private.example", false]);
  const b = gcsConfig(u, {}, emu);
  assertEquals([b.api, b.emulator], ["http://127.0.0.1:4443", true]);
  assertEquals(b.location, "gs://bkt/p/?endpoint=http%3A%2F%2F127.0.0.1%3A4443");
  const c = gcsConfig(url("gs://bkt"), {}, emu);
  assertEquals([c.api, c.emulator, c.credentials.kind], ["http://localhost:9023", true, "none"]);
});

Deno.test("gcs credentials: file setting, emulator, GOOGLE_APPLICATION_CREDENTIALS, ADC, metadata", () => {
  const u = url("gs://bkt");
  const pick = (settings: Record<string, string>, e: GcsEnvironment) => {
    const c = gcsConfig(u, settings, e).credentials;
    return c.kind === "file" ? `file:${c.path}` : c.kind === "metadata" ? `meta:${c.host}` : c.kind;
  };
  const adc = "/home/u/.config/gcloud/application_default_credentials.json";
  const everything = fakeEnv(
    { GOOGLE_APPLICATION_CREDENTIALS: "/gac.json", HOME: "/home/u", GCE_METADATA_HOST: "10.0.0.1" },
    [adc],
    "Google Compute Engine",
  );
  assertEquals(pick({ "credentials-file": "/set.json" }, everything), "file:/set.json");
  assertEquals(pick({ endpoint: "http://127.0.0.1:1" }, everything), "none");
  assertEquals(
    pick({ endpoint: "http://127.0.0.1:1", "credentials-file": "/set.json" }, everything),
    "file:/set.json",
  );
  assertEquals(pick({}, everything), "file:/gac.json");
  assertEquals(pick({}, fakeEnv({ HOME: "/home/u" }, [adc])), `file:${adc}`);
  assertEquals(
    pick({}, fakeEnv({ CLOUDSDK_CONFIG: "/cfg" }, ["/cfg/application_default_credentials.json"])),
    "file:/cfg/application_default_credentials.json",
  );
  assertEquals(
    pick({}, fakeEnv({ HOME: "/home/u", GCE_METADATA_HOST: "10.0.0.1" })),
    "meta:10.0.0.1",
  );
  assertEquals(pick({}, fakeEnv({ K_SERVICE: "svc" })), "meta:metadata.google.internal");
  assertEquals(
    pick({}, fakeEnv({}, [], "Google Compute Engine\n")),
    "meta:metadata.google.internal",
  );
  // Anywhere else the metadata server is never guessed at: anonymous (public buckets).
  assertEquals(pick({}, fakeEnv({ HOME: "/home/u" }, [], "Standard PC")), "none");
});

Deno.test("gcs rootUrl from storage add flags", () => {
  const spec = backendSpec("gcs")!;
  assertEquals(backendSpec("gs"), spec);
  assertEquals(spec.rootUrl({ bucket: "bkt" }), "gcs://bkt");
  assertEquals(spec.rootUrl({ bucket: "bkt", prefix: "/a/b/" }), "gcs://bkt/a/b");
  assertEquals(
    spec.rootUrl({ bucket: "bkt", endpoint: "http://127.0.0.1:4443" }),
    "gcs://bkt?endpoint=http%3A%2F%2F127.0.0.1%3A4443",
  );
  assert(spec.settings.find((s) => s.key === "credentials-file")?.secret);
});

async function serviceAccount(tokenUri: string) {
  const pair = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  );
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const b64 = btoa(String.fromCharCode(...der)).replace(/(.{64})/g, "$1\n");
  const key: ServiceAccountKey = {
    type: "service_account",
    client_email: "trunks-test@project.iam.gserviceaccount.com",
    private_key: `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`,
    private_key_id: "kid-123",
    token_uri: tokenUri,
  };
  return { key, publicKey: pair.publicKey };
}

function b64urlDecode(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

async function verifyJwt(jwt: string, publicKey: CryptoKey) {
  const [h, c, s] = jwt.split(".");
  const ok = await crypto.subtle.verify(
    "RSASSA-PKCS1-v1_5",
    publicKey,
    b64urlDecode(s),
    new TextEncoder().encode(`${h}.${c}`),
  );
  const dec = (x: string) => JSON.parse(new TextDecoder().decode(b64urlDecode(x)));
  return { ok, header: dec(h), claims: dec(c) };
}

Deno.test("gcs service account: the JWT is RS256-signed by the key with the right claims", async () => {
  const { key, publicKey } = await serviceAccount("https://oauth2.example/token");
  const jwt = await signServiceAccountJwt(key, 1_700_000_000);
  const { ok, header, claims } = await verifyJwt(jwt, publicKey);
  assert(ok, "signature verifies with the public key");
  assertEquals(header, { alg: "RS256", typ: "JWT", kid: "kid-123" });
  assertEquals(claims, {
    iss: key.client_email,
    scope: SCOPE,
    aud: "https://oauth2.example/token",
    iat: 1_700_000_000,
    exp: 1_700_003_600,
  });
});

Deno.test({
  name: "gcs service account: token exchanged once and cached; errors keep the key secret",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    let exchanges = 0;
    let publicKey: CryptoKey | undefined;
    let refuse = false;
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (req) => {
        exchanges++;
        const form = new URLSearchParams(await req.text());
        if (refuse) {
          return Response.json({ error: "invalid_grant", error_description: "Invalid JWT" }, {
            status: 400,
          });
        }
        assertEquals(form.get("grant_type"), "urn:ietf:params:oauth:grant-type:jwt-bearer");
        const v = await verifyJwt(form.get("assertion")!, publicKey!);
        assert(v.ok);
        return Response.json({
          access_token: "ya29.test-token",
          expires_in: 3599,
          token_type: "Bearer",
        });
      },
    );
    try {
      const sa = await serviceAccount(`http://127.0.0.1:${server.addr.port}/token`);
      publicKey = sa.publicKey;
      const auth = authFromJson(
        JSON.stringify(sa.key),
        "/keys/sa.json",
        "--credentials-file",
        FAST,
      );
      const all = await Promise.all([auth.headers(), auth.headers(), auth.headers()]);
      for (const h of all) assertEquals(h.authorization, "Bearer ya29.test-token");
      assertEquals(exchanges, 1);

      refuse = true;
      const failing = serviceAccountAuth(sa.key, FAST);
      const err = await assertRejects(() => failing.headers(), StoreError);
      assertStringIncludes(err.message, sa.key.client_email);
      assertStringIncludes(err.message, "invalid_grant");
      assert(!err.message.includes("PRIVATE KEY"), err.message);
      assert(!err.message.includes("\n"), err.message);
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "gcs: a server echoing the refused request puts no credential in the error " +
    "(the access token, the signed assertion)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const token = "ya29.SECRET-token-0123456789";
    let shape = "json";
    const echoed: string[] = [];
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (req) => {
        const body = await req.text();
        // What an echoing proxy or test server answers: the request, headers and body.
        const echo = `${req.method} ${req.url} ${
          [...req.headers].map(([k, v]) => `${k}: ${v}`).join("\n")
        }\n${body}`;
        echoed.push(echo);
        if (new URL(req.url).pathname === "/token") {
          if (shape === "token") {
            return Response.json({ error: "invalid_grant", error_description: body }, {
              status: 400,
            });
          }
          return Response.json({ access_token: token, expires_in: 3600 });
        }
        // The header first: a long URL must not push it past the message's length cap.
        const short = `authorization: ${req.headers.get("authorization")} ${echo}`;
        if (shape === "json") return Response.json({ error: { message: short } }, { status: 400 });
        if (shape === "403") return Response.json({ error: { message: short } }, { status: 403 });
        return new Response(short, { status: 502 });
      },
    );
    try {
      const base = `http://127.0.0.1:${server.addr.port}`;
      const sa = await serviceAccount(`${base}/token`);
      const cfg = gcsConfig(url(`gs://bkt?endpoint=${base}`), {}, fakeEnv({}));
      const auth = serviceAccountAuth(sa.key, FAST);
      const store = new GcsStore(cfg, auth, { retry: FAST });
      for (const s of ["json", "403", "text"]) {
        shape = s;
        const err = await assertRejects(() => store.get("x"), StoreError);
        assert(echoed.some((e) => e.includes(token)), "the server saw the token");
        assert(!err.message.includes(token), `${s}: ${err.message}`);
        assert(!err.message.includes("\n"), err.message);
      }
      shape = "token";
      echoed.length = 0;
      const err = await assertRejects(
        () => serviceAccountAuth(sa.key, FAST).headers(),
        StoreError,
      );
      const assertion = new URLSearchParams(echoed[0].slice(echoed[0].lastIndexOf("\n") + 1))
        .get("assertion")!;
      assert(assertion.length > 100, "the server saw the assertion");
      assert(!err.message.includes(assertion.slice(0, 40)), err.message);
      assertStringIncludes(err.message, "invalid_grant");
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test("gcs credentials files: unsupported kinds, bad JSON and missing files are one line", async () => {
  const ext = await assertRejects(
    () =>
      Promise.resolve(
        authFromJson('{"type":"external_account"}', "/k.json", "GOOGLE_APPLICATION_CREDENTIALS"),
      ),
    StoreError,
  );
  assertStringIncludes(ext.message, "external_account");
  assertStringIncludes(ext.message, "s3://bucket?endpoint=https://storage.googleapis.com");
  const bad = await assertRejects(
    () => Promise.resolve(authFromJson("not json, secret-ish", "/k.json", "--credentials-file")),
    StoreError,
  );
  assert(!bad.message.includes("secret-ish"));
  const missing = await assertRejects(
    () => loadAuth({ kind: "file", path: "/nonexistent/key.json", source: "--credentials-file" }),
    StoreError,
  );
  assertStringIncludes(
    missing.message,
    "/nonexistent/key.json (from --credentials-file) does not exist",
  );
});

/**
 * A stand-in for the JSON API: media uploads with ifGenerationMatch, resumable sessions
 * with status checks, downloads. `failures` names tries to fail with a 503, optionally
 * after applying them (the answer is lost, the write is not).
 */
function fakeGcs(
  failures: {
    upload?: "applied" | "racer" | "same-bytes-racer";
    chunk?: { n: number; applied: boolean };
  },
) {
  const objects = new Map<string, Uint8Array>();
  const metadata = new Map<string, Record<string, string>>();
  const sessions = new Map<string, { name: string; parts: Uint8Array[]; size: number }>();
  const seen = { uploads: 0, chunks: 0, status: 0, gets: 0 };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const u = new URL(req.url);
    const q = u.searchParams;
    if (req.method === "POST" && ["media", "multipart"].includes(q.get("uploadType")!)) {
      let name = q.get("name")!;
      let body = new Uint8Array(await req.arrayBuffer());
      let meta: Record<string, string> = {};
      if (q.get("uploadType") === "multipart") {
        // --b CRLF headers CRLF CRLF json CRLF --b CRLF headers CRLF CRLF bytes CRLF --b-- CRLF
        const boundary = /boundary=(.+)$/.exec(req.headers.get("content-type")!)![1];
        const text = new TextDecoder("latin1").decode(body);
        const jsonPart = text.split(`--${boundary}`)[1];
        const json = JSON.parse(jsonPart.slice(jsonPart.indexOf("\r\n\r\n") + 4, -2));
        name = json.name;
        meta = json.metadata ?? {};
        const dataStart = text.indexOf("\r\n\r\n", text.indexOf(`--${boundary}`, 2)) + 4;
        body = body.slice(dataStart, text.lastIndexOf(`\r\n--${boundary}--`));
      }
      if (++seen.uploads === 1 && failures.upload) {
        const racer = failures.upload !== "applied";
        objects.set(
          name,
          failures.upload === "racer" ? new TextEncoder().encode("theirs") : body,
        );
        metadata.set(name, racer ? { "trunks-create": "someone-else" } : meta);
        return new Response("backend error", { status: 503 });
      }
      if (q.get("ifGenerationMatch") === "0" && objects.has(name)) {
        return Response.json({ error: { code: 412, message: "precondition" } }, { status: 412 });
      }
      objects.set(name, body);
      metadata.set(name, meta);
      return Response.json({ name });
    }
    if (req.method === "GET" && q.get("fields") === "metadata") {
      seen.gets++;
      const name = decodeURIComponent(u.pathname.split("/o/")[1]);
      if (!objects.has(name)) return new Response("", { status: 404 });
      return Response.json({ metadata: metadata.get(name) ?? {} });
    }
    if (req.method === "POST" && q.get("uploadType") === "resumable") {
      const id = crypto.randomUUID();
      sessions.set(id, { name: q.get("name")!, parts: [], size: 0 });
      return new Response("{}", { headers: { location: `${u.origin}/session/${id}` } });
    }
    if (req.method === "PUT" && u.pathname.startsWith("/session/")) {
      const s = sessions.get(u.pathname.slice("/session/".length))!;
      const range = req.headers.get("content-range")!;
      const held = () =>
        s.size ? { range: `bytes=0-${s.size - 1}` } : ({} as Record<string, string>);
      const status = /^bytes \*\/(\*|\d+)$/.exec(range);
      if (status) {
        seen.status++;
        if (objects.has(s.name) && status[1] !== "*") return Response.json({ name: s.name });
        return new Response(null, { status: 308, headers: held() });
      }
      const [, from, , total] = /^bytes (\d+)-(\d+)\/(\*|\d+)$/.exec(range)!;
      const body = new Uint8Array(await req.arrayBuffer());
      seen.chunks++;
      const fail = failures.chunk?.n === seen.chunks;
      if (Number(from) !== s.size) return new Response("bad offset", { status: 400 });
      if (!fail || failures.chunk!.applied) {
        s.parts.push(body);
        s.size += body.byteLength;
      }
      const done = total !== "*" && s.size === Number(total);
      if (done) {
        const all = new Uint8Array(s.size);
        let at = 0;
        for (const p of s.parts) all.set(p, (at += p.byteLength) - p.byteLength);
        objects.set(s.name, all);
      }
      if (fail) return new Response("backend error", { status: 503 });
      return done
        ? Response.json({ name: s.name })
        : new Response(null, { status: 308, headers: held() });
    }
    if (req.method === "GET" && q.get("alt") === "media") {
      seen.gets++;
      const name = decodeURIComponent(u.pathname.split("/o/")[1]);
      const obj = objects.get(name);
      return obj ? new Response(obj as Uint8Array<ArrayBuffer>) : new Response("", { status: 404 });
    }
    return new Response("", { status: 404 });
  });
  const cfg = gcsConfig(
    url(`gs://bkt?endpoint=http://127.0.0.1:${server.addr.port}`),
    {},
    fakeEnv({}),
  );
  const store = new GcsStore(cfg, {
    who: "test",
    anonymous: true,
    headers: () => Promise.resolve({}),
    secrets: () => [],
  }, {
    retry: FAST,
  });
  return { store, objects, seen, close: () => server.shutdown() };
}

Deno.test({
  name: "gcs create: a retried create that finds its own nonce won; a racer lost, " +
    "even one that wrote the same bytes",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const ours = new TextEncoder().encode("ours");
    const applied = fakeGcs({ upload: "applied" });
    try {
      assertEquals(await applied.store.create("k", ours), true);
      assertEquals([applied.seen.uploads, applied.seen.gets], [2, 1]);
    } finally {
      await applied.close();
    }
    for (const upload of ["racer", "same-bytes-racer"] as const) {
      const racer = fakeGcs({ upload });
      try {
        assertEquals(await racer.store.create("k", ours), false, upload);
        assertEquals(racer.objects.get("k"), upload === "racer" ? enc("theirs") : ours);
      } finally {
        await racer.close();
      }
    }
    const plain = fakeGcs({});
    try {
      assertEquals(await plain.store.create("k", ours), true);
      assertEquals(await plain.store.create("k", ours), false);
      assertEquals(plain.seen.gets, 0);
    } finally {
      await plain.close();
    }
  },
});

const enc = (s: string) => new TextEncoder().encode(s);

function pattern(size: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (i * 31 + (i >> 11)) & 0xff);
}

function streamOf(data: Uint8Array, piece: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= data.byteLength) return c.close();
      c.enqueue(data.slice(at, at + piece));
      at += piece;
    },
  });
}

Deno.test({
  name: "gcs resumable put: a failed chunk is resumed from what the session holds",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const data = pattern(2 * CHUNK_SIZE + 1000);
    for (const applied of [false, true]) {
      for (const n of [1, 3]) {
        const gcs = fakeGcs({ chunk: { n, applied } });
        try {
          await gcs.store.put("big", streamOf(data, 300_000));
          assertEquals(gcs.objects.get("big"), data, `chunk ${n} applied=${applied}`);
          assertEquals(gcs.seen.status, 1);
          assertEquals(gcs.seen.chunks, applied ? 3 : 4);
        } finally {
          await gcs.close();
        }
      }
    }
  },
});

async function closedPort(): Promise<number> {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return await Promise.resolve(port);
}

Deno.test("gcs: an unreachable endpoint is one clear line", async () => {
  const port = await closedPort();
  const cfg = gcsConfig(url(`gs://bkt?endpoint=http://127.0.0.1:${port}`), {}, fakeEnv({}));
  const store = new GcsStore(cfg, await loadAuth(cfg.credentials), { retry: FAST });
  for (
    const op of [
      () => store.get("x"),
      () => store.list(""),
      () => store.create("x", new Uint8Array()),
    ]
  ) {
    const err = await assertRejects(op, StoreError);
    assertEquals((err as StoreError).code, "unreachable");
    assertStringIncludes(err.message, `cannot reach http://127.0.0.1:${port}`);
    assertStringIncludes(err.message, "Connection refused");
    assert(!err.message.includes("\n"));
  }
});

const gcs = serverEnv("fake-gcs", ["TRUNKS_TEST_GCS_ENDPOINT", "TRUNKS_TEST_GCS_BUCKET"]);

Deno.test({
  name: "gcs (fake-gcs-server): a missing bucket says so; ranges past the end are empty",
  ignore: gcs === null,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const e = gcs!;
    const missingCfg = gcsConfig(
      url(`gs://no-such-bucket-${crypto.randomUUID().slice(0, 8)}/p`),
      { endpoint: e.TRUNKS_TEST_GCS_ENDPOINT },
      fakeEnv({}),
    );
    const missing = new GcsStore(missingCfg, await loadAuth(missingCfg.credentials), {
      retry: FAST,
    });
    for (
      const op of [
        () => missing.get("a"),
        () => missing.list(""),
        () => missing.put("a", new Uint8Array([1])),
        () => missing.create("a", new Uint8Array([1])),
        () => missing.delete("a"),
      ]
    ) {
      const err = await assertRejects(op, StoreError);
      assertEquals((err as StoreError).code, "not-found-root");
      assertStringIncludes(err.message, "does not exist");
      assertStringIncludes(err.message, "--bucket");
    }

    const cfg = gcsConfig(
      url(`gs://${e.TRUNKS_TEST_GCS_BUCKET}/unit-${crypto.randomUUID().slice(0, 8)}`),
      { endpoint: e.TRUNKS_TEST_GCS_ENDPOINT },
      fakeEnv({}),
    );
    const store = new GcsStore(cfg, await loadAuth(cfg.credentials), { retry: FAST });
    await store.put("r", new TextEncoder().encode("0123456789"));
    assertEquals(new TextDecoder().decode((await getBytes(store, "r", { offset: 7 }))!), "789");
    assertEquals((await getBytes(store, "r", { offset: 10 }))?.byteLength, 0);
    assertEquals((await getBytes(store, "r", { offset: 3, length: 0 }))?.byteLength, 0);
    assertEquals(await store.get("nothing", { offset: 0, length: 0 }), null);
  },
});

Deno.test("gcs: a ranged get takes only the range: a 200 is cut to it, a 206 for another is refused", async () => {
  // The rule is S3's too (range_answer.ts; tests/storage/s3_range_answers_test.ts).
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    (req) =>
      req.url.includes("whole")
        ? new Response("0123456789")
        : new Response("012", { status: 206, headers: { "content-range": "bytes 0-2/10" } }),
  );
  try {
    const cfg = gcsConfig(
      url(`gs://bkt?endpoint=http://127.0.0.1:${server.addr.port}`),
      {},
      fakeEnv({}),
    );
    const store = new GcsStore(cfg, await loadAuth(cfg.credentials), { retry: FAST });
    const got = await getBytes(store, "whole", { offset: 5, length: 3 });
    assertEquals(new TextDecoder().decode(got!), "567");
    const err = await assertRejects(() => store.get("other", { offset: 5, length: 3 }), StoreError);
    assertEquals((err as StoreError).code, "corrupt");
    assertStringIncludes(err.message, "gcs: other: asked for bytes 5-7");
  } finally {
    ac.abort();
    await server.finished;
  }
});
