/**
 * Google Cloud Storage over its JSON API with `fetch` (no Google SDK: see the README's
 * dependency notes). `create` is a multipart upload (the bytes plus a create nonce in the
 * object's metadata) with `ifGenerationMatch=0`; puts larger
 * than one chunk use a resumable upload, one chunk in memory at a time, so readers
 * only ever see whole objects.
 */
import { fixedParts, limitSize } from "./bytes.ts";
import { type Auth, loadAuth } from "./gcs_auth.ts";
import { type GcsConfig, gcsConfig } from "./gcs_config.ts";
import { countBytes, countRequest } from "./metrics.ts";
import { rangeBody } from "./range_answer.ts";
import { serverText } from "./redact.ts";
import type { Settings } from "./backend.ts";
import {
  backoffMs,
  createExclusive,
  DEFAULT_RETRY,
  type FetchResult,
  fetchWithRetry,
  networkReason,
  retryableStatus,
  type RetryPolicy,
  sleep,
} from "./retry.ts";
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

/** Resumable chunk (a multiple of 256 KiB, as GCS requires); smaller puts are one request. */
export const CHUNK_SIZE = 8 * 1024 * 1024;
/** Custom metadata carrying a create's nonce. */
const CREATE_NONCE_META = "trunks-create";
/** A download that delivers nothing for this long is cut (and the read fails). */
const IDLE_MS = 120_000;

export interface GcsOptions {
  retry?: RetryPolicy;
  timeoutMs?: number;
}

/** Bytes a resumable session holds, from a 308's `Range: bytes=0-N` (none: 0). */
function persisted(res: Response): number {
  const m = /bytes=0-(\d+)/.exec(res.headers.get("range") ?? "");
  return m ? Number(m[1]) + 1 : 0;
}

/** The body, failing the read if the server stalls, counting bytes down. */
function watched(body: ReadableStream<Uint8Array>, what: string): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(
            new StoreError(`gcs: reading ${what} stalled for ${IDLE_MS / 1000}s`, "unreachable"),
          );
        }, IDLE_MS);
      });
      try {
        const r = await Promise.race([reader.read(), stalled]);
        if (r.done) c.close();
        else {
          countBytes("down", r.value.byteLength);
          c.enqueue(r.value);
        }
      } catch (e) {
        await reader.cancel().catch(() => {});
        throw e;
      } finally {
        clearTimeout(timer);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

export class GcsStore implements Store {
  readonly capabilities: Capabilities = {
    atomicCreate: true,
    rangeReads: true,
    maxObjectSize: 5 * 1024 ** 4,
    parallelism: 16,
  };
  readonly location: string;
  #cfg: GcsConfig;
  #auth: Auth;
  #retry: RetryPolicy;
  #timeoutMs: number;
  #bucketExists = false;

  constructor(cfg: GcsConfig, auth: Auth, opts: GcsOptions = {}) {
    this.#cfg = cfg;
    this.#auth = auth;
    this.#retry = opts.retry ?? DEFAULT_RETRY;
    this.#timeoutMs = opts.timeoutMs ?? 120_000;
    this.location = cfg.location;
  }

  #name(key: string): string {
    assertKey(key);
    return this.#cfg.prefix + key;
  }

  #objectUrl(name: string, query = ""): string {
    const { api, bucket } = this.#cfg;
    return `${api}/storage/v1/b/${encodeURIComponent(bucket)}/o/${
      encodeURIComponent(name)
    }${query}`;
  }

  #uploadUrl(name: string, query: string): string {
    const { api, bucket } = this.#cfg;
    return `${api}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?name=${
      encodeURIComponent(name)
    }&${query}`;
  }

  async #fetch(op: string, url: string, init: RequestInit, what: string): Promise<FetchResult> {
    const headers = { ...await this.#auth.headers(), ...init.headers as Record<string, string> };
    try {
      return await fetchWithRetry(url, { ...init, headers, redirect: "manual" }, {
        policy: this.#retry,
        timeoutMs: this.#timeoutMs,
        onTry: () => countRequest("gcs", op),
      });
    } catch (e) {
      throw this.#unreachable(e, what);
    }
  }

  #unreachable(e: unknown, what: string): StoreError {
    if (e instanceof StoreError) return e;
    return new StoreError(
      `gcs: cannot reach ${new URL(this.#cfg.api).origin} for ${what} (${networkReason(e)}); ` +
        `check --endpoint and the network`,
      "unreachable",
    );
  }

  /** Object 404s look alike whether the object or the bucket is missing: ask once. */
  async #checkBucket(): Promise<void> {
    if (this.#bucketExists) return;
    const { api, bucket } = this.#cfg;
    const { response } = await this.#fetch(
      "buckets.get",
      `${api}/storage/v1/b/${encodeURIComponent(bucket)}?fields=name`,
      {},
      `bucket ${bucket}`,
    );
    await response.body?.cancel();
    if (response.status === 404) throw this.#bucketMissing();
    // 403: no storage.buckets.get permission; objects may still be readable, so go on.
    this.#bucketExists = true;
  }

  #bucketMissing(): StoreError {
    const { api, bucket } = this.#cfg;
    return new StoreError(
      `gcs: bucket '${bucket}' does not exist at ${api}; create it or fix --bucket`,
      "not-found-root",
    );
  }

  /** One line from a failed answer: what, where, Google's reason, what to do. */
  async #error(res: Response, op: string, key: string): Promise<StoreError> {
    const text = await res.text().catch(() => "");
    let reason = "";
    try {
      const m = JSON.parse(text)?.error?.message;
      if (typeof m === "string") reason = m;
    } catch {
      reason = text;
    }
    // A server or proxy may echo the refused request, its Authorization header included.
    reason = serverText(reason, this.#auth.secrets());
    const where = `gs://${this.#cfg.bucket}/${this.#cfg.prefix}${key}`;
    if (res.status === 404) return this.#bucketMissing();
    if (res.status === 401 || (res.status === 403 && this.#auth.anonymous)) {
      const hint = this.#auth.anonymous
        ? "no credentials were found: set GOOGLE_APPLICATION_CREDENTIALS or --credentials-file " +
          "to a service-account key, or run: gcloud auth application-default login"
        : `the credentials of ${this.#auth.who} were rejected; check the key is current`;
      return new StoreError(`gcs: ${op} ${where}: ${hint}`, "access-denied");
    }
    if (res.status === 403) {
      return new StoreError(
        `gcs: ${this.#auth.who} may not ${op} ${where}${reason ? ` (${reason})` : ""}; ` +
          `grant it a Storage Object role on the bucket`,
        "access-denied",
      );
    }
    return new StoreError(
      `gcs: ${op} ${where} failed: HTTP ${res.status}${reason ? ` ${reason}` : ""}`,
      retryableStatus(res.status) ? "unreachable" : "io",
    );
  }

  async get(key: string, range?: Range): Promise<ReadableStream<Uint8Array> | null> {
    const name = this.#name(key);
    const headers: Record<string, string> = {};
    if (range?.length === 0) {
      const { response } = await this.#fetch(
        "objects.get",
        this.#objectUrl(name, "?fields=name"),
        {},
        key,
      );
      if (response.status === 404) {
        await response.body?.cancel();
        await this.#checkBucket();
        return null;
      }
      if (!response.ok) throw await this.#error(response, "read", key);
      await response.body?.cancel();
      return new Blob([]).stream();
    }
    if (range && (range.offset > 0 || range.length !== undefined)) {
      const end = range.length === undefined ? "" : String(range.offset + range.length - 1);
      headers.range = `bytes=${range.offset}-${end}`;
    }
    const { response } = await this.#fetch(
      "objects.get",
      this.#objectUrl(name, "?alt=media"),
      { headers },
      key,
    );
    if (response.status === 404) {
      await response.body?.cancel();
      await this.#checkBucket();
      return null;
    }
    // Reading at or past the end: nothing there, as a file read would give.
    if (response.status === 416) {
      await response.body?.cancel();
      return new Blob([]).stream();
    }
    if (response.status !== 200 && response.status !== 206) {
      throw await this.#error(response, "read", key);
    }
    if (!response.body) return new Blob([]).stream();
    return rangeBody(
      watched(response.body, key),
      { status: response.status, contentRange: response.headers.get("content-range") },
      headers.range ? range : undefined,
      `gcs: ${key}`,
    );
  }

  async put(key: string, data: PutData): Promise<void> {
    const name = this.#name(key);
    data = limitSize(data, this.capabilities.maxObjectSize, `gcs: ${key}`);
    const it = fixedParts(data, CHUNK_SIZE);
    const first = await it.next();
    const firstChunk = first.done ? new Uint8Array() : first.value;
    const second = first.done ? first : await it.next();
    if (second.done) {
      const { response } = await this.#upload(name, firstChunk, "");
      if (!response.ok) throw await this.#error(response, "write", key);
      await response.body?.cancel();
      countBytes("up", firstChunk.byteLength);
      return;
    }
    await this.#resumable(name, key, firstChunk, second.value, it);
  }

  #upload(name: string, data: Uint8Array, extra: string): Promise<FetchResult> {
    return this.#fetch("objects.insert", this.#uploadUrl(name, `uploadType=media${extra}`), {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: data as Uint8Array<ArrayBuffer>,
    }, name);
  }

  async #resumable(
    name: string,
    key: string,
    first: Uint8Array,
    second: Uint8Array,
    rest: AsyncGenerator<Uint8Array>,
  ): Promise<void> {
    const { response: start } = await this.#fetch(
      "resumable.start",
      this.#uploadUrl(name, "uploadType=resumable"),
      {
        method: "POST",
        headers: {
          "content-type": "application/json; charset=UTF-8",
          "x-upload-content-type": "application/octet-stream",
        },
        body: JSON.stringify({ name }),
      },
      key,
    );
    const session = start.headers.get("location");
    if (!start.ok || !session) {
      if (start.ok) {
        await start.body?.cancel();
        throw new StoreError(`gcs: write ${key}: no resumable session URL returned`, "io");
      }
      throw await this.#error(start, "write", key);
    }
    await start.body?.cancel();
    // Look one chunk ahead: the last chunk must carry the total size.
    let offset = 0;
    let current = first;
    let next: Uint8Array | undefined = second;
    while (true) {
      const isLast = next === undefined;
      const total = isLast ? offset + current.byteLength : undefined;
      await this.#sendChunk(session, key, current, offset, total);
      countBytes("up", current.byteLength);
      if (isLast) return;
      offset += current.byteLength;
      current = next!;
      const r = await rest.next();
      next = r.done ? undefined : r.value;
    }
  }

  /**
   * PUT one chunk of a resumable session. After a failed try the session is asked how
   * much it holds (the protocol's status check) and the rest of the chunk is resent.
   */
  async #sendChunk(
    session: string,
    key: string,
    chunk: Uint8Array,
    start: number,
    total: number | undefined,
  ): Promise<void> {
    const end = start + chunk.byteLength;
    const size = total === undefined ? "*" : String(total);
    let at = start;
    for (let attempt = 1;; attempt++) {
      let res: Response | undefined;
      let err: unknown;
      countRequest("gcs", "resumable.chunk");
      try {
        res = await fetch(session, {
          method: "PUT",
          headers: {
            ...await this.#auth.headers(),
            "content-range": `bytes ${at}-${end - 1}/${size}`,
          },
          body: chunk.subarray(at - start) as Uint8Array<ArrayBuffer>,
          redirect: "manual",
          signal: AbortSignal.timeout(this.#timeoutMs),
        });
      } catch (e) {
        err = e;
      }
      if (res) {
        if (res.status === 200 || res.status === 201) {
          await res.body?.cancel();
          if (total !== undefined) return;
          throw new StoreError(`gcs: write ${key}: the upload finished early`, "io");
        }
        if (res.status === 308) {
          await res.body?.cancel();
          const held = persisted(res);
          if (held >= end) return;
          // The service kept only part of the chunk: send the rest right away.
          if (held > at) {
            at = held;
            attempt = 0;
            continue;
          }
        } else if (!retryableStatus(res.status)) {
          throw await this.#error(res, "write", key);
        } else {
          await res.body?.cancel();
        }
      }
      if (attempt >= this.#retry.attempts) {
        if (err) throw this.#unreachable(err, key);
        throw new StoreError(`gcs: write ${key}: upload kept failing (HTTP ${res?.status})`, "io");
      }
      await sleep(backoffMs(this.#retry, attempt));
      const held = await this.#sessionStatus(session, key, size);
      if (held === "done") {
        if (total !== undefined) return;
        throw new StoreError(`gcs: write ${key}: the upload finished early`, "io");
      }
      if (held !== undefined) {
        if (held >= end) return;
        if (held < start) {
          throw new StoreError(
            `gcs: write ${key}: the upload session lost data already sent; write it again`,
            "io",
          );
        }
        at = held;
      }
    }
  }

  /** Bytes held by the session, "done" if it completed, undefined if unknown. */
  async #sessionStatus(
    session: string,
    key: string,
    size: string,
  ): Promise<number | "done" | undefined> {
    countRequest("gcs", "resumable.status");
    try {
      const res = await fetch(session, {
        method: "PUT",
        headers: { ...await this.#auth.headers(), "content-range": `bytes */${size}` },
        redirect: "manual",
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      await res.body?.cancel();
      if (res.status === 200 || res.status === 201) return "done";
      if (res.status === 308) return persisted(res);
      if (res.status === 404 || res.status === 410) {
        throw new StoreError(
          `gcs: write ${key}: the upload session expired; write it again`,
          "io",
        );
      }
      return undefined;
    } catch (e) {
      if (e instanceof StoreError) throw e;
      return undefined;
    }
  }

  async create(key: string, data: Uint8Array): Promise<boolean> {
    return (await this.createStamped(key, data)) !== null;
  }

  async createStamped(key: string, data: Uint8Array): Promise<CreatedStamp | null> {
    const name = this.#name(key);
    limitSize(data, this.capabilities.maxObjectSize, `gcs: ${key}`);
    // The generation the insert answered is the one a listing shows; none when an earlier
    // try won.
    let stamp: CreatedStamp = {};
    // Retries happen inside `#fetch`; its `mayHaveApplied` is the transport's "retried".
    const won = await createExclusive({
      write: async (nonce) => {
        stamp = {};
        const { response, mayHaveApplied } = await this.#createUpload(name, data, nonce);
        if (response.ok) {
          countBytes("up", data.byteLength);
          const made = await response.json().catch(() => null) as { generation?: unknown } | null;
          if (typeof made?.generation === "string" && made.generation) {
            stamp = { etag: made.generation };
          }
          return "created";
        }
        await response.body?.cancel();
        if (response.status === 412) return mayHaveApplied ? "exists-after-retry" : "exists";
        throw await this.#error(response, "write", key);
      },
      carries: async (nonce) => {
        const { response } = await this.#fetch(
          "objects.get",
          this.#objectUrl(name, "?fields=metadata"),
          {},
          key,
        );
        if (!response.ok) {
          await response.body?.cancel();
          return false;
        }
        const meta = (await response.json() as { metadata?: Record<string, string> }).metadata;
        return meta?.[CREATE_NONCE_META] === nonce;
      },
    });
    return won ? stamp : null;
  }

  /** A multipart upload (metadata with the create nonce, then the bytes), only if absent. */
  #createUpload(name: string, data: Uint8Array, nonce: string): Promise<FetchResult> {
    const boundary = `trunks-${crypto.randomUUID()}`;
    const enc = new TextEncoder();
    const head = enc.encode(
      `--${boundary}\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n` +
        JSON.stringify({ name, metadata: { [CREATE_NONCE_META]: nonce } }) +
        `\r\n--${boundary}\r\ncontent-type: application/octet-stream\r\n\r\n`,
    );
    const tail = enc.encode(`\r\n--${boundary}--\r\n`);
    const body = new Uint8Array(head.byteLength + data.byteLength + tail.byteLength);
    body.set(head);
    body.set(data, head.byteLength);
    body.set(tail, head.byteLength + data.byteLength);
    return this.#fetch(
      "objects.insert",
      this.#uploadUrl(name, "uploadType=multipart&ifGenerationMatch=0"),
      {
        method: "POST",
        headers: { "content-type": `multipart/related; boundary=${boundary}` },
        body,
      },
      name,
    );
  }

  async list(prefix: string, startAfter?: string): Promise<ListEntry[]> {
    const { api, bucket, prefix: base } = this.#cfg;
    const out: ListEntry[] = [];
    let pageToken: string | undefined;
    do {
      const q = new URLSearchParams({
        prefix: base + prefix,
        maxResults: "1000",
        fields: "items(name,size,updated,generation),nextPageToken",
      });
      if (startAfter !== undefined) q.set("startOffset", base + startAfter);
      if (pageToken) q.set("pageToken", pageToken);
      const { response } = await this.#fetch(
        "objects.list",
        `${api}/storage/v1/b/${encodeURIComponent(bucket)}/o?${q}`,
        {},
        `listing ${prefix || "/"}`,
      );
      if (!response.ok) throw await this.#error(response, "list", prefix);
      const page = await response.json() as {
        items?: { name: string; size: string; updated: string; generation?: string }[];
        nextPageToken?: string;
      };
      for (const o of page.items ?? []) {
        const key = o.name.slice(base.length);
        // startOffset is inclusive (and an emulator may ignore it).
        if (startAfter !== undefined && compareKeys(key, startAfter) <= 0) continue;
        out.push({
          key,
          size: Number(o.size),
          modified: new Date(o.updated),
          ...(o.generation ? { etag: o.generation } : {}),
        });
      }
      pageToken = page.nextPageToken;
    } while (pageToken);
    return out.sort((a, b) => compareKeys(a.key, b.key));
  }

  async delete(key: string): Promise<void> {
    const name = this.#name(key);
    const { response } = await this.#fetch(
      "objects.delete",
      this.#objectUrl(name),
      { method: "DELETE" },
      key,
    );
    await response.body?.cancel();
    if (response.ok) return;
    if (response.status === 404) return await this.#checkBucket();
    throw await this.#error(response, "delete", key);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** `gcs://bucket/path` or `gs://bucket/path`, optionally `?endpoint=` for emulators. */
export async function openGcs(url: URL, settings: Settings, opts: GcsOptions = {}): Promise<Store> {
  const cfg = gcsConfig(url, settings);
  return new GcsStore(cfg, await loadAuth(cfg.credentials, opts.retry), opts);
}
