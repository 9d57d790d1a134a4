/**
 * S3Store logic with a fake client (no network): 409 retry, 412 after an SDK retry
 * decided by the create nonce, bounded multipart, and error messages.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../assert.ts";
import { CREATE_NONCE_META, type S3Sender, S3Store } from "../../src/storage/s3.ts";
import { type ErrorContext, s3Error } from "../../src/storage/s3_errors.ts";
import { getBytes, StoreError } from "../../src/storage/store.ts";

interface Call {
  op: string;
  // deno-lint-ignore no-explicit-any
  input: any;
}

// deno-lint-ignore no-explicit-any
type Handler = (call: Call, calls: Call[]) => Promise<any> | any;

function fake(handler: Handler): { client: S3Sender; calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    client: {
      async send(cmd) {
        const call = { op: cmd.op, input: cmd.input };
        calls.push(call);
        return await handler(call, calls);
      },
    },
  };
}

function sdkError(name: string, status?: number, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`${name} from the server`), {
    name,
    $metadata: { httpStatusCode: status, attempts: 1 },
    ...extra,
  });
}

const errors = {
  scheme: "s3",
  bucket: "bk",
  where: "http://127.0.0.1:9",
  region: "us-east-1",
  credentialHint: "--access-key/--secret-key or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
  secrets: ["TOPSECRETVALUE"],
};

function store(client: S3Sender, extra: Partial<ConstructorParameters<typeof S3Store>[1]> = {}) {
  return new S3Store(client, {
    bucket: "bk",
    prefix: "base/trunks/t.trunk",
    location: "s3://bk/base/trunks/t.trunk",
    errors,
    conflictDelayMs: 1,
    ...extra,
  });
}

const enc = new TextEncoder();

Deno.test("create: PutObject with If-None-Match: * under the base prefix", async () => {
  const f = fake(() => ({}));
  assertEquals(await store(f.client).create("refs/x/1", enc.encode("a")), true);
  assertEquals(f.calls.length, 1);
  assertEquals(f.calls[0].op, "PutObject");
  assertEquals(f.calls[0].input.IfNoneMatch, "*");
  assertEquals(f.calls[0].input.Key, "base/trunks/t.trunk/refs/x/1");
  assertEquals(f.calls[0].input.Bucket, "bk");
});

Deno.test("create: 409 ConditionalRequestConflict is retried, then wins", async () => {
  const f = fake((_c, calls) => {
    if (calls.length <= 2) throw sdkError("ConditionalRequestConflict", 409);
    return {};
  });
  assertEquals(await store(f.client).create("refs/x/1", enc.encode("a")), true);
  assertEquals(f.calls.map((c) => c.op), ["PutObject", "PutObject", "PutObject"]);
  assert(f.calls.every((c) => c.input.IfNoneMatch === "*"));
});

Deno.test("create: 409 then 412 on a first attempt is a plain loss (no extra request)", async () => {
  const f = fake((_c, calls) => {
    throw calls.length === 1
      ? sdkError("ConditionalRequestConflict", 409)
      : sdkError("PreconditionFailed", 412);
  });
  assertEquals(await store(f.client).create("refs/x/1", enc.encode("a")), false);
  assertEquals(f.calls.map((c) => c.op), ["PutObject", "PutObject"]);
});

Deno.test("create: endless 409 gives up with a one-line error", async () => {
  const f = fake(() => {
    throw sdkError("ConditionalRequestConflict", 409);
  });
  const e = await assertRejects(
    () => store(f.client, { conflictRetries: 3 }).create("refs/x/1", enc.encode("a")),
    StoreError,
  );
  assertEquals(f.calls.length, 4);
  assertStringIncludes(e.message, "ConditionalRequestConflict");
  assert(!e.message.includes("\n"));
});

Deno.test("create: 412 after an SDK retry is a win when the stored nonce is ours", async () => {
  let nonce = "";
  const f = fake((c) => {
    if (c.op === "PutObject") {
      nonce = c.input.Metadata[CREATE_NONCE_META];
      // The first attempt landed but its response was lost; the SDK's retry got 412.
      throw Object.assign(sdkError("PreconditionFailed", 412), {
        $metadata: { httpStatusCode: 412, attempts: 2 },
      });
    }
    if (c.op === "HeadObject") {
      return { ContentLength: 1, Metadata: { [CREATE_NONCE_META]: nonce } };
    }
    throw new Error(`unexpected ${c.op}`);
  });
  assertEquals(await store(f.client).create("refs/x/1", enc.encode("a")), true);
  assertEquals(f.calls.map((c) => c.op), ["PutObject", "HeadObject"]);
  assertEquals(f.calls[1].input.Key, "base/trunks/t.trunk/refs/x/1");
});

Deno.test("create: 412 after an SDK retry is a loss when another writer's nonce is there", async () => {
  const f = fake((c) => {
    if (c.op === "PutObject") {
      throw Object.assign(sdkError("PreconditionFailed", 412), {
        $metadata: { httpStatusCode: 412, attempts: 3 },
      });
    }
    return { ContentLength: 1, Metadata: { [CREATE_NONCE_META]: "someone-else" } };
  });
  assertEquals(await store(f.client).create("refs/x/1", enc.encode("a")), false);
});

Deno.test("create: a retried 412 on a server that drops metadata is not claimed, even for equal bytes", async () => {
  const mine = enc.encode("mine");
  // Equal bytes prove nothing: another writer of the same bytes may have won.
  for (const [stored, expected] of [["mine", false], ["them", false]] as const) {
    const f = fake((c) => {
      if (c.op === "PutObject") {
        throw Object.assign(sdkError("PreconditionFailed", 412), {
          $metadata: { httpStatusCode: 412, attempts: 2 },
        });
      }
      if (c.op === "HeadObject") return { ContentLength: 4, Metadata: {} };
      const body = new Blob([enc.encode(stored)]).stream();
      return { Body: { transformToWebStream: () => body } };
    });
    assertEquals(await store(f.client).create("refs/x/1", mine), expected, stored);
  }
});

Deno.test("get: missing key is null, 416 past the end is empty, ranges are inclusive", async () => {
  const f = fake((c) => {
    if (c.input.Key.endsWith("missing")) throw sdkError("NoSuchKey", 404);
    if (c.input.Range === "bytes=10-") throw sdkError("InvalidRange", 416);
    const body = new Blob([enc.encode("xyz")]).stream();
    return { Body: { transformToWebStream: () => body } };
  });
  const s = store(f.client);
  assertEquals(await s.get("missing"), null);
  assertEquals((await getBytes(s, "obj", { offset: 10 }))?.byteLength, 0);
  await getBytes(s, "obj", { offset: 2, length: 3 });
  assertEquals(f.calls.at(-1)!.input.Range, "bytes=2-4");
});

Deno.test("get of a missing bucket is an error naming the bucket, not a missing key", async () => {
  const f = fake(() => {
    throw sdkError("NoSuchBucket", 404);
  });
  const e = await assertRejects(() => store(f.client).get("k"), StoreError);
  assertEquals((e as StoreError).code, "not-found-root");
  assertStringIncludes(e.message, "bucket 'bk' does not exist");
});

Deno.test("list: pages, strips the base, skips markers, honours startAfter itself", async () => {
  const f = fake((c) => {
    const o = (k: string) => ({
      Key: `base/trunks/t.trunk/${k}`,
      Size: 1,
      LastModified: new Date(5),
    });
    if (!c.input.ContinuationToken) {
      return {
        Contents: [o("p/a"), o("p/b"), o("p/")],
        IsTruncated: true,
        NextContinuationToken: "t",
      };
    }
    return { Contents: [o("p/c")], IsTruncated: false };
  });
  const s = store(f.client);
  assertEquals((await s.list("p/")).map((e) => e.key), ["p/a", "p/b", "p/c"]);
  assertEquals(f.calls[0].input.Prefix, "base/trunks/t.trunk/p/");
  assertEquals(f.calls[1].input.ContinuationToken, "t");
  assertEquals((await s.list("p/", "p/a")).map((e) => e.key), ["p/b", "p/c"]);
  assertEquals(f.calls[2].input.StartAfter, "base/trunks/t.trunk/p/a");
});

/** A stream of `total` bytes in `piece`-sized chunks that records how much was pulled. */
function meteredStream(total: number, piece: number) {
  const state = { pulled: 0 };
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (state.pulled >= total) return c.close();
      const n = Math.min(piece, total - state.pulled);
      const chunk = new Uint8Array(n);
      for (let i = 0; i < n; i++) chunk[i] = (state.pulled + i) & 0xff;
      state.pulled += n;
      c.enqueue(chunk);
    },
  }, { highWaterMark: 0 });
  return { stream, state };
}

Deno.test("put of a stream: multipart with bounded parts in flight and bounded read-ahead", async () => {
  const part = 1000;
  const inFlight = 2;
  const total = 10 * part + 17;
  const { stream, state } = meteredStream(total, 333);
  let active = 0;
  let maxActive = 0;
  let maxAhead = 0;
  let uploaded = 0;
  const received = new Map<number, Uint8Array>();
  const f = fake(async (c) => {
    if (c.op === "CreateMultipartUpload") return { UploadId: "u1" };
    if (c.op === "UploadPart") {
      active++;
      maxActive = Math.max(maxActive, active);
      maxAhead = Math.max(maxAhead, state.pulled - uploaded);
      await new Promise((r) => setTimeout(r, 2));
      received.set(c.input.PartNumber, c.input.Body);
      uploaded += c.input.Body.byteLength;
      active--;
      return { ETag: `"e${c.input.PartNumber}"` };
    }
    if (c.op === "CompleteMultipartUpload") return {};
    throw new Error(`unexpected ${c.op}`);
  });
  await store(f.client, { partSize: part, partsInFlight: inFlight }).put(
    "segments/big.pack",
    stream,
  );
  assertEquals(maxActive <= inFlight, true, `max in flight ${maxActive}`);
  // Memory bound: what was read but not yet uploaded stays within a few parts.
  assert(maxAhead <= (inFlight + 2) * part + 333, `read ahead ${maxAhead}`);
  assertEquals(received.size, 11);
  const all = new Uint8Array(total);
  let at = 0;
  for (let n = 1; n <= 11; n++) {
    all.set(received.get(n)!, at);
    at += received.get(n)!.byteLength;
  }
  assertEquals(at, total);
  assert(all.every((b, i) => b === (i & 0xff)), "parts reassemble the stream");
  const complete = f.calls.find((c) => c.op === "CompleteMultipartUpload")!;
  assertEquals(
    complete.input.MultipartUpload.Parts.map((p: { PartNumber: number }) => p.PartNumber),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
  );
  assertEquals(complete.input.MultipartUpload.Parts[0].ETag, '"e1"');
});

Deno.test("put: small streams and small bytes are one PutObject", async () => {
  const f = fake(() => ({}));
  const s = store(f.client, { partSize: 1000 });
  await s.put("a", meteredStream(1000, 300).stream);
  await s.put("b", new Uint8Array(10));
  await s.put("c", new ReadableStream({ start: (c) => c.close() }));
  assertEquals(f.calls.map((c) => [c.op, c.input.ContentLength]), [
    ["PutObject", 1000],
    ["PutObject", 10],
    ["PutObject", 0],
  ]);
});

Deno.test("put: a failing part aborts the multipart upload and cancels the source", async () => {
  let cancelled = false;
  let n = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(c) {
      if (n++ < 50) c.enqueue(new Uint8Array(500));
      else c.close();
    },
    cancel() {
      cancelled = true;
    },
  });
  const f = fake((c) => {
    if (c.op === "CreateMultipartUpload") return { UploadId: "u9" };
    if (c.op === "UploadPart" && c.input.PartNumber === 3) throw sdkError("InternalError", 500);
    return { ETag: "e" };
  });
  const e = await assertRejects(
    () => store(f.client, { partSize: 1000, partsInFlight: 2 }).put("x", source),
    StoreError,
  );
  assertStringIncludes(e.message, "UploadPart");
  const abort = f.calls.find((c) => c.op === "AbortMultipartUpload");
  assertEquals(abort?.input.UploadId, "u9");
  assert(!f.calls.some((c) => c.op === "CompleteMultipartUpload"));
  assert(cancelled, "source stream cancelled");
});

Deno.test("put of large bytes is multipart without copying", async () => {
  const f = fake((c) => c.op === "CreateMultipartUpload" ? { UploadId: "u" } : { ETag: "e" });
  const data = new Uint8Array(2500);
  await store(f.client, { partSize: 1000 }).put("x", data);
  const parts = f.calls.filter((c) => c.op === "UploadPart").map((c) => c.input.Body);
  assertEquals(parts.map((p: Uint8Array) => p.byteLength), [1000, 1000, 500]);
  assert(parts.every((p: Uint8Array) => p.buffer === data.buffer), "subarrays of the input");
});

const ctx: ErrorContext = { ...errors, op: "GetObject", key: "refs/x/1" };

function mapped(e: unknown): StoreError {
  const m = s3Error(e, ctx);
  assert(!m.message.includes("\n"), `one line: ${m.message}`);
  assert(!m.message.includes("TOPSECRETVALUE"), `no secret: ${m.message}`);
  return m;
}

Deno.test("error mapping: each failure class gets its code and a what-to-do message", () => {
  const cases: [unknown, StoreError["code"], string][] = [
    [
      sdkError("NoSuchBucket", 404),
      "not-found-root",
      "bucket 'bk' does not exist at http://127.0.0.1:9; create it",
    ],
    [sdkError("AccessDenied", 403), "access-denied", "access denied to bucket 'bk'"],
    [sdkError("Forbidden", 403), "access-denied", "access denied"],
    [sdkError("InvalidAccessKeyId", 403), "access-denied", "access key is not known"],
    [sdkError("SignatureDoesNotMatch", 403), "access-denied", "secret key does not match"],
    [sdkError("RequestTimeTooSkewed", 403), "io", "clock"],
    [sdkError("ExpiredToken", 400), "access-denied", "session token"],
    [
      sdkError("PermanentRedirect", 301, {
        $response: { headers: { "x-amz-bucket-region": "eu-west-1" } },
      }),
      "unreachable",
      "pass --region eu-west-1",
    ],
    [sdkError("AuthorizationHeaderMalformed", 400), "unreachable", "--region"],
    [sdkError("301", 301), "unreachable", "not in region 'us-east-1'"],
    [
      Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), {
        code: "ECONNREFUSED",
        $metadata: { attempts: 5 },
      }),
      "unreachable",
      "cannot reach http://127.0.0.1:9 (ECONNREFUSED) after 5 attempt(s)",
    ],
    [
      Object.assign(new Error("x"), { name: "TimeoutError" }),
      "unreachable",
      "did not answer in time (GetObject refs/x/1)",
    ],
    [
      Object.assign(new Error("wrapped"), { cause: { code: "ENOTFOUND" } }),
      "unreachable",
      "ENOTFOUND",
    ],
    [
      Object.assign(new Error("Could not load credentials from any providers"), {
        name: "CredentialsProviderError",
      }),
      "access-denied",
      "no credentials",
    ],
    [new Error("Region is missing"), "invalid-key", "--region"],
    [
      sdkError("SlowDown", 503),
      "io",
      "GetObject refs/x/1 failed at http://127.0.0.1:9 (SlowDown, HTTP 503)",
    ],
  ];
  for (const [err, code, text] of cases) {
    const m = mapped(err);
    assertEquals(m.code, code, m.message);
    assertStringIncludes(m.message, text);
    assert(m.message.startsWith("s3: "), m.message);
  }
});

Deno.test("error mapping scrubs secrets from a server's own message", () => {
  const m = mapped(Object.assign(new Error("odd\nthing TOPSECRETVALUE here"), { name: "Weird" }));
  assertStringIncludes(m.message, "odd thing *** here");
  // The server's error is kept as the cause, which console.error and an uncaught error print.
  assert(!Deno.inspect(m).includes("TOPSECRETVALUE"), Deno.inspect(m));
  // Credentials from the SDK's default chain (a profile, SSO, a role) are not known here:
  // an echoed request still shows no session token.
  const echo = mapped(
    Object.assign(new Error("refused: x-amz-security-token: IQoJb3JpZ2luX2VjEPROFILETOKEN"), {
      name: "Weird",
    }),
  );
  assert(!echo.message.includes("PROFILETOKEN"), echo.message);
});
