/**
 * The light S3 client's first listing in a process, made while fetch is cold: over a
 * connection of its own (http1.ts), kept open for the next listings while it is free, with
 * fetch's deadlines, retries, error shapes and counting; fetch when that path fails where
 * fetch may not, or a proxy variable is set. Each case runs in a fresh process (fetch is
 * cold only once); a request over http1.ts shows on the server without `accept-encoding`,
 * which fetch always sends.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { makeCerts } from "./test_certs.ts";
import { openStore } from "../../src/storage/registry.ts";
import { serverEnv } from "../servers.ts";

import { child, enc, ok, page, via, withRawServer, withServer, xmlError } from "./s3_scripted.ts";

Deno.test("first request: the first listing goes over its own connection, kept open for the next listings", async () => {
  await withServer(
    (req) => new Response(req.method === "GET" ? page("refs/a/1") : null),
    async (url, vias, conns) => {
      const out = await child(url, ["list refs/", "list refs/", "put refs/b/1", "list refs/"]);
      assertEquals(out.error, undefined);
      assertEquals(out.listed, [["refs/a/1"], ["refs/a/1"], ["refs/a/1"]]);
      assertEquals(vias, ["raw", "raw", "fetch", "raw"]);
      assertEquals(conns, [0, 0, 1, 0]);
      assertEquals(out.connects, 1);
      assertEquals(out.requests, { "s3.ListObjectsV2": 3, "s3.PutObject": 1 });
    },
  );
});

Deno.test("first request: one request at a time on that connection; only the first opens one, before fetch has run", async () => {
  // A second connection of its own would cost a request a connection where fetch keeps its
  // own open; one made beside a listing on it goes through fetch (a push lists the storage
  // map beside the refs).
  await withServer(
    (req) => new Response(req.method === "GET" ? page("refs/a/1") : null),
    async (url, vias, conns) => {
      const pair = await child(url, ["pair refs/", "list refs/", "pair refs/"]);
      assertEquals(pair.listed, Array(5).fill(["refs/a/1"]));
      assertEquals(vias.toSorted(), ["fetch", "fetch", "raw", "raw", "raw"]);
      const raw = conns.filter((_, i) => vias[i] === "raw");
      assertEquals(raw, [raw[0], raw[0], raw[0]], "all on one connection");
      assertEquals(pair.connects, 1);
      vias.length = 0;
      const putFirst = await child(url, ["put refs/b/1", "list refs/", "list refs/"]);
      assertEquals(putFirst.listed, [["refs/a/1"], ["refs/a/1"]]);
      assertEquals(vias, ["fetch", "fetch", "fetch"]);
      assertEquals(putFirst.connects, 0);
    },
  );
});

Deno.test("first request: a GET of a bounded range goes over the kept connection too; others through fetch", async () => {
  const object = "0123456789".repeat(120_000);
  await withServer((req) => {
    if (new URL(req.url).searchParams.has("list-type")) return new Response(page("refs/a/1"));
    if (!req.url.endsWith("/obj")) return new Response(xmlError("NoSuchKey"), { status: 404 });
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.get("range") ?? "");
    if (!m) return new Response(object);
    const end = Math.min(m[2] ? Number(m[2]) + 1 : object.length, object.length);
    return new Response(object.slice(Number(m[1]), end), {
      status: 206,
      headers: { "content-range": `bytes ${m[1]}-${end - 1}/${object.length}` },
    });
  }, async (url, vias, conns) => {
    const out = await child(url, [
      "list refs/",
      "get obj 5 3",
      "get missing 0 10",
      "get obj 0 1048577",
      "get obj",
      "get obj 1048570 4",
    ]);
    assertEquals(out.error, undefined);
    assertEquals(out.got.map((g) => g?.length ?? g), [3, null, 1_048_577, 1_200_000, 4]);
    assertEquals(out.got[0], "567");
    assertEquals(out.got[4], "0123");
    // Beyond 1 MiB, or no end: streamed through fetch.
    assertEquals(vias, ["raw", "raw", "raw", "fetch", "fetch", "raw"]);
    assertEquals(conns, [0, 0, 0, 1, 1, 0]);
    assertEquals(out.requests, { "s3.ListObjectsV2": 1, "s3.GetObject": 5 });
  });
});

Deno.test("first request: a proxy variable set, in either case, sends it through fetch", async () => {
  // The proxy applies to other hosts only: fetch reaches this server directly.
  const envs: Record<string, string>[] = [
    { NO_PROXY: "127.0.0.1" },
    { http_proxy: "http://127.0.0.1:1", no_proxy: "127.0.0.1" },
  ];
  for (const env of envs) {
    await withServer(() => new Response(page("refs/a/1")), async (url, vias) => {
      const out = await child(url, ["list refs/", "list refs/"], { env });
      assertEquals(out.listed, [["refs/a/1"], ["refs/a/1"]], JSON.stringify([env, out.error]));
      assertEquals(vias, ["fetch", "fetch"], JSON.stringify(env));
      assertEquals(out.connects, 0);
    });
  }
});

Deno.test("first request: error answers keep the SDK's shapes and retries (a Response built for them)", async () => {
  // 503 then a page: retried once (over the same connection, kept open).
  await withServer(
    (_req, seen) =>
      seen.length === 1
        ? new Response(xmlError("SlowDown"), { status: 503 })
        : new Response(page("refs/a/1")),
    async (url, vias, conns) => {
      const out = await child(url, ["list refs/"]);
      assertEquals(out.listed, [["refs/a/1"]]);
      assertEquals(vias, ["raw", "raw"]);
      assertEquals(conns, [0, 0]);
      assertEquals(out.requests, { "s3.ListObjectsV2": 2 });
    },
  );
  await withServer(
    () => new Response(xmlError("NoSuchBucket"), { status: 404 }),
    async (url, vias) => {
      const out = await child(url, ["list refs/"]);
      assertEquals(out.error?.code, "not-found-root");
      assertStringIncludes(out.error!.message, "bucket 'bk' does not exist at http://127.0.0.1:");
      assertEquals(vias, ["raw"]);
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
      assertEquals(heads.map(via), ["raw", "fetch"]);
      // One attempt, counted once.
      assertEquals(out.requests, { "s3.ListObjectsV2": 1 });
      assert(Date.now() - t0 < 5_000);
    });
  }
});

Deno.test("first request: a kept connection the server closed, idle or on the request, hands the request to fetch in the same attempt", async () => {
  for (const when of ["idle", "on the request"]) {
    let onFirst = 0;
    await withRawServer(async (n, _head, c) => {
      if (n > 0) return void await c.write(enc.encode(ok(page("refs/a/2"))));
      if (onFirst++ > 0) return; // the second request on the kept connection: closed unanswered
      await c.write(enc.encode(ok(page("refs/a/1"), "keep-alive")));
      if (when === "idle") await new Promise((r) => setTimeout(r, 20));
      else return "keep";
    }, async (url, heads) => {
      const out = await child(url, ["list refs/", "wait 100", "list refs/"], {
        tuning: { maxAttempts: 1 },
      });
      assertEquals(out.error, undefined, when);
      assertEquals(out.listed, [["refs/a/1"], ["refs/a/2"]]);
      assertEquals(
        heads.map(via),
        when === "idle" ? ["raw", "fetch"] : ["raw", "raw", "fetch"],
      );
      // One attempt each, counted once.
      assertEquals(out.requests, { "s3.ListObjectsV2": 2 });
    });
  }
});

Deno.test("first request: a kept connection keeps no process alive, and the store's close closes it", async () => {
  // Deno.serve keeps an idle connection open; the process ends however it ends.
  for (const natural of [true, false]) {
    await withServer(() => new Response(page("refs/a/1")), async (url, vias, conns) => {
      const out = await child(url, ["list refs/", "list refs/"], { natural });
      assertEquals(out.listed, [["refs/a/1"], ["refs/a/1"]]);
      assertEquals([vias, conns], [["raw", "raw"], [0, 0]]);
      const lag = out.exited - out.done;
      assert(lag < 1_500, `natural ${natural}: ended ${lag} ms after its work`);
    });
  }
  await withRawServer(
    async (_n, _head, c) => (await c.write(enc.encode(ok(page("refs/a/1"), "keep-alive"))), "keep"),
    async (url, heads, ends) => {
      const out = await child(url, ["list refs/", "list refs/", "close", "wait 500"]);
      assertEquals(out.error, undefined);
      assertEquals(heads.map(via), ["raw", "raw"]);
      assertEquals(ends.length, 1);
      assert(ends[0] < out.done - 300, `closed ${out.done - ends[0]} ms before the ops ended`);
    },
  );
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
      assertEquals(via(heads[0]), "raw");
      assertEquals(out.requests, { "s3.ListObjectsV2": 2 });
      assert(took < 2_900, `${says}: took ${took} ms`);
    });
  }
});

Deno.test("first request: a connection that never completes hands the request to fetch after 2 s, in the same attempt", async () => {
  // Deno.connect tries the first address only; fetch tries the others. A first address
  // that drops packets held the first listing until the request deadline (15 s here).
  await withServer(
    (req) => new Response(req.method === "GET" ? page("refs/a/1") : null),
    async (url, vias) => {
      const t0 = Date.now();
      const out = await child(url, ["list refs/", "list refs/"], {
        prelude: "Deno.connect = () => new Promise(() => {});",
        tuning: { maxAttempts: 1, requestTimeout: 15_000 },
      });
      const took = Date.now() - t0;
      assertEquals(out.error, undefined, JSON.stringify(out));
      assertEquals(out.listed, [["refs/a/1"], ["refs/a/1"]]);
      assertEquals(vias, ["fetch", "fetch"]);
      // One attempt, counted once each.
      assertEquals(out.requests, { "s3.ListObjectsV2": 2 });
      assert(took >= 1_900 && took < 8_000, `took ${took} ms`);
    },
  );
});

Deno.test("first request: https trusts the CA fetch would take from DENO_CERT, and no other", async () => {
  const d = await makeCerts();
  const tls = {
    cert: await Deno.readTextFile(`${d}/server.crt`),
    key: await Deno.readTextFile(`${d}/server.key`),
  };
  try {
    await withServer(() => new Response(page("refs/a/1")), async (url, vias, conns) => {
      const trusted = await child(url, ["list refs/", "list refs/"], {
        env: { DENO_CERT: `${d}/ca.crt` },
        natural: true,
      });
      assertEquals(trusted.listed, [["refs/a/1"], ["refs/a/1"]]);
      assertEquals(vias, ["raw", "raw"]);
      assertEquals(conns, [0, 0]);
      assertEquals(trusted.connects, 1);
      const untrusted = await child(url, ["list refs/"], { tuning: { maxAttempts: 1 } });
      assertEquals(untrusted.error?.code, "unreachable", JSON.stringify(untrusted));
      assertStringIncludes(untrusted.error!.message, "UNABLE_TO_VERIFY_LEAF_SIGNATURE");
      assertEquals(vias.length, 2, "nothing reached the server without the CA");
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
      const ops = ["list refs/", "list ", "get segments/s.pack 2 5", "get nothing/here 0 5"];
      const direct = await child(at, ops, { settings });
      const viaFetch = await child(at, ops, {
        settings,
        env: { NO_PROXY: "*" },
      });
      assertEquals(direct.error, undefined);
      assertEquals(direct.listed, [refs, names]);
      assertEquals(viaFetch.listed, direct.listed);
      assertEquals(direct.got, ["gment", null]);
      assertEquals(viaFetch.got, direct.got);
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
