/**
 * The light S3 client (s3_light.ts): when it is used instead of the SDK, and how it
 * behaves against a scripted S3 on loopback (answers MinIO and AWS give, a response lost
 * after the write landed). Its behaviour against real MinIO and s3rver is the contract
 * suite's and s3_servers_test.ts's: it is the default path there.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../assert.ts";
import { openS3With } from "../../src/storage/open_s3.ts";
import { parseStoreUrl } from "../../src/storage/registry.ts";
import { resolveS3Config } from "../../src/storage/s3_config.ts";
import { lightEndpoint, proxyFor } from "../../src/storage/s3_light.ts";
import { getBytes, type Store, StoreError } from "../../src/storage/store.ts";
import { requestCounts, resetRequestCounts } from "../../src/storage/metrics.ts";

const enc = new TextEncoder();
const keys = { "access-key": "AKID", "secret-key": "LightSecretValue123" };

function endpointFor(url: string, settings: Record<string, string>, env: Record<string, string>) {
  const e = (n: string) => env[n];
  return lightEndpoint(resolveS3Config(parseStoreUrl(url), settings, e), e)?.toString() ?? null;
}

Deno.test("light client: used for static credentials with a known endpoint or region", () => {
  assertEquals(
    endpointFor("s3://bk/t.trunk?endpoint=http://127.0.0.1:9000", keys, {}),
    "http://127.0.0.1:9000/",
  );
  assertEquals(
    endpointFor("s3://my-bucket/t.trunk", {}, {
      AWS_ACCESS_KEY_ID: "a",
      AWS_SECRET_ACCESS_KEY: "s",
      AWS_SESSION_TOKEN: "t",
      AWS_REGION: "eu-west-1",
    }),
    "https://s3.eu-west-1.amazonaws.com/",
  );
  assertEquals(
    endpointFor("r2://bk/t.trunk", keys, { R2_ACCOUNT_ID: "acc" }),
    "https://acc.r2.cloudflarestorage.com/",
  );
});

Deno.test("light client: the SDK keeps what the light client does not do", () => {
  const aws = { AWS_ACCESS_KEY_ID: "a", AWS_SECRET_ACCESS_KEY: "s", AWS_REGION: "eu-west-1" };
  // The default credential chain (profiles, SSO, instance roles).
  assertEquals(endpointFor("s3://bk/t.trunk", {}, { AWS_REGION: "eu-west-1" }), null);
  // No region: the SDK's chain finds it.
  assertEquals(endpointFor("s3://bk/t.trunk", keys, {}), null);
  assertEquals(endpointFor("s3://bk/t.trunk", {}, { ...aws, AWS_USE_FIPS_ENDPOINT: "true" }), null);
  assertEquals(
    endpointFor("s3://bk/t.trunk", {}, { ...aws, AWS_USE_DUALSTACK_ENDPOINT: "1" }),
    null,
  );
  assertEquals(endpointFor("s3://bk/t.trunk", {}, { ...aws, AWS_REGION: "cn-north-1" }), null);
  // Virtual-hosted addressing needs a bucket that is a host name.
  assertEquals(endpointFor("s3://my.dotted.bucket/t.trunk", {}, aws), null);
  assertEquals(
    endpointFor("s3://bk/t.trunk?endpoint=http://127.0.0.1:9000", keys, {
      TRUNKS_S3_CLIENT: "sdk",
    }),
    null,
  );
});

interface Seen {
  method: string;
  path: string;
  search: string;
  headers: Headers;
}

/** A scripted S3 on loopback: `answer` gets each request (path-style) and what came before. */
async function withFakeS3(
  answer: (req: Request, body: Uint8Array, seen: Seen[]) => Response | Promise<Response>,
  fn: (
    open: (settings?: Record<string, string>) => Promise<Store>,
    seen: Seen[],
    port: number,
  ) => Promise<void>,
) {
  const seen: Seen[] = [];
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    async (req) => {
      const u = new URL(req.url);
      const body = new Uint8Array(await req.arrayBuffer());
      seen.push({ method: req.method, path: u.pathname, search: u.search, headers: req.headers });
      return await answer(req, body, seen);
    },
  );
  const url = `s3://bk/base/t.trunk?endpoint=http://127.0.0.1:${server.addr.port}`;
  const stores: Store[] = [];
  try {
    await fn(
      async (settings = keys) => {
        const s = await openS3With(parseStoreUrl(url), settings, () => undefined, {
          maxAttempts: 3,
          conflictDelayMs: 1,
        });
        stores.push(s);
        return s;
      },
      seen,
      server.addr.port,
    );
  } finally {
    for (const s of stores) await s.close();
    ac.abort();
    await server.finished;
  }
}

const xmlError = (status: number, code: string, message: string) =>
  new Response(
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><Resource>/bk</Resource></Error>`,
    { status, headers: { "content-type": "application/xml" } },
  );

Deno.test("light client: list pages and decodes XML; gets, puts and deletes are signed fetches", async () => {
  const objects = new Map<string, Uint8Array<ArrayBuffer>>();
  await withFakeS3((req, body) => {
    const u = new URL(req.url);
    if (req.method === "GET" && u.pathname === "/bk") {
      const token = u.searchParams.get("continuation-token");
      const entry = (k: string, size: number) =>
        `<Contents><Key>${k}</Key><LastModified>2026-12-02T03:00:00.000Z</LastModified>` +
        `<ETag>&#34;e-${size}&#34;</ETag><Size>${size}</Size><StorageClass>STANDARD</StorageClass></Contents>`;
      return new Response(
        `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>bk</Name>` +
          (token
            ? `${entry("base/t.trunk/refs/b&amp;c/1", 3)}<IsTruncated>false</IsTruncated>`
            : `${entry("base/t.trunk/refs/a/1", 2)}<IsTruncated>true</IsTruncated>` +
              `<NextContinuationToken>tok+/=</NextContinuationToken>`) +
          `</ListBucketResult>`,
      );
    }
    const key = decodeURIComponent(u.pathname);
    if (req.method === "PUT") {
      objects.set(key, body as Uint8Array<ArrayBuffer>);
      return new Response(null, { headers: { etag: '"x"' } });
    }
    if (req.method === "DELETE") {
      objects.delete(key);
      return new Response(null, { status: 204 });
    }
    const data = objects.get(key);
    if (!data) return xmlError(404, "NoSuchKey", "The specified key does not exist.");
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.get("range") ?? "");
    if (range) {
      const end = Math.min(range[2] ? Number(range[2]) + 1 : data.byteLength, data.byteLength);
      return new Response(data.slice(Number(range[1]), end), {
        status: 206,
        headers: { "content-range": `bytes ${range[1]}-${end - 1}/${data.byteLength}` },
      });
    }
    return new Response(data);
  }, async (open, seen) => {
    const s = await open({ ...keys, "session-token": "SessionTokenValue" });
    resetRequestCounts();
    const listed = await s.list("refs/");
    assertEquals(listed.map((e) => [e.key, e.size, e.etag]), [
      ["refs/a/1", 2, '"e-2"'],
      ["refs/b&c/1", 3, '"e-3"'],
    ]);
    assertEquals(listed[0].modified.toISOString(), "2026-12-02T03:00:00.000Z");
    assertEquals(
      new URL(`http://x${seen[1].path}${seen[1].search}`).searchParams.get("continuation-token"),
      "tok+/=",
    );
    await s.put("segments/x=y.pack", enc.encode("hello"));
    assertEquals(seen.at(-1)!.path, "/bk/base/t.trunk/segments/x%3Dy.pack");
    assertEquals(
      new TextDecoder().decode((await getBytes(s, "segments/x=y.pack", { offset: 1, length: 3 }))!),
      "ell",
    );
    assertEquals(seen.at(-1)!.headers.get("range"), "bytes=1-3");
    assertEquals(await s.get("segments/none"), null);
    await s.delete("segments/x=y.pack");
    for (const r of seen) {
      assert(
        !/aws-sdk/i.test(r.headers.get("user-agent") ?? ""),
        "no request went through the SDK",
      );
      assertStringIncludes(
        r.headers.get("authorization") ?? "",
        "AWS4-HMAC-SHA256 Credential=AKID/",
      );
      assertEquals(r.headers.get("x-amz-security-token"), "SessionTokenValue");
    }
    assertEquals(requestCounts().requests, {
      "s3.ListObjectsV2": 2,
      "s3.PutObject": 1,
      "s3.GetObject": 2,
      "s3.DeleteObject": 1,
    });
    assertEquals(requestCounts().bytesUp, 5);
  });
});

Deno.test("light client: a listing cut short or malformed fails naming it, never lists less", async () => {
  const entry = (k: string) =>
    `<Contents><Key>base/t.trunk/refs/${k}</Key><LastModified>2026-12-02T03:00:00.000Z` +
    `</LastModified><Size>3</Size></Contents>`;
  const whole = `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>bk</Name>` +
    `<IsTruncated>false</IsTruncated>${entry("a/1")}${entry("b/1")}</ListBucketResult>`;
  for (
    const body of [
      whole.slice(0, whole.indexOf("b/1")),
      whole.replace("<Size>3</Size></Contents></List", "<Size>x</Size></Contents></List"),
      "<html>gateway</html>",
    ]
  ) {
    await withFakeS3(() => new Response(body), async (open) => {
      const s = await open();
      const e = await assertRejects(() => s.list("refs/"));
      assert(e instanceof StoreError, String(e));
      assertStringIncludes(e.message, "malformed ListObjectsV2 answer");
    });
  }
});

Deno.test("S3 store: a key listed without its size or time, or a truncated page without a token, fails the listing", async () => {
  // The fetch plan and the collector judge keys by listed size and time: a key without a
  // time used to read as stored at the epoch (the oldest there is), a page that said more
  // follow without a token ended the listing early.
  const entry = (k: string, fields: string) =>
    `<Contents><Key>base/t.trunk/refs/${k}</Key>${fields}</Contents>`;
  const time = "<LastModified>2026-12-02T03:00:00.000Z</LastModified>";
  const page = (truncated: string, entries: string) =>
    `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>bk</Name>${truncated}${entries}</ListBucketResult>`;
  const cases: [string, string][] = [
    [
      page("<IsTruncated>false</IsTruncated>", entry("a/1", "<Size>3</Size>")),
      "without its size or time",
    ],
    [page("<IsTruncated>false</IsTruncated>", entry("a/1", time)), "without its size or time"],
    [
      page("<IsTruncated>true</IsTruncated>", entry("a/1", `${time}<Size>3</Size>`)),
      "truncated page without a continuation token",
    ],
  ];
  for (const [body, says] of cases) {
    await withFakeS3(() => new Response(body), async (open) => {
      const s = await open();
      const e = await assertRejects(() => s.list("refs/"), StoreError);
      assertEquals((e as StoreError).code, "corrupt");
      assertStringIncludes(e.message, says);
      assert(!e.message.includes("\n"), e.message);
    });
  }
});

Deno.test("light client: a create whose response was lost is retried and still reports the win", async () => {
  let stored: { body: Uint8Array; nonce: string } | null = null;
  let puts = 0;
  await withFakeS3((req, body) => {
    if (req.method === "PUT") {
      puts++;
      assertEquals(req.headers.get("if-none-match"), "*");
      if (stored) return xmlError(412, "PreconditionFailed", "At least one precondition failed");
      stored = { body, nonce: req.headers.get("x-amz-meta-trunks-create")! };
      // The write landed; the answer is an error worth another try.
      return xmlError(503, "SlowDown", "Please reduce your request rate.");
    }
    if (req.method === "HEAD") {
      return new Response(null, {
        headers: {
          "content-length": String(stored!.body.byteLength),
          "x-amz-meta-trunks-create": stored!.nonce,
        },
      });
    }
    return new Response("unexpected", { status: 500 });
  }, async (open, seen) => {
    const s = await open();
    assertEquals(await s.create("refs/main/1", enc.encode("mine")), true);
    assertEquals(puts, 2, "the PUT was tried again");
    assertEquals(seen.map((r) => r.method), ["PUT", "PUT", "HEAD"]);
    // A genuine second writer loses, on its first try, without asking.
    assertEquals(await s.create("refs/main/1", enc.encode("other")), false);
    assertEquals(seen.length, 4);
  });
});

Deno.test("light client: S3's errors keep their codes and one-line messages without secrets", async () => {
  await withFakeS3((req) => {
    const u = new URL(req.url);
    if (u.pathname.startsWith("/bk/base/t.trunk/denied")) {
      return xmlError(403, "SignatureDoesNotMatch", `signature mismatch for ${keys["secret-key"]}`);
    }
    if (req.method === "HEAD") return new Response(null, { status: 403 });
    return xmlError(404, "NoSuchBucket", "The specified bucket does not exist");
  }, async (open) => {
    const s = await open();
    const missing = await assertRejects(() => s.list(""), StoreError);
    assertEquals((missing as StoreError).code, "not-found-root");
    assertStringIncludes(missing.message, "bucket 'bk' does not exist at http://127.0.0.1:");
    const denied = await assertRejects(() => s.put("denied/x", enc.encode("x")), StoreError);
    assertEquals((denied as StoreError).code, "access-denied");
    assertStringIncludes(denied.message, "the secret key does not match the access key");
    for (const e of [missing, denied]) {
      assert(!e.message.includes("\n") && !e.message.includes(keys["secret-key"]), e.message);
    }
    const head = await assertRejects(() => s.get("x", { offset: 0, length: 0 }), StoreError);
    assertEquals((head as StoreError).code, "access-denied");
  });
});

Deno.test("light client: multipart uploads go to the SDK, loaded only then", async () => {
  const seen: string[] = [];
  await withFakeS3((req) => {
    seen.push(`${req.method} ${req.headers.get("user-agent")}`);
    const u = new URL(req.url);
    if (req.method === "POST" && u.searchParams.has("uploads")) {
      return new Response(
        `<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult><Bucket>bk</Bucket><Key>k</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>`,
      );
    }
    if (req.method === "PUT") return new Response(null, { headers: { etag: '"p"' } });
    if (req.method === "POST") {
      return new Response(
        `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult><Bucket>bk</Bucket><Key>k</Key><ETag>"z"</ETag></CompleteMultipartUploadResult>`,
      );
    }
    return new Response(null, { status: 204 });
  }, async (open) => {
    const s = await open();
    resetRequestCounts();
    await s.put("segments/big.pack", new Uint8Array(9 * 1024 * 1024));
    assertEquals(requestCounts().requests, {
      "s3.CreateMultipartUpload": 1,
      "s3.UploadPart": 2,
      "s3.CompleteMultipartUpload": 1,
    });
    assert(seen.every((l) => /aws-sdk/i.test(l)), seen.join("; "));
  });
});

/**
 * A raw-TCP S3 on loopback whose answers are scripted bytes: `answer` gets the request's
 * first line and returns what to write; the connection then stays open, silent (a body
 * that stalls after its headers), until the test ends.
 */
async function withRawS3(
  answer: (line: string) => string,
  fn: (open: (tuning: Record<string, number>) => Promise<Store>) => Promise<void>,
) {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const served = (async () => {
    for await (const c of l) {
      conns.push(c);
      const buf = new Uint8Array(65536);
      const n = await c.read(buf).catch(() => null);
      if (!n) continue;
      const line = new TextDecoder().decode(buf.subarray(0, n)).split("\r\n")[0];
      await c.write(enc.encode(answer(line))).catch(() => {});
    }
  })();
  const url = `s3://bk/base/t.trunk?endpoint=http://127.0.0.1:${l.addr.port}`;
  const stores: Store[] = [];
  try {
    await fn(async (tuning) => {
      const s = await openS3With(parseStoreUrl(url), keys, () => undefined, tuning);
      stores.push(s);
      return s;
    });
  } finally {
    for (const s of stores) await s.close();
    l.close();
    await served.catch(() => {});
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed by the client */ }
    }
  }
}

const stalled = (status: string, body: string) =>
  `HTTP/1.1 ${status}\r\nContent-Type: application/xml\r\nContent-Length: 5000\r\n\r\n${body}`;

Deno.test("light client: a listing whose body stalls after the headers times out, is retried, then fails", async () => {
  let tries = 0;
  await withRawS3((line) => {
    tries++;
    assertStringIncludes(line, "list-type=2");
    return stalled("200 OK", "<ListBucketResult><IsTruncated>false</IsTruncated><Contents>");
  }, async (open) => {
    const s = await open({ maxAttempts: 2, requestTimeout: 5_000, socketTimeout: 150 });
    const t0 = Date.now();
    const e = await assertRejects(() => s.list(""), StoreError);
    assertEquals((e as StoreError).code, "unreachable");
    assertStringIncludes(e.message, "did not answer in time (ListObjectsV2");
    assertStringIncludes(e.message, "after 2 attempt(s)");
    assertEquals(tries, 2);
    assert(Date.now() - t0 < 4_000, `gave up after ${Date.now() - t0} ms`);
  });
});

Deno.test("light client: an error answer whose body stalls (503, 403) times out instead of hanging", async () => {
  for (const status of ["503 Slow Down", "403 Forbidden"]) {
    let tries = 0;
    await withRawS3(() => {
      tries++;
      return stalled(status, "<Error><Code>");
    }, async (open) => {
      const s = await open({ maxAttempts: 3, requestTimeout: 5_000, socketTimeout: 150 });
      const e = await assertRejects(() => s.put("refs/x", enc.encode("x")), StoreError);
      assertEquals((e as StoreError).code, "unreachable", e.message);
      assertStringIncludes(e.message, "did not answer in time");
      assertStringIncludes(e.message, "after 3 attempt(s)");
      assertEquals(tries, 3, status);
    });
  }
});

Deno.test("light client: a Retry-After given as an HTTP date is honoured", async () => {
  const at: number[] = [];
  await withFakeS3(() => {
    at.push(Date.now());
    if (at.length > 1) return new Response(null, { headers: { etag: '"x"' } });
    // HTTP dates have whole seconds: two seconds on is at least one second away.
    const when = new Date(Date.now() + 2_000).toUTCString();
    return new Response("<Error><Code>SlowDown</Code></Error>", {
      status: 503,
      headers: { "retry-after": when },
    });
  }, async (open) => {
    const s = await open();
    await s.put("refs/x", enc.encode("x"));
    assertEquals(at.length, 2);
    assert(at[1] - at[0] >= 900, `retried after ${at[1] - at[0]} ms`);
  });
});

Deno.test("light client: the proxy fetch takes from the environment is named, without its credentials", async () => {
  const target = new URL("https://bk.s3.eu-west-1.amazonaws.com/");
  const env = (vars: Record<string, string>) => (n: string) => vars[n];
  assertEquals(proxyFor(target, env({})), undefined);
  assertEquals(proxyFor(target, env({ HTTP_PROXY: "http://p:1" })), undefined);
  assertEquals(
    proxyFor(target, env({ https_proxy: "http://user:pw@proxy.example:3128" })),
    "http://proxy.example:3128 from https_proxy",
  );
  assertEquals(proxyFor(target, env({ ALL_PROXY: "p:8" })), "http://p:8 from ALL_PROXY");
  for (const no of ["*", "amazonaws.com", ".amazonaws.com", "x, bk.s3.eu-west-1.amazonaws.com"]) {
    assertEquals(proxyFor(target, env({ HTTPS_PROXY: "http://p:1", NO_PROXY: no })), undefined, no);
  }

  // A live endpoint, a dead proxy: fetch really goes through the proxy, and the error says so.
  const dead = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = dead.addr.port;
  dead.close();
  await withFakeS3(
    () => new Response("<ListBucketResult></ListBucketResult>"),
    async (_open, seen, port) => {
      const script = `
      import { openS3With } from ${
        JSON.stringify(new URL("../../src/storage/open_s3.ts", import.meta.url).href)
      };
      const s = await openS3With(new URL("s3://bk/t?endpoint=http://127.0.0.1:${port}"),
        { "access-key": "AKID", "secret-key": "SecretValue123" }, (n) => Deno.env.get(n),
        { maxAttempts: 1 });
      try { await s.list(""); console.log("listed"); } catch (e) { console.log(e.message); }
      await s.close();`;
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["eval", "--config", new URL("../../deno.json", import.meta.url).pathname, script],
        env: { HTTP_PROXY: `http://someone:ProxyPass@127.0.0.1:${deadPort}`, NO_PROXY: "" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout).trim();
      assertStringIncludes(
        text,
        `cannot reach http://127.0.0.1:${port} via proxy http://127.0.0.1:${deadPort} from HTTP_PROXY (ECONNREFUSED)`,
      );
      assert(!text.includes("ProxyPass") && !text.includes("someone"), text);
      assertEquals(seen.length, 0, "nothing reached the endpoint: fetch used the proxy");
    },
  );
});

Deno.test("light client: a LIST behind the store deadline calls no setTimeout, makes no JS stream", async () => {
  // Deno 2.9's setTimeout loads its node timers layer on first use (~5-40 ms): an
  // up-to-date fetch's LIST must not wait for it (src/storage/timer.ts).
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    () =>
      new Response(
        `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>bk</Name>` +
          `<Contents><Key>base/t.trunk/refs/a/1</Key><LastModified>2026-12-02T03:00:00.000Z` +
          `</LastModified><ETag>&#34;e&#34;</ETag><Size>2</Size></Contents>` +
          `<IsTruncated>false</IsTruncated></ListBucketResult>`,
      ),
  );
  const src = (p: string) =>
    JSON.stringify(new URL(`../../src/storage/${p}`, import.meta.url).href);
  const code = `
    const calls = [];
    const real = globalThis.setTimeout;
    globalThis.setTimeout = (...a) => (calls.push(new Error().stack), real(...a));
    // Nor does it read its page through a JS stream: web streams' first use in a process
    // costs 5-10 ms (Deno 2.9), after the answer came (fetch's own reader does not).
    const RealStream = globalThis.ReadableStream;
    globalThis.ReadableStream = class extends RealStream {
      constructor(...a) { calls.push("new ReadableStream " + new Error().stack); super(...a); }
    };
    const { openStore } = await import(${src("registry.ts")});
    const { withDeadline } = await import(${src("deadline.ts")});
    const { CountingStore } = await import(${src("counting.ts")});
    const store = new CountingStore(withDeadline(await openStore(
      "s3://bk/base/t.trunk?endpoint=http://127.0.0.1:${server.addr.port}",
      { "access-key": "AKIDEXAMPLE", "secret-key": "not-a-real-secret" },
    )));
    const listed = await store.list("refs/");
    console.log(JSON.stringify({ keys: listed.map((e) => e.key), calls }));`;
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", code],
      env: { AWS_REGION: "us-east-1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert(out.success, new TextDecoder().decode(out.stderr));
    assertEquals(JSON.parse(text), { keys: ["refs/a/1"], calls: [] });
  } finally {
    ac.abort();
    await server.finished;
  }
});

Deno.test("light client: a LIST leaves in the turn it is made (signing waits on nothing)", async () => {
  // An up-to-date fetch loads the trunk's code while its LIST is out: a signature computed
  // in WebCrypto's eleven turns let that load run before the request was even made. The
  // process's first LIST goes over a connection of its own (http1.ts); with a proxy
  // variable set, through fetch.
  const src = (p: string) =>
    JSON.stringify(new URL(`../../src/storage/${p}`, import.meta.url).href);
  const code = `
    const { openStore } = await import(${src("registry.ts")});
    const { withDeadline } = await import(${src("deadline.ts")});
    const { CountingStore } = await import(${src("counting.ts")});
    const store = new CountingStore(withDeadline(await openStore(
      "s3://bk/base/t.trunk?endpoint=http://127.0.0.1:9",
      { "access-key": "AKIDEXAMPLE", "secret-key": "not-a-real-secret" },
    )));
    const made = [];
    globalThis.fetch = (url, init) => {
      made.push(["fetch", String(url), init?.headers.authorization.split(",")[0]]);
      return new Promise(() => {});
    };
    Deno.connect = (o) => {
      made.push(["connect", o.hostname + ":" + o.port]);
      return Promise.resolve({
        write: (b) => {
          const head = new TextDecoder().decode(b).split("\\r\\n");
          const auth = head.find((l) => l.startsWith("authorization: "));
          made.push(["written", head[0], auth.slice(15).split(",")[0]]);
          return Promise.resolve(b.byteLength);
        },
        read: () => new Promise(() => {}),
        close() {},
      });
    };
    store.list("refs/").catch(() => {});
    // Microtasks only: no turn of the event loop.
    for (let i = 0; i < 200; i++) await null;
    console.log(JSON.stringify(made));
    Deno.exit(0);`;
  const made = async (env: Record<string, string>) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", code],
      env: { AWS_REGION: "us-east-1", ...env },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(out.success, new TextDecoder().decode(out.stderr));
    return JSON.parse(new TextDecoder().decode(out.stdout)) as string[][];
  };
  const signed = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/";
  const direct = await made({});
  // Then fetch's code runs while the answer is out, on nothing from the network.
  assertEquals(direct.map((m) => m[0]), ["connect", "written", "fetch"], JSON.stringify(direct));
  assertEquals(direct[2][1], "data:,");
  assertEquals(direct[0][1], "127.0.0.1:9");
  assertStringIncludes(direct[1][1], "GET /bk?list-type=2&prefix=base%2Ft.trunk%2Frefs%2F ");
  assertStringIncludes(direct[1][2], signed);
  const proxied = await made({ https_proxy: "http://127.0.0.1:1" });
  assertEquals(proxied.map((m) => m[0]), ["fetch"], JSON.stringify(proxied));
  assertStringIncludes(proxied[0][1], "list-type=2");
  assertStringIncludes(proxied[0][2], signed);
});
