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
 * another region; loopback MinIO hides every round trip otherwise). `before` (awaited
 * before a request is forwarded) and `answered` (its answer's head came back) let a test
 * hold one request while something else happens (tests/e2e/clone_race_test.ts).
 *
 *   const p = startProxy("http://127.0.0.1:9000", { latencyMs: 50 });
 *   const before = p.snapshot(); ...; const used = diff(p.snapshot(), before);
 */
import http from "node:http";
import { sequentialRounds } from "../src/storage/metrics.ts";

/**
 * Sequential round trips: the longest chain of requests each sent after the previous one
 * was answered. At `latencyMs` per request, a command waits at least rounds x latency.
 */
export function rounds(spans: [number, number][]): number {
  return sequentialRounds(spans);
}

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
  /**
   * Start (arrival) and end (last response byte) of every request, ms, in arrival order;
   * `rounds(c.spans)` is the number of sequential round trips.
   */
  spans: [number, number][];
  /** Sequential round trips when counted elsewhere (trunks' own store operations). */
  rounds?: number;
}

export interface Proxy {
  /** `http://127.0.0.1:<port>`: give this to the tools as their S3 endpoint. */
  endpoint: string;
  snapshot(): Counts;
  /** Requests from the `from`-th on: method and path, with their spans (for --trace). */
  trace(from?: number): { what: string; span: [number, number] }[];
  close(): Promise<void>;
}

export function emptyCounts(): Counts {
  return { byMethod: {}, requests: 0, bytesUp: 0, bytesDown: 0, errors: 0, spans: [] };
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
    spans: a.spans.slice(b.spans.length),
  };
}

export function startProxy(
  upstream: string,
  opts: {
    latencyMs?: number;
    before?: (what: string) => Promise<void> | void;
    answered?: (what: string) => void;
  } = {},
): Proxy {
  const up = new URL(upstream);
  const latency = opts.latencyMs ?? 0;
  const counts = emptyCounts();
  const what: string[] = [];
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    async (req) => {
      const span: [number, number] = [performance.now(), Infinity];
      counts.spans.push(span);
      const u = new URL(req.url);
      const line = `${req.method} ${decodeURIComponent(u.pathname)}${
        u.search ? "?" + u.search.slice(1, 160) : ""
      }`;
      what.push(line);
      if (latency > 0) await new Promise((r) => setTimeout(r, latency));
      await opts.before?.(line);
      const res = await forward(req, up, counts, span);
      opts.answered?.(line);
      return res;
    },
  );
  return {
    endpoint: `http://127.0.0.1:${server.addr.port}`,
    snapshot: () => structuredClone(counts),
    trace: (from = 0) =>
      counts.spans.slice(from).map((span, i) => ({ what: what[from + i], span: [...span] })),
    close: async () => {
      ac.abort();
      await server.finished;
    },
  };
}

function forward(req: Request, up: URL, counts: Counts, span: [number, number]): Promise<Response> {
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
            res.on("end", () => {
              span[1] = performance.now();
              c.close();
            });
            res.on("error", (e) => c.error(e));
          },
        });
      if (!body) {
        res.on("end", () => span[1] = performance.now());
        res.resume();
      }
      resolve(new Response(body, { status: res.statusCode, headers: h }));
    });
    out.on("error", (e) => {
      counts.errors++;
      span[1] = performance.now();
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
