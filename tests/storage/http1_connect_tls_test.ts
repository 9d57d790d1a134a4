/**
 * Hostile: http1.ts's connect deadline (connectWithin) is documented to cover the TLS
 * handshake ("TLS included"). Deno.connectTls resolves once TCP is connected: the handshake
 * runs on the first write, outside the deadline, under the request timer only. A first
 * connection whose handshake stalls (a middlebox, a lost flight, an IPv6 path that drops
 * the large ServerHello) then holds the first request until its deadline, as a TCP connect
 * that stalls did before de6100b.
 */
import { assert, assertEquals } from "../assert.ts";
import { connectWithin, Http1Client, Http1Error } from "../../src/storage/http1.ts";
import { makeCerts } from "./test_certs.ts";
import { child, page, withServer } from "./s3_scripted.ts";

/** A TCP server that accepts and never says anything: a TLS handshake never completes. */
function mute(): { port: number; close: () => Promise<void> } {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of l) held.push(c);
  })();
  return {
    port: (l.addr as Deno.NetAddr).port,
    close: async () => {
      l.close();
      await accepting.catch(() => {});
      for (const c of held) {
        try {
          c.close();
        } catch { /* the client closed it */ }
      }
    },
  };
}

Deno.test("http1: a TLS handshake that never completes is given up at the connect deadline, not the request's", async () => {
  const server = mute();
  const before = connectWithin.ms;
  connectWithin.ms = 300;
  const client = new Http1Client();
  try {
    const t0 = performance.now();
    const err = await client.get({
      url: new URL(`https://127.0.0.1:${server.port}/k`),
      headers: {},
      signal: AbortSignal.timeout(5_000),
      maxBytes: 1024,
    }).then(() => null, (e) => e);
    const took = performance.now() - t0;
    assert(
      err instanceof Http1Error,
      `expected an Http1Error (fetch's turn) at the 300 ms connect deadline, got ${err} after ${
        Math.round(took)
      } ms`,
    );
    assert(took < 2_000, `took ${Math.round(took)} ms`);
  } finally {
    connectWithin.ms = before;
    client.close();
    await server.close();
  }
});

Deno.test("first request: a first connection whose TLS handshake stalls hands the listing to fetch after 2 s, in the same attempt", async () => {
  const d = await makeCerts();
  const tls = {
    cert: await Deno.readTextFile(`${d}/server.crt`),
    key: await Deno.readTextFile(`${d}/server.key`),
  };
  const stall = mute();
  try {
    await withServer(
      (req) => new Response(req.method === "GET" ? page("refs/a/1") : null),
      async (url, vias) => {
        const t0 = Date.now();
        // The raw path's connection goes to a server whose handshake never completes;
        // fetch's reaches the real one.
        const out = await child(url, ["list refs/"], {
          env: { DENO_CERT: `${d}/ca.crt` },
          prelude: `{ const real = Deno.connectTls;
            Deno.connectTls = (o) => real({ ...o, port: ${stall.port} }); }`,
          tuning: { maxAttempts: 1, requestTimeout: 8_000 },
        });
        const took = Date.now() - t0;
        assertEquals(out.error, undefined, `after ${took} ms: ${JSON.stringify(out)}`);
        assertEquals(out.listed, [["refs/a/1"]]);
        assertEquals(vias, ["fetch"]);
        assert(took < 6_000, `took ${took} ms`);
      },
      tls,
    );
  } finally {
    await stall.close();
    await Deno.remove(d, { recursive: true });
  }
});
