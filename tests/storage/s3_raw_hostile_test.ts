/**
 * Hostile-server cases for the light S3 client's raw HTTP/1.1 path (http1.ts, s3_light.ts
 * `#direct`), each compared with what fetch does for the same server (s3_scripted.ts).
 */
import { assert, assertEquals } from "../assert.ts";
import { Http1Client } from "../../src/storage/http1.ts";

import { child, enc, ok, page, via, withRawServer } from "./s3_scripted.ts";

const partial = (body: string) =>
  `HTTP/1.1 206 Partial Content\r\nContent-Length: ${body.length}\r\n` +
  `Content-Range: bytes 0-${body.length - 1}/100\r\n\r\n${body}`;

/** The object a GET's head names (`a`, `b`, ...), or undefined for a listing. */
const keyOf = (head: string) => /^get \S*\/t\.trunk\/(\w+) /i.exec(head)?.[1];

Deno.test("raw hostile: an answer that arrives on the kept connection while idle is never taken for the next key's", async () => {
  // A server (or a middlebox) that answers one GET twice: the second answer arrives while
  // the connection is idle. fetch (hyper) sees bytes on an idle connection and drops it;
  // a kept connection read only when the next request is made answers key b with a's data,
  // and every later key with the one before it.
  for (const env of [{ NO_PROXY: "*" }, {}] as Record<string, string>[]) {
    await withRawServer(async (_n, head, c) => {
      const key = keyOf(head);
      if (!key) {
        await c.write(enc.encode(ok(page("refs/a/1"), "keep-alive")));
        return "keep";
      }
      const data = key.toUpperCase().repeat(4);
      await c.write(enc.encode(partial(data)));
      if (key === "a") setTimeout(() => c.write(enc.encode(partial(data))).catch(() => {}), 30);
      return "keep";
    }, async (url, heads) => {
      const out = await child(url, [
        "list refs/",
        "get a 0 4",
        "wait 150",
        "get b 0 4",
        "get c 0 4",
      ], {
        env,
      });
      assertEquals(out.error, undefined);
      assertEquals(
        out.got,
        ["AAAA", "BBBB", "CCCC"],
        `${env.NO_PROXY ? "fetch" : "raw"}: ${heads.map(via)}`,
      );
    });
  }
});

Deno.test("raw hostile: a 408 a server sends on an idle kept connection before closing it is not the next listing's answer", async () => {
  // Servers send `408 Request Timeout` on a keep-alive connection they time out while idle
  // (RFC 9110 15.5.9); fetch (hyper) drops the connection and lists on a new one.
  for (const env of [{ NO_PROXY: "*" }, {}] as Record<string, string>[]) {
    await withRawServer(async (n, _head, c) => {
      if (n > 0) return void await c.write(enc.encode(ok(page("refs/a/2"))));
      await c.write(enc.encode(ok(page("refs/a/1"), "keep-alive")));
      await new Promise((r) => setTimeout(r, 30));
      await c.write(enc.encode(
        "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
      ));
    }, async (url, heads) => {
      const out = await child(url, ["list refs/", "wait 150", "list refs/"], {
        env,
        tuning: { maxAttempts: 1 },
      });
      const how = `${env.NO_PROXY ? "fetch" : "raw"}: ${heads.map(via)}`;
      assertEquals(out.error, undefined, how);
      assertEquals(out.listed, [["refs/a/1"], ["refs/a/2"]], how);
    });
  }
});

Deno.test("raw hostile: a body of one-byte chunks costs memory near its size, as through fetch", async () => {
  // 1 MiB in one-byte chunks, the bound s3_light gives a bounded GET of 1 MiB: fetch
  // reads it in ~12 MB of RSS; one Uint8Array per chunk here took ~500 MB (and 2.7 s, fetch
  // 0.8 s); 16 MiB, a listing's bound, would take several GB.
  const n = 1024 * 1024;
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const c = await l.accept();
    const all = async (b: Uint8Array) => {
      for (let o = 0; o < b.byteLength;) o += await c.write(b.subarray(o));
    };
    try {
      await c.read(new Uint8Array(8192));
      await all(enc.encode("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"));
      const piece = enc.encode("1\r\nx\r\n".repeat(64 * 1024));
      for (let i = 0; i < n / (64 * 1024); i++) await all(piece);
      await all(enc.encode("0\r\n\r\n"));
    } finally {
      c.close();
    }
  })();
  const client = new Http1Client();
  const before = Deno.memoryUsage().rss;
  let peak = before;
  const sample = setInterval(() => peak = Math.max(peak, Deno.memoryUsage().rss), 2);
  try {
    const answer = await client.get({
      url: new URL(`http://127.0.0.1:${(l.addr as Deno.NetAddr).port}/bk/obj`),
      headers: {},
      signal: new AbortController().signal,
      maxBytes: 1024 * 1024,
    });
    assertEquals((await answer.body()).byteLength, n);
    peak = Math.max(peak, Deno.memoryUsage().rss);
  } finally {
    clearInterval(sample);
    client.close();
    l.close();
    await served;
  }
  const grew = (peak - before) / 2 ** 20;
  // Measured in the suite's shared process (other tests' garbage): the bound is loose, the
  // defect it guards against cost ~400-500 MiB.
  assert(grew < 160, `RSS grew ${grew.toFixed(0)} MiB reading a 1 MiB body`);
});

Deno.test("raw hostile: a range that keeps coming, never idle for socketTimeout, is read over the raw path as through fetch", async () => {
  // socketTimeout is the longest idle gap (s3_tuning.ts), and so it is for a range read
  // through fetch (the idle guard); over the raw path it bounds the whole body: a slow link
  // fails a range of 1 MiB there (default 120 s: below ~9 KB/s) that fetch reads.
  const body = "r".repeat(4096);
  for (const env of [{ NO_PROXY: "*" }, {}] as Record<string, string>[]) {
    await withRawServer(async (_n, head, c) => {
      if (!keyOf(head)) {
        await c.write(enc.encode(ok(page("refs/a/1"), "keep-alive")));
        return "keep";
      }
      await c.write(enc.encode(
        `HTTP/1.1 206 Partial Content\r\nContent-Length: ${body.length}\r\n` +
          `Content-Range: bytes 0-${body.length - 1}/9999\r\n\r\n`,
      ));
      for (let i = 0; i < body.length; i += 256) {
        await new Promise((r) => setTimeout(r, 100));
        await c.write(enc.encode(body.slice(i, i + 256)));
      }
      return "keep";
    }, async (url, heads) => {
      const out = await child(url, ["list refs/", "get obj 0 4096"], {
        env,
        tuning: { maxAttempts: 1, socketTimeout: 600 },
      });
      const how = `${env.NO_PROXY ? "fetch" : "raw"}: ${heads.map(via)}`;
      assertEquals(out.error, undefined, how);
      assertEquals(out.got, [body], how);
    });
  }
});
