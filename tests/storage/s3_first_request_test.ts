/**
 * The light S3 client's first listing in a process, made while fetch is cold: over a
 * connection of its own (http1.ts), with fetch's deadlines, retries, error shapes and
 * counting; fetch when that path fails where fetch may not, or a proxy variable is set.
 * Each case runs in a fresh process (fetch is cold only once); a request over http1.ts
 * shows on the server as `connection: close`, which fetch never sends.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import { serverEnv } from "../servers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const keys = { "access-key": "AKID", "secret-key": "FirstRequestSecret123" };

interface ChildOut {
  listed?: string[][];
  error?: { code: string; message: string };
  requests: Record<string, number>;
  /** Deno.connect and Deno.connectTls calls: fetch makes none. */
  connects: number;
}

/**
 * Opens `url` in a fresh process and runs `ops` (each `list <prefix>`, `pair <prefix>`: two
 * listings at once, or `put <key>`), stopping at the first error; `tuning` goes to
 * openS3With.
 */
async function child(
  url: string,
  ops: string[],
  opts: {
    settings?: Record<string, string>;
    tuning?: Record<string, number>;
    env?: Record<string, string>;
    flags?: string[];
  } = {},
): Promise<ChildOut> {
  const src = (p: string) =>
    JSON.stringify(new URL(`../../src/storage/${p}`, import.meta.url).href);
  const code = `
    const { openS3With } = await import(${src("open_s3.ts")});
    const { requestCounts } = await import(${src("metrics.ts")});
    let connects = 0;
    for (const name of ["connect", "connectTls"]) {
      const real = Deno[name];
      Deno[name] = (...a) => (connects++, real(...a));
    }
    const store = await openS3With(new URL(${JSON.stringify(url)}),
      ${JSON.stringify(opts.settings ?? keys)}, (n) => Deno.env.get(n),
      ${JSON.stringify({ maxAttempts: 3, ...opts.tuning })});
    const out = { listed: [] };
    try {
      for (const op of ${JSON.stringify(ops)}) {
        const [verb, arg] = op.split(" ");
        const list = async () => (await store.list(arg)).map((e) => e.key);
        if (verb === "list") out.listed.push(await list());
        else if (verb === "pair") out.listed.push(...await Promise.all([list(), list()]));
        else await store.put(arg, new TextEncoder().encode("x"));
      }
    } catch (e) {
      out.error = { code: e.code, message: e.message };
    }
    out.requests = requestCounts().requests;
    out.connects = connects;
    console.log(JSON.stringify(out));
    Deno.exit(0);`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", ...(opts.flags ?? []), code],
    env: { AWS_REGION: "us-east-1", ...opts.env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(out.success, dec.decode(out.stderr));
  return JSON.parse(dec.decode(out.stdout));
}

const page = (...names: string[]) =>
  `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>bk</Name>` +
  names.map((n) =>
    `<Contents><Key>base/t.trunk/${n}</Key><LastModified>2026-12-02T03:00:00.000Z` +
    `</LastModified><ETag>&#34;e&#34;</ETag><Size>1</Size></Contents>`
  ).join("") + `<IsTruncated>false</IsTruncated></ListBucketResult>`;

const xmlError = (code: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code} said</Message></Error>`;

/** A scripted S3 (Deno.serve); `answer` gets each request and the `connection` headers so far. */
async function withServer(
  answer: (req: Request, connections: (string | null)[]) => Response,
  fn: (url: string, connections: (string | null)[]) => Promise<void>,
  tls?: { cert: string; key: string },
) {
  const connections: (string | null)[] = [];
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {}, ...tls },
    (req) => {
      connections.push(req.headers.get("connection"));
      return answer(req, connections);
    },
  );
  try {
    const scheme = tls ? "https" : "http";
    await fn(
      `s3://bk/base/t.trunk?endpoint=${scheme}://127.0.0.1:${server.addr.port}`,
      connections,
    );
  } finally {
    ac.abort();
    await server.finished;
  }
}

/**
 * A TCP server: `script(n, head, conn)` answers the n-th connection (from 0); a connection
 * is closed when the script returns.
 */
async function withRawServer(
  script: (n: number, head: string, conn: Deno.Conn) => Promise<void>,
  fn: (url: string, heads: string[]) => Promise<void>,
) {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const heads: string[] = [];
  const conns: Deno.Conn[] = [];
  const served = (async () => {
    for await (const c of l) {
      conns.push(c);
      const n = conns.length - 1;
      (async () => {
        let head = "";
        const buf = new Uint8Array(8192);
        while (!head.includes("\r\n\r\n")) {
          const got = await c.read(buf);
          if (got === null) return;
          head += dec.decode(buf.subarray(0, got));
        }
        heads.push(head.toLowerCase());
        await script(n, head, c);
        c.close();
      })().catch(() => {});
    }
  })();
  try {
    await fn(`s3://bk/base/t.trunk?endpoint=http://127.0.0.1:${l.addr.port}`, heads);
  } finally {
    l.close();
    await served.catch(() => {});
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
  }
}

const ok = (body: string) =>
  `HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: ${
    enc.encode(body).byteLength
  }\r\nConnection: close\r\n\r\n${body}`;

Deno.test("first request: the first listing goes over its own connection, later requests through fetch", async () => {
  await withServer(
    (req) => new Response(req.method === "GET" ? page("refs/a/1") : null),
    async (url, connections) => {
      const out = await child(url, ["list refs/", "list refs/", "put refs/b/1"]);
      assertEquals(out.error, undefined);
      assertEquals(out.listed, [["refs/a/1"], ["refs/a/1"]]);
      assertEquals(connections, ["close", null, null]);
      assertEquals(out.connects, 1);
      assertEquals(out.requests, { "s3.ListObjectsV2": 2, "s3.PutObject": 1 });
    },
  );
});

Deno.test("first request: only the first, and only before fetch has run", async () => {
  // A second connection of its own would cost the next request a connection where fetch
  // keeps its own open; one made beside the first goes through fetch (a push lists the
  // storage map beside the refs).
  await withServer(
    (req) => new Response(req.method === "GET" ? page("refs/a/1") : null),
    async (url, connections) => {
      const pair = await child(url, ["pair refs/"]);
      assertEquals(pair.listed, [["refs/a/1"], ["refs/a/1"]]);
      assertEquals(connections.toSorted(), ["close", null]);
      assertEquals(pair.connects, 1);
      connections.length = 0;
      const putFirst = await child(url, ["put refs/b/1", "list refs/"]);
      assertEquals(putFirst.listed, [["refs/a/1"]]);
      assertEquals(connections, [null, null]);
      assertEquals(putFirst.connects, 0);
    },
  );
});

Deno.test("first request: a proxy variable set, in either case, sends it through fetch", async () => {
  // The proxy applies to other hosts only: fetch reaches this server directly.
  const envs: Record<string, string>[] = [
    { NO_PROXY: "127.0.0.1" },
    { http_proxy: "http://127.0.0.1:1", no_proxy: "127.0.0.1" },
  ];
  for (const env of envs) {
    await withServer(() => new Response(page("refs/a/1")), async (url, connections) => {
      const out = await child(url, ["list refs/"], { env });
      assertEquals(out.listed, [["refs/a/1"]], JSON.stringify([env, out.error]));
      assertEquals(connections, [null], JSON.stringify(env));
      assertEquals(out.connects, 0);
    });
  }
});

Deno.test("first request: error answers keep the SDK's shapes and retries (a Response built for them)", async () => {
  // 503 then a page: retried once (the retry through fetch, now warm).
  await withServer(
    (_req, seen) =>
      seen.length === 1
        ? new Response(xmlError("SlowDown"), { status: 503 })
        : new Response(page("refs/a/1")),
    async (url, connections) => {
      const out = await child(url, ["list refs/"]);
      assertEquals(out.listed, [["refs/a/1"]]);
      assertEquals(connections, ["close", null]);
      assertEquals(out.requests, { "s3.ListObjectsV2": 2 });
    },
  );
  await withServer(
    () => new Response(xmlError("NoSuchBucket"), { status: 404 }),
    async (url, connections) => {
      const out = await child(url, ["list refs/"]);
      assertEquals(out.error?.code, "not-found-root");
      assertStringIncludes(out.error!.message, "bucket 'bk' does not exist at http://127.0.0.1:");
      assertEquals(connections, ["close"]);
      assertEquals(out.requests, { "s3.ListObjectsV2": 1 });
    },
  );
});

Deno.test("first request: a server that closes early gets the request again from fetch, in the same attempt", async () => {
  for (const early of ["", "HTTP/1.1 200 OK\r\nContent-Length: 900\r\n\r\n<ListBucketResult>"]) {
    await withRawServer(async (n, _head, c) => {
      await c.write(enc.encode(n === 0 ? early : ok(page("refs/a/1"))));
    }, async (url, heads) => {
      const t0 = Date.now();
      const out = await child(url, ["list refs/"], { tuning: { maxAttempts: 1 } });
      assertEquals(out.listed, [["refs/a/1"]], JSON.stringify(early));
      assertEquals(heads.length, 2);
      assertStringIncludes(heads[0], "connection: close");
      assert(!heads[1].includes("connection: close"), heads[1]);
      // One attempt, counted once.
      assertEquals(out.requests, { "s3.ListObjectsV2": 1 });
      assert(Date.now() - t0 < 5_000);
    });
  }
});

Deno.test("first request: a server that stalls waits out fetch's deadlines, not twice per attempt", async () => {
  // Before the headers (requestTimeout), then mid-body (socketTimeout); the second
  // attempt goes through fetch.
  for (
    const [stall, says] of [
      ["", "no answer within 300 ms"],
      ["HTTP/1.1 200 OK\r\nContent-Length: 900\r\n\r\n<ListBucketResult>", "did not answer"],
    ]
  ) {
    await withRawServer(async (_n, _head, c) => {
      await c.write(enc.encode(stall));
      await new Promise((r) => setTimeout(r, 3_000));
    }, async (url, heads) => {
      const t0 = Date.now();
      const out = await child(url, ["list refs/"], {
        tuning: { maxAttempts: 2, requestTimeout: 300, socketTimeout: 300 },
      });
      const took = Date.now() - t0;
      assertEquals(out.error?.code, "unreachable", JSON.stringify(out));
      assertStringIncludes(out.error!.message, "did not answer in time");
      assertStringIncludes(out.error!.message, "after 2 attempt(s)");
      assertEquals(heads.length, 2, "no fallback within an attempt that timed out");
      assertStringIncludes(heads[0], "connection: close");
      assertEquals(out.requests, { "s3.ListObjectsV2": 2 });
      assert(took < 2_900, `${says}: took ${took} ms`);
    });
  }
});

Deno.test("first request: https trusts the CA fetch would take from DENO_CERT, and no other", async () => {
  const d = await Deno.makeTempDir({ prefix: "first-request-tls-" });
  const openssl = async (args: string[]) => {
    const out = await new Deno.Command("openssl", { args, cwd: d, stdout: "null", stderr: "piped" })
      .output();
    assert(out.success, dec.decode(out.stderr));
  };
  await openssl([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=first CA",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
  ]); // deno-fmt-ignore
  await openssl([
    "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
    "-keyout", "server.key", "-out", "server.csr",
  ]); // deno-fmt-ignore
  await Deno.writeTextFile(`${d}/san.ext`, "subjectAltName=IP:127.0.0.1\n");
  await openssl([
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "1",
    "-extfile",
    "san.ext",
    "-out",
    "server.crt",
  ]); // deno-fmt-ignore
  const tls = {
    cert: await Deno.readTextFile(`${d}/server.crt`),
    key: await Deno.readTextFile(`${d}/server.key`),
  };
  try {
    await withServer(() => new Response(page("refs/a/1")), async (url, connections) => {
      const trusted = await child(url, ["list refs/"], { env: { DENO_CERT: `${d}/ca.crt` } });
      assertEquals(trusted.listed, [["refs/a/1"]]);
      assertEquals(connections, ["close"]);
      assertEquals(trusted.connects, 1);
      const untrusted = await child(url, ["list refs/"], { tuning: { maxAttempts: 1 } });
      assertEquals(untrusted.error?.code, "unreachable", JSON.stringify(untrusted));
      assertStringIncludes(untrusted.error!.message, "UNABLE_TO_VERIFY_LEAF_SIGNATURE");
      assertEquals(connections.length, 1, "nothing reached the server without the CA");
    }, tls);
  } finally {
    await Deno.remove(d, { recursive: true });
  }
});

const minio = serverEnv("minio", [
  "TRUNKS_TEST_MINIO_ENDPOINT",
  "TRUNKS_TEST_MINIO_ACCESS_KEY",
  "TRUNKS_TEST_MINIO_SECRET_KEY",
  "TRUNKS_TEST_MINIO_BUCKET",
]);

Deno.test({
  name: "first request: MinIO lists the same over its own connection as through fetch",
  ignore: !minio,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const m = minio!;
    const settings = {
      "access-key": m.TRUNKS_TEST_MINIO_ACCESS_KEY,
      "secret-key": m.TRUNKS_TEST_MINIO_SECRET_KEY,
    };
    const url = (bucket: string) =>
      `s3://${bucket}/first-${crypto.randomUUID()}/t.trunk?endpoint=${m.TRUNKS_TEST_MINIO_ENDPOINT}`;
    const at = url(m.TRUNKS_TEST_MINIO_BUCKET);
    const s = await openStore(at, settings);
    // Enough keys that the page comes in several reads.
    const refs = Array.from(
      { length: 120 },
      (_, i) => `refs/heads/a=b~c-${1000 + i}/${"x".repeat(60)}`,
    );
    const names = [...refs, "segments/s.pack"];
    try {
      for (let i = 0; i < names.length; i += 20) {
        await Promise.all(names.slice(i, i + 20).map((n) => s.put(n, enc.encode(n))));
      }
      const direct = await child(at, ["list refs/", "list "], { settings });
      const viaFetch = await child(at, ["list refs/", "list "], {
        settings,
        env: { NO_PROXY: "*" },
      });
      assertEquals(direct.error, undefined);
      assertEquals(direct.listed, [refs, names]);
      assertEquals(viaFetch.listed, direct.listed);
      assertEquals([direct.connects, viaFetch.connects], [1, 0]);
      const missing = await child(url("no-such-bucket-trunks"), ["list refs/"], { settings });
      assertEquals(missing.error?.code, "not-found-root");
      assertStringIncludes(missing.error!.message, "bucket 'no-such-bucket-trunks' does not exist");
      assertEquals(missing.connects, 1);
    } finally {
      await Promise.all(names.map((n) => s.delete(n)));
      await s.close();
    }
  },
});
