/**
 * A counting HTTP proxy in front of an S3-compatible server (MinIO), so every tool's
 * requests and bytes are counted the same way, on the wire, whatever its own client
 * library reports.
 *
 * The proxy forwards each request unchanged, Host header included: SigV4 signs the Host
 * header, so the client must sign for the proxy's address and the server must see that
 * same Host. `fetch` always rewrites Host, hence `node:http` for the upstream leg.
 *
 * `latencyMs` delays every request before it is forwarded (one round trip to a store in
 * another region; loopback MinIO hides every round trip otherwise).
 *
 *   const p = startProxy("http://127.0.0.1:9000", { latencyMs: 50 });
 *   const before = p.snapshot(); ...; const used = diff(p.snapshot(), before);
 */
import http from "node:http";

export interface Counts {
  /** Requests by HTTP method (GET, PUT, HEAD, POST, DELETE). */
  byMethod: Record<string, number>;
  requests: number;
  /** Request body bytes sent by the client (as sent: aws-chunked framing included). */
  bytesUp: number;
  /** Response body bytes sent back by the server. */
  bytesDown: number;
  /** Responses with a 4xx/5xx status (conditional-create losses show up here as 412). */
  errors: number;
}

export interface Proxy {
  /** `http://127.0.0.1:<port>`: give this to the tools as their S3 endpoint. */
  endpoint: string;
  snapshot(): Counts;
  close(): Promise<void>;
}

export function emptyCounts(): Counts {
  return { byMethod: {}, requests: 0, bytesUp: 0, bytesDown: 0, errors: 0 };
}

/** `a - b`, field by field. */
export function diff(a: Counts, b: Counts): Counts {
  const byMethod: Record<string, number> = {};
  for (const [k, v] of Object.entries(a.byMethod)) {
    const d = v - (b.byMethod[k] ?? 0);
    if (d) byMethod[k] = d;
  }
  return {
    byMethod,
    requests: a.requests - b.requests,
    bytesUp: a.bytesUp - b.bytesUp,
    bytesDown: a.bytesDown - b.bytesDown,
    errors: a.errors - b.errors,
  };
}

export function startProxy(upstream: string, opts: { latencyMs?: number } = {}): Proxy {
  const up = new URL(upstream);
  const latency = opts.latencyMs ?? 0;
  const counts = emptyCounts();
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    async (req) => {
      if (latency > 0) await new Promise((r) => setTimeout(r, latency));
      return await forward(req, up, counts);
    },
  );
  return {
    endpoint: `http://127.0.0.1:${server.addr.port}`,
    snapshot: () => structuredClone(counts),
    close: async () => {
      ac.abort();
      await server.finished;
    },
  };
}

function forward(req: Request, up: URL, counts: Counts): Promise<Response> {
  counts.requests++;
  counts.byMethod[req.method] = (counts.byMethod[req.method] ?? 0) + 1;
  const u = new URL(req.url);
  const headers: Record<string, string> = {};
  req.headers.forEach((v, k) => headers[k] = v);
  return new Promise((resolve) => {
    const out = http.request({
      host: up.hostname,
      port: Number(up.port || 80),
      method: req.method,
      path: u.pathname + u.search,
      headers,
    }, (res) => {
      if ((res.statusCode ?? 500) >= 400) counts.errors++;
      const h = new Headers();
      for (const [k, v] of Object.entries(res.headers)) {
        if (v === undefined || k === "transfer-encoding" || k === "connection") continue;
        h.set(k, Array.isArray(v) ? v.join(", ") : String(v));
      }
      const body = req.method === "HEAD" || res.statusCode === 204 || res.statusCode === 304
        ? null
        : new ReadableStream<Uint8Array>({
          start(c) {
            res.on("data", (chunk: Uint8Array) => {
              counts.bytesDown += chunk.byteLength;
              c.enqueue(new Uint8Array(chunk));
            });
            res.on("end", () => c.close());
            res.on("error", (e) => c.error(e));
          },
        });
      if (!body) res.resume();
      resolve(new Response(body, { status: res.statusCode, headers: h }));
    });
    out.on("error", (e) => {
      counts.errors++;
      resolve(new Response(`bench proxy: upstream failed: ${e.message}`, { status: 502 }));
    });
    if (!req.body) {
      out.end();
      return;
    }
    (async () => {
      for await (const chunk of req.body!) {
        counts.bytesUp += chunk.byteLength;
        if (!out.write(chunk)) await new Promise((r) => out.once("drain", r));
      }
      out.end();
    })().catch((e) => out.destroy(e));
  });
}
