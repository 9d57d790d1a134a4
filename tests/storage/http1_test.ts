/**
 * http1.ts, the raw HTTP/1.1 GETs a process's listings take: answers framed each way a
 * server may frame them, servers that stall or close early, a connection kept open only
 * when it may be, and TLS trusting what fetch trusts.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../assert.ts";
import { makeCerts } from "./test_certs.ts";
import { withTcpServer } from "./s3_scripted.ts";
import { Http1Client, Http1Error } from "../../src/storage/http1.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Clients made by a test, closed by its server's helper. */
const clients: Http1Client[] = [];

function client(): Http1Client {
  const c = new Http1Client();
  clients.push(c);
  return c;
}

function closeClients() {
  for (const c of clients.splice(0)) c.close();
}

/** A GET on a client of its own. */
function get(url: string, signal = new AbortController().signal, maxBytes = 1 << 20) {
  return client().get({
    url: new URL(url),
    headers: { "x-amz-date": "20261203T000000Z" },
    signal,
    maxBytes,
  });
}

/** Deno.serve on loopback; `fn` gets its origin. */
async function withServer(
  handler: (req: Request) => Response | Promise<Response>,
  fn: (origin: string) => Promise<void>,
) {
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    handler,
  );
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    closeClients();
    ac.abort();
    await server.finished;
  }
}

/**
 * A TCP server on loopback (s3_scripted.ts): `script` answers each request head; the
 * connection stays open until the script or the client closes it. `fn` gets its origin.
 */
async function withRawServer(
  script: (head: string, conn: Deno.Conn) => Promise<void>,
  fn: (origin: string) => Promise<void>,
) {
  await withTcpServer(async (_n, head, c) => {
    await script(head, c);
    return "keep";
  }, async (origin) => {
    try {
      await fn(origin);
    } finally {
      closeClients();
    }
  });
}

Deno.test("http1: a GET with the given headers; a Content-Length answer read whole", async () => {
  let seen: Headers | undefined;
  await withServer((req) => {
    seen = req.headers;
    return new Response(`<ListBucketResult>${new URL(req.url).search}</ListBucketResult>`, {
      status: 200,
      headers: { "x-amz-request-id": "r1" },
    });
  }, async (origin) => {
    let sent = false;
    const a = await client().get({
      url: new URL(`${origin}/bk?list-type=2&prefix=a%2Fb`),
      headers: { authorization: "AWS4-HMAC-SHA256 x", "x-amz-date": "d" },
      signal: new AbortController().signal,
      maxBytes: 1 << 20,
      sent: () => sent = true,
    });
    assert(sent);
    assertEquals(a.status, 200);
    assert(a.headers.some(([k, v]) => k === "content-length" && v === "62"), String(a.headers));
    assert(a.headers.some(([k, v]) => k === "x-amz-request-id" && v === "r1"));
    assertEquals(
      dec.decode(await a.body()),
      "<ListBucketResult>?list-type=2&prefix=a%2Fb</ListBucketResult>",
    );
    assertEquals(seen!.get("authorization"), "AWS4-HMAC-SHA256 x");
    assertEquals(seen!.get("host"), new URL(origin).host);
    assertEquals(seen!.get("connection"), null, "HTTP/1.1's default: kept open");
    assertEquals(seen!.get("accept-encoding"), null, "nothing it could not decode");
  });
});

Deno.test("http1: a chunked answer, and an error status, are read whole", async () => {
  const parts = ["<Error><Code>", "SlowDown", "</Code></Error>"];
  await withServer(() => {
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        const p = parts.shift();
        if (p === undefined) return c.close();
        await new Promise((r) => setTimeout(r, 5));
        c.enqueue(enc.encode(p));
      },
    });
    return new Response(body, { status: 503 });
  }, async (origin) => {
    const a = await get(`${origin}/`);
    assertEquals(a.status, 503);
    assert(a.headers.some(([k, v]) => k === "transfer-encoding" && v === "chunked"));
    assertEquals(dec.decode(await a.body()), "<Error><Code>SlowDown</Code></Error>");
  });
  // Chunk extensions and trailers, as a server may send them.
  await withRawServer(async (_head, c) => {
    await c.write(enc.encode(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
        "4;ext=1\r\nabcd\r\n3\r\nefg\r\n0\r\nx-trailer: t\r\n\r\n",
    ));
  }, async (origin) => {
    assertEquals(dec.decode(await (await get(origin)).body()), "abcdefg");
  });
});

Deno.test("http1: an answer with neither length nor chunks ends with the connection", async () => {
  await withRawServer(async (_head, c) => {
    await c.write(enc.encode("HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n\r\n<a>"));
    await new Promise((r) => setTimeout(r, 20));
    await c.write(enc.encode("more</a>"));
    c.close();
  }, async (origin) => {
    assertEquals(dec.decode(await (await get(origin)).body()), "<a>more</a>");
  });
});

Deno.test("http1: a server that stalls fails with the signal's reason", async () => {
  // Before the head, then within the body.
  for (
    const answer of ["", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345"]
  ) {
    await withRawServer(async (_head, c) => {
      if (answer) await c.write(enc.encode(answer));
    }, async (origin) => {
      const ac = new AbortController();
      const timer = setTimeout(
        () => ac.abort(new DOMException("no answer within 100 ms", "TimeoutError")),
        100,
      );
      const t0 = Date.now();
      const e = await assertRejects(async () => await (await get(origin, ac.signal)).body());
      clearTimeout(timer);
      assert(e instanceof DOMException && e.name === "TimeoutError", String(e));
      assert(Date.now() - t0 < 2_000);
    });
  }
});

Deno.test("http1: a server that closes early, or answers what this path does not read, fails as Http1Error", async () => {
  const cases: [string, string][] = [
    ["", "closed"],
    ["HTTP/1.1 200 OK\r\nContent-Len", "closed"],
    ["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345", "closed mid-body"],
    ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "closed mid-body"],
    ["HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", "status line"],
    ["HTTP/2 200\r\n\r\n", "status line"],
    ["HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 1\r\n\r\nx", "coded gzip"],
    ["HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "transfer-encoding"],
    ["HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy", "content-length"],
    ["HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n", "a body of 2000 bytes"],
    ["HTTP/1.1 200 OK\r\n folded: x\r\n\r\n", "malformed header"],
  ];
  for (const [answer, says] of cases) {
    await withRawServer(async (_head, c) => {
      await c.write(enc.encode(answer));
      c.close();
    }, async (origin) => {
      const e = await assertRejects(
        async () => await (await get(origin, undefined, 1000)).body(),
        Http1Error,
      );
      assertStringIncludes(e.message, says, JSON.stringify(answer));
    });
  }
  // Nothing listening; a header it cannot write; a scheme it does not speak.
  const dead = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = dead.addr.port;
  dead.close();
  await assertRejects(() => get(`http://127.0.0.1:${port}/`), Http1Error);
  await assertRejects(
    () =>
      client().get({
        url: new URL(`http://127.0.0.1:${port}/`),
        headers: { "x-bad": "a\r\nb" },
        signal: new AbortController().signal,
        maxBytes: 10,
      }),
    Http1Error,
  );
  await assertRejects(() => get("ftp://127.0.0.1/"), Http1Error, "ftp:");
});

Deno.test("http1: https trusts what fetch trusts (DENO_CERT, DENO_TLS_CA_STORE, --unsafely-ignore-certificate-errors), nothing more", async () => {
  const d = await makeCerts();
  const ac = new AbortController();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: ac.signal,
    onListen() {},
    cert: await Deno.readTextFile(`${d}/server.crt`),
    key: await Deno.readTextFile(`${d}/server.key`),
  }, () => new Response("over tls"));
  const code = `
    const { Http1Client } = await import(${
    JSON.stringify(new URL("../../src/storage/http1.ts", import.meta.url).href)
  });
    const url = new URL("https://127.0.0.1:${server.addr.port}/x");
    const signal = new AbortController().signal;
    const out = {};
    try {
      const a = await new Http1Client().get({ url, headers: {}, signal, maxBytes: 100 });
      out.raw = new TextDecoder().decode(await a.body());
    } catch (e) { out.raw = e.name + ": " + e.message; }
    try { out.fetch = await (await fetch(url)).text(); } catch (e) { out.fetch = "failed"; }
    console.log(JSON.stringify(out));`;
  const child = async (env: Record<string, string>, flags: string[] = []) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", ...flags, code],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(out.success, dec.decode(out.stderr));
    return JSON.parse(dec.decode(out.stdout));
  };
  try {
    assertEquals(await child({ DENO_CERT: `${d}/ca.crt` }), { raw: "over tls", fetch: "over tls" });
    const untrusted = await child({});
    assertEquals(untrusted.fetch, "failed");
    assertStringIncludes(untrusted.raw, "Http1Error");
    assertStringIncludes(untrusted.raw.toLowerCase(), "certificate");
    assertEquals(
      await child({}, ["--unsafely-ignore-certificate-errors=127.0.0.1"]),
      { raw: "over tls", fetch: "over tls" },
    );
    // DENO_TLS_CA_STORE: the system store (which SSL_CERT_FILE names here) or Mozilla's.
    const system = { DENO_TLS_CA_STORE: "system", SSL_CERT_FILE: `${d}/ca.crt` };
    assertEquals(await child(system), { raw: "over tls", fetch: "over tls" });
    const mozilla = await child({ ...system, DENO_TLS_CA_STORE: "mozilla" });
    assertEquals(mozilla.fetch, "failed");
    assertStringIncludes(mozilla.raw, "Http1Error");
  } finally {
    ac.abort();
    await server.finished;
    await Deno.remove(d, { recursive: true });
  }
});

/**
 * A TCP server answering each request of each connection in turn: `answer(i)` gives the
 * i-th request's answer (from 0) and whether the server closes the connection after it.
 * `served` lists the connection (from 0) each request came on; `ended`, the connections
 * either side closed.
 */
async function withKeepServer(
  answer: (i: number) => [string, "close" | "keep"],
  fn: (origin: string, served: number[], ended: Set<number>) => Promise<void>,
) {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served: number[] = [];
  const ended = new Set<number>();
  const conns: Deno.Conn[] = [];
  const loop = (async () => {
    for await (const c of l) {
      const n = conns.push(c) - 1;
      (async () => {
        const buf = new Uint8Array(4096);
        let pending = "";
        for (;;) {
          while (!pending.includes("\r\n\r\n")) {
            const got = await c.read(buf);
            if (got === null) return ended.add(n);
            pending += dec.decode(buf.subarray(0, got));
          }
          pending = pending.slice(pending.indexOf("\r\n\r\n") + 4);
          const [text, then] = answer(served.push(n) - 1);
          await c.write(enc.encode(text));
          if (then === "close") return c.close(), ended.add(n);
        }
      })().catch(() => {});
    }
  })();
  try {
    await fn(`http://127.0.0.1:${l.addr.port}`, served, ended);
  } finally {
    closeClients();
    l.close();
    await loop.catch(() => {});
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
  }
}

const okCL = (body: string, extra = "") =>
  `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n${extra}\r\n${body}`;

Deno.test("http1: a connection is kept for the next request only when its answer's end was framed and the server keeps it", async () => {
  const script: [string, "close" | "keep", string][] = [
    [okCL("a"), "keep", "a"],
    ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nb\r\n0\r\n\r\n", "keep", "b"],
    ["HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nc", "keep", "c"],
    [okCL("d", "Connection: keep-alive, Close\r\n"), "close", "d"],
    ["HTTP/1.1 200 OK\r\n\r\ne", "close", "e"],
    ["HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nf", "keep", "f"],
    [okCL("g") + "HTTP/1.1 200 OK\r\n", "keep", "g"],
    [okCL("h"), "keep", "h"],
    [okCL("i"), "keep", "i"],
  ];
  await withKeepServer((i) => [script[i][0], script[i][1]], async (origin, served) => {
    const c = client();
    const url = new URL(`${origin}/bk?list-type=2`);
    const signal = new AbortController().signal;
    assert(!c.keeps(url));
    for (const [, , body] of script) {
      const a = await c.get({ url, headers: {}, signal, maxBytes: 100 });
      assertEquals(dec.decode(await a.body()), body);
    }
    // Connection: close; the connection's close ending the body; HTTP/1.0; bytes after the
    // answer: each a new connection for the next request.
    assertEquals(served, [0, 0, 0, 0, 1, 2, 3, 4, 4]);
    assert(c.keeps(url));
    assert(!c.keeps(new URL("http://localhost:1/")), "another origin");
  });
});

Deno.test("http1: one request at a time; a kept connection the server closed is not used again; close() closes it", async () => {
  let closeAfter = false;
  await withKeepServer(
    () => [okCL("x"), closeAfter ? "close" : "keep"],
    async (origin, served, ended) => {
      const c = client();
      const url = new URL(`${origin}/`);
      const signal = new AbortController().signal;
      const req = { url, headers: {}, signal, maxBytes: 100 };
      const first = c.get(req);
      assert(c.busy && !c.keeps(url));
      await assertRejects(() => c.get(req), Http1Error, "in use");
      closeAfter = true;
      await (await first).body();
      assert(c.keeps(url));
      // The server closed it after the answer: the idle read sees it, and the next request
      // goes over a new connection.
      while (!ended.has(0)) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 5));
      assert(!c.keeps(url), "a connection the server closed is not offered");
      closeAfter = false;
      await (await c.get(req)).body();
      assertEquals(served, [0, 1]);
      assert(c.keeps(url));
      c.close();
      while (!ended.has(1)) await new Promise((r) => setTimeout(r, 5));
      assert(!c.keeps(url));
      await assertRejects(() => c.get(req), Http1Error, "closed");
    },
  );
});
