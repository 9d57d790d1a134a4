/**
 * The S3 family (AWS, MinIO, R2, Tigris, B2, Wasabi, Spaces) as a Store.
 *
 * `create` is PutObject with `If-None-Match: *` through `createExclusive` (retry.ts): a
 * 412 normally means another writer won; when the SDK retried (a lost response, a
 * timeout), the object's create-nonce (user metadata) says whether our own earlier try
 * landed. Streams are uploaded in bounded-memory multipart parts.
 */
import { fixedParts, limitSize } from "./bytes.ts";
import { createExclusive, type ErrorKind } from "./retry.ts";
import { countBytes } from "./metrics.ts";
import { rangeBody } from "./range_answer.ts";
import { attempts, type ErrorContext, errorName, httpStatus, s3Error } from "./s3_errors.ts";
import {
  assertKey,
  type Capabilities,
  compareKeys,
  type CreatedStamp,
  type ListEntry,
  type PutData,
  type Range,
  type Store,
  StoreError,
} from "./store.ts";

/** The S3 operations the store uses, by their API names. */
export type S3Op =
  | "ListObjectsV2"
  | "GetObject"
  | "HeadObject"
  | "PutObject"
  | "DeleteObject"
  | "CreateMultipartUpload"
  | "UploadPart"
  | "CompleteMultipartUpload"
  | "AbortMultipartUpload";

/** One request: the operation and its input, in the SDK's field names. */
export interface S3Command {
  op: S3Op;
  // deno-lint-ignore no-explicit-any
  input: Record<string, any>;
}

/**
 * What sends the store's requests and answers in the SDK's output and error shapes: the
 * light client (s3_light.ts), the SDK (s3_sdk.ts), or a test's fake.
 */
export interface S3Sender {
  // deno-lint-ignore no-explicit-any
  send(command: S3Command): Promise<any>;
  destroy?(): void;
}

function cmd(op: S3Op, input: S3Command["input"]): S3Command {
  return { op, input };
}

export interface S3StoreOptions {
  bucket: string;
  /** Key prefix inside the bucket, no leading/trailing slash ("" for the bucket root). */
  prefix: string;
  location: string;
  /** Context for error messages (no secrets except in `secrets`, which are scrubbed). */
  errors: Omit<ErrorContext, "op" | "key">;
  /** Multipart part size; S3 needs at least 5 MiB for every part but the last. */
  partSize?: number;
  /** Parts uploaded at once; memory is about (partsInFlight + 1) * partSize. */
  partsInFlight?: number;
  /**
   * Opened with `single-writer`: the server may ignore `If-None-Match`, the user said only
   * one machine writes, so `create` is not claimed to be atomic.
   */
  singleWriter?: boolean;
  /** Retries of a create after 409 ConditionalRequestConflict. */
  conflictRetries?: number;
  /** Base delay of those retries (ms); full jitter up to base * 2^n, capped. */
  conflictDelayMs?: number;
}

/** User-metadata key carrying a create's random nonce (x-amz-meta-trunks-create). */
export const CREATE_NONCE_META = "trunks-create";

const MIB = 1024 * 1024;
const MAX_PARTS = 10_000;
/** S3's largest object. */
const MAX_OBJECT = 5 * 1024 * 1024 * MIB;

export class S3Store implements Store {
  readonly capabilities: Capabilities;
  readonly location: string;
  readonly #client: S3Sender;
  readonly #bucket: string;
  readonly #base: string;
  readonly #errors: Omit<ErrorContext, "op" | "key">;
  readonly #partSize: number;
  readonly #inFlight: number;
  readonly #conflictRetries: number;
  readonly #conflictDelay: number;

  constructor(client: S3Sender, opts: S3StoreOptions) {
    this.capabilities = {
      atomicCreate: !opts.singleWriter,
      rangeReads: true,
      maxObjectSize: MAX_OBJECT,
      parallelism: 16,
      // A push's ref entries: one small PUT each, as many as its refs. S3 takes thousands of
      // PUTs a second per prefix; at 50 ms a request the corpus's first push (323 refs) went
      // from 34-35 round trips and 2.4-2.7 s to 19-21 and 1.7-2.0 s.
      createParallelism: 64,
    };
    this.#client = client;
    this.#bucket = opts.bucket;
    this.#base = opts.prefix ? `${opts.prefix}/` : "";
    this.location = opts.location;
    this.#errors = opts.errors;
    this.#partSize = opts.partSize ?? 8 * MIB;
    this.#inFlight = opts.partsInFlight ?? 4;
    this.#conflictRetries = opts.conflictRetries ?? 8;
    this.#conflictDelay = opts.conflictDelayMs ?? 50;
  }

  #key(key: string): string {
    assertKey(key);
    return this.#base + key;
  }

  /** A listing the store answered that cannot be one (untrusted input, never guessed at). */
  #malformed(what: string): StoreError {
    return new StoreError(
      `${this.#errors.scheme}: bucket '${this.#bucket}' at ${this.#errors.where} answered a listing that is not one (${what}); check the endpoint is S3-compatible`,
      "corrupt",
    );
  }

  #fail(e: unknown, op: string, key?: string): Error {
    return s3Error(e, { ...this.#errors, op, key });
  }

  async get(key: string, range?: Range): Promise<ReadableStream<Uint8Array> | null> {
    const k = this.#key(key);
    if (range && range.length === 0) {
      // "bytes=n-(n-1)" is not a valid range; an empty read only needs to know it exists.
      return (await this.#head(k, key)) ? emptyStream() : null;
    }
    const spec = range
      ? `bytes=${range.offset}-${range.length === undefined ? "" : range.offset + range.length - 1}`
      : undefined;
    let out;
    try {
      out = await this.#client.send(
        cmd("GetObject", { Bucket: this.#bucket, Key: k, Range: spec }),
      );
    } catch (e) {
      if (isNoSuchKey(e)) return null;
      // The object exists but is shorter than the offset: nothing to read, like a file.
      if (httpStatus(e) === 416 && range) return emptyStream();
      throw this.#fail(e, "GetObject", key);
    }
    const body = out.Body as { transformToWebStream(): ReadableStream<Uint8Array> } | undefined;
    if (!body) return emptyStream();
    const reader = rangeBody(
      body.transformToWebStream(),
      { status: out.$metadata?.httpStatusCode ?? 200, contentRange: out.ContentRange },
      range,
      `${this.#errors.scheme}: ${key} in bucket '${this.#bucket}'`,
    ).getReader();
    // A connection dropped mid-body surfaces as a StoreError naming the key, not a socket error.
    return new ReadableStream<Uint8Array>({
      pull: async (c) => {
        try {
          const { done, value } = await reader.read();
          if (done) return c.close();
          countBytes("down", value.byteLength);
          c.enqueue(value);
        } catch (e) {
          throw this.#fail(e, "GetObject (reading the body)", key);
        }
      },
      cancel: (reason) => reader.cancel(reason),
    }, { highWaterMark: 0 });
  }

  async put(key: string, data: PutData): Promise<void> {
    const k = this.#key(key);
    data = limitSize(data, this.capabilities.maxObjectSize, `s3: ${key}`);
    if (data instanceof Uint8Array) {
      if (data.byteLength <= this.#partSize) return await this.#putObject(k, key, data);
      return await this.#multipart(k, key, fixedParts(data, (n) => this.#partBytes(n)));
    }
    const reader = data.getReader();
    const parts = fixedParts(reader, (n) => this.#partBytes(n));
    try {
      const first = await parts.next();
      if (first.done) return await this.#putObject(k, key, new Uint8Array());
      const second = await parts.next();
      if (second.done) return await this.#putObject(k, key, first.value);
      await this.#multipart(k, key, chain([first.value, second.value], parts));
    } catch (e) {
      await reader.cancel(e).catch(() => {});
      throw e;
    }
  }

  async create(key: string, data: Uint8Array): Promise<boolean> {
    return (await this.createStamped(key, data)) !== null;
  }

  async createStamped(key: string, data: Uint8Array): Promise<CreatedStamp | null> {
    const k = this.#key(key);
    limitSize(data, this.capabilities.maxObjectSize, `s3: ${key}`);
    // The SDK retries network errors, throttling and 5xx itself (its attempts count says
    // when); only a 409 ConditionalRequestConflict (a concurrent conditional write in
    // flight) is tried again here.
    const conflicts = {
      policy: {
        attempts: this.#conflictRetries + 1,
        baseDelayMs: this.#conflictDelay,
        maxDelayMs: 5_000,
      },
      classify: (e: unknown): ErrorKind =>
        httpStatus(e) === 409 || errorName(e) === "ConditionalRequestConflict"
          ? "throttled"
          : "other",
    };
    // The ETag PutObject answered is the one a listing shows; none when an earlier try won.
    let stamp: CreatedStamp = {};
    try {
      const won = await createExclusive({
        write: async (nonce) => {
          stamp = {};
          try {
            const r = await this.#client.send(
              cmd("PutObject", {
                Bucket: this.#bucket,
                Key: k,
                Body: data,
                ContentLength: data.byteLength,
                IfNoneMatch: "*",
                Metadata: { [CREATE_NONCE_META]: nonce },
              }),
            );
            if (typeof r?.ETag === "string" && r.ETag) stamp = { etag: r.ETag };
            return "created";
          } catch (e) {
            if (httpStatus(e) !== 412 && errorName(e) !== "PreconditionFailed") throw e;
            return attempts(e) > 1 ? "exists-after-retry" : "exists";
          }
        },
        // A server that drops user metadata cannot tell: not claimed as won.
        carries: async (nonce) => (await this.#head(k, key))?.meta[CREATE_NONCE_META] === nonce,
      }, conflicts);
      return won ? stamp : null;
    } catch (e) {
      throw this.#fail(e, "PutObject", key);
    }
  }

  async list(prefix: string, startAfter?: string): Promise<ListEntry[]> {
    if (prefix !== "") assertKeyPrefix(prefix);
    if (startAfter !== undefined) assertKey(startAfter);
    const out: ListEntry[] = [];
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.#client.send(
          cmd("ListObjectsV2", {
            Bucket: this.#bucket,
            Prefix: this.#base + prefix,
            StartAfter: startAfter === undefined || token ? undefined : this.#base + startAfter,
            ContinuationToken: token,
          }),
        );
      } catch (e) {
        throw this.#fail(e, "ListObjectsV2", prefix || "(all)");
      }
      for (const o of page.Contents ?? []) {
        const full: string | undefined = o.Key;
        if (!full || !full.startsWith(this.#base) || full.endsWith("/")) continue;
        const key = full.slice(this.#base.length);
        // Servers that ignore StartAfter are still correct.
        if (startAfter !== undefined && compareKeys(key, startAfter) <= 0) continue;
        // The fetch plan and the collector judge keys by their listed size and time: a
        // key listed without them is refused, not read as empty and as old as the epoch.
        if (typeof o.Size !== "number" || !(o.LastModified instanceof Date)) {
          throw this.#malformed(`${key} is listed without its size or time`);
        }
        out.push({
          key,
          size: o.Size,
          modified: o.LastModified,
          ...(o.ETag ? { etag: o.ETag } : {}),
        });
      }
      // A page that says more follow but gives no way to them would end the listing early.
      if (page.IsTruncated && !page.NextContinuationToken) {
        throw this.#malformed("a truncated page without a continuation token");
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    out.sort((a, b) => compareKeys(a.key, b.key));
    return out;
  }

  async delete(key: string): Promise<void> {
    const k = this.#key(key);
    try {
      await this.#client.send(cmd("DeleteObject", { Bucket: this.#bucket, Key: k }));
    } catch (e) {
      if (!isNoSuchKey(e)) throw this.#fail(e, "DeleteObject", key);
    }
  }

  close(): Promise<void> {
    this.#client.destroy?.();
    return Promise.resolve();
  }

  /** Part n (1-based): the part size, doubling every 1000 parts so 10,000 parts reach 5 TiB. */
  #partBytes(n: number): number {
    return this.#partSize * 2 ** Math.floor((n - 1) / 1000);
  }

  async #putObject(k: string, key: string, data: Uint8Array): Promise<void> {
    try {
      await this.#client.send(
        cmd("PutObject", {
          Bucket: this.#bucket,
          Key: k,
          Body: data,
          ContentLength: data.byteLength,
        }),
      );
    } catch (e) {
      throw this.#fail(e, "PutObject", key);
    }
  }

  async #head(
    k: string,
    key: string,
  ): Promise<{ size: number; meta: Record<string, string> } | null> {
    try {
      const h = await this.#client.send(cmd("HeadObject", { Bucket: this.#bucket, Key: k }));
      return { size: h.ContentLength ?? 0, meta: h.Metadata ?? {} };
    } catch (e) {
      if (isNoSuchKey(e)) return null;
      throw this.#fail(e, "HeadObject", key);
    }
  }

  /** Multipart upload of parts from `source`, a few in flight, aborted on any failure. */
  async #multipart(k: string, key: string, source: AsyncIterable<Uint8Array>): Promise<void> {
    let uploadId: string;
    try {
      const r = await this.#client.send(
        cmd("CreateMultipartUpload", { Bucket: this.#bucket, Key: k }),
      );
      uploadId = r.UploadId;
    } catch (e) {
      throw this.#fail(e, "CreateMultipartUpload", key);
    }
    const done: { PartNumber: number; ETag: string }[] = [];
    const running = new Set<Promise<void>>();
    let failure: unknown;
    let total = 0;
    try {
      let n = 0;
      for await (const part of source) {
        if (failure) break;
        if (++n > MAX_PARTS) {
          throw new StoreError(
            `${this.#errors.scheme}: ${key} needs more than ${MAX_PARTS} parts; objects are limited to 5 TiB`,
            "unsupported",
          );
        }
        total += part.byteLength;
        const number = n;
        const p = this.#client.send(
          cmd("UploadPart", {
            Bucket: this.#bucket,
            Key: k,
            UploadId: uploadId,
            PartNumber: number,
            Body: part,
            ContentLength: part.byteLength,
          }),
        ).then(
          (r: { ETag?: string }) => {
            done.push({ PartNumber: number, ETag: r.ETag ?? "" });
          },
          (e: unknown) => {
            failure ??= this.#fail(e, "UploadPart", key);
          },
        ).finally(() => running.delete(p));
        running.add(p);
        if (running.size >= this.#inFlight) await Promise.race(running);
      }
      await Promise.all(running);
      if (failure) throw failure;
      done.sort((a, b) => a.PartNumber - b.PartNumber);
      await this.#complete(k, key, uploadId, done, total);
    } catch (e) {
      await Promise.allSettled(running);
      await this.#client.send(
        cmd("AbortMultipartUpload", { Bucket: this.#bucket, Key: k, UploadId: uploadId }),
      ).catch(() => {});
      throw e;
    }
  }

  async #complete(
    k: string,
    key: string,
    uploadId: string,
    parts: { PartNumber: number; ETag: string }[],
    total: number,
  ): Promise<void> {
    try {
      await this.#client.send(
        cmd("CompleteMultipartUpload", {
          Bucket: this.#bucket,
          Key: k,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
    } catch (e) {
      // A retried complete whose first attempt landed finds the upload gone.
      if (errorName(e) === "NoSuchUpload" && attempts(e) > 1) {
        const head = await this.#head(k, key);
        if (head?.size === total) return;
      }
      throw this.#fail(e, "CompleteMultipartUpload", key);
    }
  }
}

function isNoSuchKey(e: unknown): boolean {
  const n = errorName(e);
  return n === "NoSuchKey" || n === "NotFound" || (httpStatus(e) === 404 && n !== "NoSuchBucket");
}

/** A list prefix may end in `/` or be a partial segment; its characters are a key's. */
function assertKeyPrefix(prefix: string): void {
  assertKey(prefix.endsWith("/") ? prefix.slice(0, -1) || "x" : prefix);
}

function emptyStream(): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (c) => c.close() });
}

async function* chain<T>(head: T[], rest: AsyncIterator<T>): AsyncGenerator<T> {
  yield* head;
  for (;;) {
    const r = await rest.next();
    if (r.done) return;
    yield r.value;
  }
}
