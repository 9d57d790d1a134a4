/**
 * How S3Store takes a ranged GET's answer from a server that does not answer the range:
 * over the raw HTTP/1.1 path and through fetch alike. Helpers copied from
 * s3_raw_hostile_test.ts (itself from s3_first_request_test.ts).
 */
import { assert, assertEquals } from "../assert.ts";

const dec = new TextDecoder();
const keys = { "access-key": "AKID", "secret-key": "FirstRequestSecret123" };

interface ChildOut {
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
async function child(
  url: string,
  ops: string[],
  opts: {
    settings?: Record<string, string>;
    tuning?: Record<string, number>;
    env?: Record<string, string>;
    flags?: string[];
    natural?: boolean;
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

const page = (...names: string[]) =>
  `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>bk</Name>` +
  names.map((n) =>
    `<Contents><Key>base/t.trunk/${n}</Key><LastModified>2026-12-02T03:00:00.000Z` +
    `</LastModified><ETag>&#34;e&#34;</ETag><Size>1</Size></Contents>`
  ).join("") + `<IsTruncated>false</IsTruncated></ListBucketResult>`;

/** "raw" for a request over http1.ts, "fetch" for one through fetch. */
type Via = "raw" | "fetch";
const via = (headers: Headers | string): Via =>
  (typeof headers === "string"
      ? headers.includes("accept-encoding:")
      : headers.has("accept-encoding"))
    ? "fetch"
    : "raw";

/**
 * A scripted S3 (Deno.serve); `answer` gets each request and how the ones so far came
 * (`vias`); `conns` lists the connection (from 0) each came on.
 */
async function withServer(
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

Deno.test("raw hostile: a server that ignores Range (200, the whole object) gives a ranged get only the range", async () => {
  // gcs.ts cuts such an answer to the range; S3 hands the whole object on as the range's
  // bytes, over the raw path (a range up to 1 MiB) and through fetch alike.
  const object = "0123456789";
  for (const env of [{}, { NO_PROXY: "*" }] as Record<string, string>[]) {
    await withServer(
      (req) =>
        new URL(req.url).searchParams.has("list-type")
          ? new Response(page("refs/a/1"))
          : new Response(object),
      async (url, vias) => {
        const out = await child(url, ["list refs/", "get obj 5 3", "get obj 2 1"], { env });
        assertEquals(out.error, undefined);
        assertEquals(out.got, ["567", "2"], `${vias}`);
        assertEquals(vias.at(-1), env.NO_PROXY ? "fetch" : "raw");
      },
    );
  }
});

Deno.test("raw hostile: a 206 whose Content-Range is not the range asked for is not taken for it", async () => {
  // Asked bytes=5-7, a 206 for bytes 0-2 was handed on as bytes 5-7. Refused as one line
  // naming the key: another start, a longer range, none said; a range cut short by the
  // object's end is the answer.
  const answers: Record<string, [string, string | null]> = {
    start: ["012", "bytes 0-2/10"],
    longer: ["56789", "bytes 5-9/10"],
    unsaid: ["567", null],
    tail: ["56", "bytes 5-6/7"],
  };
  for (const env of [{}, { NO_PROXY: "*" }] as Record<string, string>[]) {
    await withServer(
      (req) => {
        if (new URL(req.url).searchParams.has("list-type")) return new Response(page("refs/a/1"));
        const [body, range] = answers[new URL(req.url).pathname.split("/").at(-1)!];
        return new Response(body, {
          status: 206,
          headers: range ? { "content-range": range } : {},
        });
      },
      async (url, vias) => {
        for (const key of ["start", "longer", "unsaid"]) {
          const out = await child(url, ["list refs/", `get ${key} 5 3`], { env });
          const how = `${key} ${vias}: ${JSON.stringify(out)}`;
          assertEquals(out.error?.code, "corrupt", how);
          assert(out.error!.message.includes(key), how);
          assert(!out.error!.message.includes("\n"), how);
        }
        const out = await child(url, ["list refs/", "get tail 5 3"], { env });
        assertEquals(out.error, undefined);
        assertEquals(out.got, ["56"], `${vias}`);
        assertEquals(vias.at(-1), env.NO_PROXY ? "fetch" : "raw");
      },
    );
  }
});
