/**
 * The S3 store against real servers: MinIO (honours If-None-Match) and s3rver (ignores
 * it), plus failures users meet: missing bucket, wrong credentials, nothing listening.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../assert.ts";
import { probeStore } from "../../src/storage/probe.ts";
import { openStore, parseStoreUrl } from "../../src/storage/registry.ts";
import { openS3With, s3StoreOptions } from "../../src/storage/open_s3.ts";
import { s3Client, sdkSender } from "../../src/storage/s3_sdk.ts";
import { S3Store } from "../../src/storage/s3.ts";
import { resolveS3Config } from "../../src/storage/s3_config.ts";
import { requestCounts, resetRequestCounts } from "../../src/storage/metrics.ts";
import { getBytes, type Store, StoreError } from "../../src/storage/store.ts";
import { serverEnv } from "../servers.ts";

const minio = serverEnv("minio", [
  "TRUNKS_TEST_MINIO_ENDPOINT",
  "TRUNKS_TEST_MINIO_ACCESS_KEY",
  "TRUNKS_TEST_MINIO_SECRET_KEY",
  "TRUNKS_TEST_MINIO_BUCKET",
]);
const s3rver = serverEnv("s3rver", [
  "TRUNKS_TEST_S3RVER_ENDPOINT",
  "TRUNKS_TEST_S3RVER_ACCESS_KEY",
  "TRUNKS_TEST_S3RVER_SECRET_KEY",
  "TRUNKS_TEST_S3RVER_BUCKET",
]);

const enc = new TextEncoder();
const noEnv = () => undefined;

function minioUrl(bucket = minio!.TRUNKS_TEST_MINIO_BUCKET): string {
  return `s3://${bucket}/run-${crypto.randomUUID()}/trunks/t.trunk` +
    `?endpoint=${minio!.TRUNKS_TEST_MINIO_ENDPOINT}`;
}

function minioKeys(): Record<string, string> {
  return {
    "access-key": minio!.TRUNKS_TEST_MINIO_ACCESS_KEY,
    "secret-key": minio!.TRUNKS_TEST_MINIO_SECRET_KEY,
  };
}

async function withStore(
  url: string,
  settings: Record<string, string>,
  fn: (s: Store) => Promise<void>,
) {
  const s = await openStore(url, settings);
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

function oneLineNoSecret(e: Error, ...secrets: string[]): void {
  assert(!e.message.includes("\n"), `one line: ${e.message}`);
  for (const s of secrets) assert(!e.message.includes(s), `secret leaked: ${e.message}`);
}

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "probe: MinIO honours If-None-Match: *",
  ignore: !minio,
  ...opts,
  fn: () =>
    withStore(minioUrl(), minioKeys(), async (s) => {
      const r = await probeStore(s);
      assertEquals(r.problems, []);
      assertEquals(r.exclusiveCreate, true);
      assert(r.ok);
    }),
});

Deno.test({
  name: "probe: s3rver ignores If-None-Match and is reported by name",
  ignore: !s3rver,
  ...opts,
  fn: async () => {
    const e = s3rver!;
    const url = `s3://${e.TRUNKS_TEST_S3RVER_BUCKET}/run-${crypto.randomUUID()}/trunks/t.trunk` +
      `?endpoint=${e.TRUNKS_TEST_S3RVER_ENDPOINT}`;
    await withStore(url, {
      "access-key": e.TRUNKS_TEST_S3RVER_ACCESS_KEY,
      "secret-key": e.TRUNKS_TEST_S3RVER_SECRET_KEY,
    }, async (s) => {
      const r = await probeStore(s);
      assertEquals(r.exclusiveCreate, false);
      assert(!r.ok);
      const line = r.problems.find((p) => p.includes("ignores create-exclusive"));
      assert(line, `problems: ${r.problems}`);
      assertStringIncludes(line, s.location);
      assertStringIncludes(line, e.TRUNKS_TEST_S3RVER_ENDPOINT);
      assert(!line.includes(e.TRUNKS_TEST_S3RVER_SECRET_KEY + "@"), line);
    });
  },
});

Deno.test({
  name: "requests are counted per operation, multipart as its parts",
  ignore: !minio,
  ...opts,
  fn: async () => {
    const cfg = resolveS3Config(parseStoreUrl(minioUrl()), minioKeys(), noEnv);
    const s = new S3Store(sdkSender(s3Client(cfg)), {
      ...s3StoreOptions(cfg),
      partSize: 5 * 1024 * 1024,
    });
    try {
      resetRequestCounts();
      assertEquals(await s.create("refs/main/1", enc.encode("one")), true);
      assertEquals(await s.create("refs/main/1", enc.encode("two")), false);
      assertEquals((await s.list("refs/")).length, 1);
      assertEquals(new TextDecoder().decode((await getBytes(s, "refs/main/1"))!), "one");
      assertEquals(requestCounts().requests, {
        "s3.GetObject": 1,
        "s3.ListObjectsV2": 1,
        "s3.PutObject": 2,
      });
      assertEquals(requestCounts().bytesDown, 3);

      resetRequestCounts();
      const size = 12 * 1024 * 1024 + 5;
      const data = new Uint8Array(size).map((_, i) => (i * 7) & 0xff);
      await s.put("segments/big.pack", new Blob([data]).stream());
      assertEquals(requestCounts().requests, {
        "s3.CompleteMultipartUpload": 1,
        "s3.CreateMultipartUpload": 1,
        "s3.UploadPart": 3,
      });
      assertEquals(requestCounts().bytesUp, size);
      const back = await getBytes(s, "segments/big.pack");
      assertEquals(back?.byteLength, size);
      assert(back!.every((b, i) => b === ((i * 7) & 0xff)));
      assertEquals(requestCounts().bytesDown, size);
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  name: "a create whose response was lost is retried by the SDK and still reports the win",
  ignore: !minio,
  ...opts,
  fn: async () => {
    const cfg = resolveS3Config(parseStoreUrl(minioUrl()), minioKeys(), noEnv);
    const client = s3Client(cfg);
    let puts = 0;
    // Inside the SDK's retry loop: the first conditional PUT reaches MinIO, then its
    // response is "lost" as a transient network error, so the SDK retries and gets 412.
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const first = context.commandName === "PutObjectCommand" && puts++ === 0;
        const result = await next(args);
        if (first) {
          throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
        }
        return result;
      },
      { step: "finalizeRequest", priority: "low", name: "dropFirstResponse" },
    );
    const s = new S3Store(sdkSender(client), s3StoreOptions(cfg));
    try {
      resetRequestCounts();
      assertEquals(await s.create("refs/main/1", enc.encode("mine")), true);
      assertEquals(puts, 2, "the SDK retried the PUT");
      assertEquals(requestCounts().requests["s3.HeadObject"], 1);
      // A genuine second writer still loses.
      assertEquals(await s.create("refs/main/1", enc.encode("other")), false);
      assertEquals(new TextDecoder().decode((await getBytes(s, "refs/main/1"))!), "mine");
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  name: "ranges at and past the end of an object read empty; a missing key reads null",
  ignore: !minio,
  ...opts,
  fn: () =>
    withStore(minioUrl(), minioKeys(), async (s) => {
      await s.put("r/obj", enc.encode("0123456789"));
      assertEquals((await getBytes(s, "r/obj", { offset: 10 }))?.byteLength, 0);
      assertEquals((await getBytes(s, "r/obj", { offset: 50, length: 3 }))?.byteLength, 0);
      assertEquals((await getBytes(s, "r/obj", { offset: 4, length: 0 }))?.byteLength, 0);
      assertEquals(
        new TextDecoder().decode((await getBytes(s, "r/obj", { offset: 8, length: 5 }))!),
        "89",
      );
      assertEquals(await s.get("r/none", { offset: 1, length: 2 }), null);
      assertEquals(await s.get("r/none", { offset: 1, length: 0 }), null);
    }),
});

Deno.test({
  name: "errors: missing bucket",
  ignore: !minio,
  ...opts,
  fn: () =>
    withStore(minioUrl("no-such-bucket-trunks"), minioKeys(), async (s) => {
      for (const op of [() => s.list(""), () => s.get("a"), () => s.create("a", enc.encode("x"))]) {
        const e = await assertRejects(op, StoreError);
        assertEquals((e as StoreError).code, "not-found-root");
        assertStringIncludes(
          e.message,
          "bucket 'no-such-bucket-trunks' does not exist at http://127.0.0.1:",
        );
        oneLineNoSecret(e, minio!.TRUNKS_TEST_MINIO_SECRET_KEY);
      }
    }),
});

Deno.test({
  name: "errors: wrong secret key and unknown access key, without the secret",
  ignore: !minio,
  ...opts,
  fn: async () => {
    const wrongSecret = "Wr0ngSecretKeyValueForTest";
    await withStore(minioUrl(), { ...minioKeys(), "secret-key": wrongSecret }, async (s) => {
      const e = await assertRejects(() => s.list(""), StoreError);
      assertEquals((e as StoreError).code, "access-denied");
      assertStringIncludes(e.message, "secret key does not match");
      oneLineNoSecret(e, wrongSecret, minio!.TRUNKS_TEST_MINIO_SECRET_KEY);
    });
    await withStore(
      minioUrl(),
      { "access-key": "nobody-here", "secret-key": wrongSecret },
      async (s) => {
        const e = await assertRejects(() => s.put("a", enc.encode("x")), StoreError);
        assertEquals((e as StoreError).code, "access-denied");
        assertStringIncludes(e.message, "access key is not known");
        oneLineNoSecret(e, wrongSecret);
      },
    );
  },
});

Deno.test({
  name: "errors: nothing listening on the endpoint is 'unreachable', quickly, without secrets",
  ...opts,
  fn: async () => {
    // A port that was free a moment ago: bound, then closed.
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    const secret = "UnreachableSecretValue";
    const s = await openS3With(
      parseStoreUrl(`s3://bucket/x?endpoint=http://127.0.0.1:${port}`),
      { "access-key": "ak", "secret-key": secret },
      noEnv,
      { maxAttempts: 3 },
    );
    try {
      const started = Date.now();
      const e = await assertRejects(() => s.list(""), StoreError);
      assertEquals((e as StoreError).code, "unreachable");
      assertStringIncludes(e.message, `cannot reach http://127.0.0.1:${port}`);
      assertStringIncludes(e.message, "after 3 attempt(s)");
      oneLineNoSecret(e, secret);
      assert(Date.now() - started < 10_000, "backoff stays short");
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  name: "errors: a server that accepts but never answers times out as 'unreachable'",
  ...opts,
  fn: async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const held: Deno.Conn[] = [];
    const accepting = (async () => {
      for await (const c of listener) held.push(c);
    })();
    const port = (listener.addr as Deno.NetAddr).port;
    const s = await openS3With(
      parseStoreUrl(`s3://bucket/x?endpoint=http://127.0.0.1:${port}`),
      { "access-key": "ak", "secret-key": "sk-never-shown" },
      noEnv,
      { maxAttempts: 2, requestTimeout: 300 },
    );
    try {
      const e = await assertRejects(() => s.create("refs/a/1", enc.encode("x")), StoreError);
      assertEquals((e as StoreError).code, "unreachable");
      assertStringIncludes(e.message, `http://127.0.0.1:${port} did not answer in time`);
      assertStringIncludes(e.message, "after 2 attempt(s)");
      oneLineNoSecret(e, "sk-never-shown");
    } finally {
      await s.close();
      listener.close();
      for (const c of held) c.close();
      await accepting.catch(() => {});
    }
  },
});
