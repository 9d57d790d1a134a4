/**
 * A scripted S3 for the light client's tests: `child` opens a store in a fresh process (fetch
 * is cold only once) and runs a list of operations; `withServer` (Deno.serve) and
 * `withRawServer` (a TCP server) answer as each test scripts; `via` tells a request over
 * http1.ts (no `accept-encoding`, which fetch always sends) from one through fetch.
 */
import { assert } from "../assert.ts";

export const enc = new TextEncoder();
export const dec = new TextDecoder();
export const keys = { "access-key": "AKID", "secret-key": "FirstRequestSecret123" };

export interface ChildOut {
  listed?: string[][];
  /** What each `get` read, null for a missing key. */
  got: (string | null)[];
  error?: { code: string; message: string };
  requests: Record<string, number>;
  /** Deno.connect and Deno.connectTls calls: fetch makes none. */
  connects: number;
  /** Date.now() when the ops were done, and when the parent saw the process end. */
  done: number;
  exited: number;
}

/**
 * Opens `url` in a fresh process and runs `ops` (each `list <prefix>`, `pair <prefix>`: two
 * listings at once, `put <key>`, `get <key> [<offset> <length>]`, `wait <ms>` or `close`: the
 * store's), stopping at the first error; `tuning` goes to openS3With. With `natural`, the
 * process ends without Deno.exit.
 */
export async function child(
  url: string,
  ops: string[],
  opts: {
    settings?: Record<string, string>;
    tuning?: Record<string, number>;
    env?: Record<string, string>;
    flags?: string[];
    natural?: boolean;
    /** Code run first, before the store's modules load. */
    prelude?: string;
  } = {},
): Promise<ChildOut> {
  const src = (p: string) =>
    JSON.stringify(new URL(`../../src/storage/${p}`, import.meta.url).href);
  const code = `
    ${opts.prelude ?? ""}
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
    const out = { listed: [], got: [] };
    try {
      for (const op of ${JSON.stringify(ops)}) {
        const [verb, arg, offset, length] = op.split(" ");
        const list = async () => (await store.list(arg)).map((e) => e.key);
        if (verb === "list") out.listed.push(await list());
        else if (verb === "pair") out.listed.push(...await Promise.all([list(), list()]));
        else if (verb === "wait") await new Promise((r) => setTimeout(r, Number(arg)));
        else if (verb === "close") await store.close();
        else if (verb === "get") {
          const range = offset === undefined ? undefined : { offset: +offset, length: +length };
          const body = await store.get(arg, range);
          out.got.push(body && await new Response(body).text());
        }
        else await store.put(arg, new TextEncoder().encode("x"));
      }
    } catch (e) {
      out.error = { code: e.code, message: e.message };
    }
    out.requests = requestCounts().requests;
    out.connects = connects;
    out.done = Date.now();
    console.log(JSON.stringify(out));
    ${opts.natural ? "" : "Deno.exit(0);"}`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", ...(opts.flags ?? []), code],
    env: { AWS_REGION: "us-east-1", ...opts.env },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(20_000),
  }).output();
  const exited = Date.now();
  assert(out.success, dec.decode(out.stderr));
  return { ...JSON.parse(dec.decode(out.stdout)), exited };
}

export const page = (...names: string[]) =>
  `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>bk</Name>` +
  names.map((n) =>
    `<Contents><Key>base/t.trunk/${n}</Key><LastModified>2026-12-02T03:00:00.000Z` +
    `</LastModified><ETag>&#34;e&#34;</ETag><Size>1</Size></Contents>`
  ).join("") + `<IsTruncated>false</IsTruncated></ListBucketResult>`;

export const xmlError = (code: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code} said</Message></Error>`;

/** "raw" for a request over http1.ts, "fetch" for one through fetch. */
export type Via = "raw" | "fetch";
export const via = (headers: Headers | string): Via =>
  (typeof headers === "string"
      ? headers.includes("accept-encoding:")
      : headers.has("accept-encoding"))
    ? "fetch"
    : "raw";

/**
 * A scripted S3 (Deno.serve); `answer` gets each request and how the ones so far came
 * (`vias`); `conns` lists the connection (from 0) each came on.
 */
export async function withServer(
  answer: (req: Request, vias: Via[]) => Response,
  fn: (url: string, vias: Via[], conns: number[]) => Promise<void>,
  tls?: { cert: string; key: string },
) {
  const vias: Via[] = [];
  const conns: number[] = [];
  const ports: number[] = [];
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {}, ...tls },
    (req, info) => {
      vias.push(via(req.headers));
      const port = info.remoteAddr.port;
      conns.push(ports.includes(port) ? ports.indexOf(port) : ports.push(port) - 1);
      return answer(req, vias);
    },
  );
  try {
    const scheme = tls ? "https" : "http";
    await fn(
      `s3://bk/base/t.trunk?endpoint=${scheme}://127.0.0.1:${server.addr.port}`,
      vias,
      conns,
    );
  } finally {
    ac.abort();
    await server.finished;
  }
}

/**
 * A TCP server: `script(n, head, conn)` answers each request of the n-th connection (from
 * 0); the connection is closed when the script returns other than "keep". `heads` lists
 * the requests' heads, lower-cased; `ends`, when each connection was seen to end.
 */
export async function withRawServer(
  script: (n: number, head: string, conn: Deno.Conn) => Promise<void | "keep">,
  fn: (url: string, heads: string[], ends: number[]) => Promise<void>,
) {
  await withTcpServer(
    script,
    (origin, heads, ends) => fn(`s3://bk/base/t.trunk?endpoint=${origin}`, heads, ends),
  );
}

/** `withRawServer`'s server; `fn` gets its origin (`http://127.0.0.1:<port>`). */
export async function withTcpServer(
  script: (n: number, head: string, conn: Deno.Conn) => Promise<void | "keep">,
  fn: (origin: string, heads: string[], ends: number[]) => Promise<void>,
) {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const heads: string[] = [];
  const ends: number[] = [];
  const conns: Deno.Conn[] = [];
  const served = (async () => {
    for await (const c of l) {
      conns.push(c);
      const n = conns.length - 1;
      (async () => {
        const buf = new Uint8Array(8192);
        for (;;) {
          let head = "";
          while (!head.includes("\r\n\r\n")) {
            const got = await c.read(buf).catch(() => null);
            if (got === null) return ends[n] = Date.now();
            head += dec.decode(buf.subarray(0, got));
          }
          heads.push(head.toLowerCase());
          if (await script(n, head, c) !== "keep") return c.close();
        }
      })().catch(() => {});
    }
  })();
  try {
    await fn(`http://127.0.0.1:${l.addr.port}`, heads, ends);
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

export const ok = (body: string, connection = "close") =>
  `HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: ${
    enc.encode(body).byteLength
  }\r\nConnection: ${connection}\r\n\r\n${body}`;
