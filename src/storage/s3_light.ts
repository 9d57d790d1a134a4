/**
 * A small S3 client for the hot operations (ListObjectsV2, GetObject with a range,
 * HeadObject, PutObject with If-None-Match, DeleteObject): `fetch` and SigV4 (sigv4.ts)
 * instead of the AWS SDK, whose import and first request cost more than an up-to-date
 * fetch's whole work. Used when the configuration is simple (static credentials, a known
 * endpoint or region, see `lightEndpoint`); anything else, multipart uploads included,
 * goes to the SDK, loaded only then. `TRUNKS_S3_CLIENT=sdk` turns it off.
 *
 * It answers in the SDK's shapes (outputs, and errors with `name`, `$metadata` and
 * `$response`), so S3Store and s3_errors.ts treat both clients alike. Retries follow the
 * SDK's standard mode: network errors, timeouts, 408, 429, 5xx and S3's RequestTimeout,
 * with exponential backoff and full jitter; every attempt is counted.
 *
 * A process's first request, when it is a listing made before fetch has run (the helper's
 * listing of refs), goes over a connection of its own (http1.ts) unless a proxy variable is
 * set; later listings go over that connection, kept open, when it is free. fetch makes the
 * request when that path fails in a way fetch may not.
 */
import { fetchUsed, takeColdFirst, warmFetch } from "./fetch_warmth.ts";
import { Http1Client } from "./http1.ts";
import { countBytes, countRequest } from "./metrics.ts";
import { backoffMs, parseRetryAfter, type RetryPolicy, sleep } from "./retry.ts";
import type { S3Command, S3Sender } from "./s3.ts";
import type { Env, S3Config, S3Credentials } from "./s3_config.ts";
import { armTimer } from "./timer.ts";
import { firstText, parseListPage } from "./s3_xml.ts";
import {
  amzDate,
  canonicalQuery,
  EMPTY_SHA256,
  encodeKeyPath,
  sha256Hex,
  signV4,
} from "./sigv4.ts";

/**
 * `connectionTimeout` is accepted (one tuning for both clients) but not honoured: fetch
 * does not expose the connect phase, so an endpoint that drops packets waits out
 * `requestTimeout` on every attempt.
 */
export interface LightTuning {
  maxAttempts: number;
  /** Until the response headers arrive, per attempt (ms). */
  requestTimeout: number;
  /** Longest wait for the next piece of a body being read (ms). */
  socketTimeout: number;
}

/** A bucket name usable as a host label (virtual-hosted addressing). */
const DNS_BUCKET = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

/**
 * The endpoint origin the light client may talk to for this configuration, or null when
 * the SDK must (its credential chain, FIPS or dual-stack endpoints, regions outside the
 * plain `s3.<region>.amazonaws.com` form, an endpoint with a path, a bucket that cannot
 * be a host name under virtual-hosted addressing).
 */
export function lightEndpoint(cfg: S3Config, env: Env): URL | null {
  if (!cfg.credentials || !cfg.region) return null;
  if (env("TRUNKS_S3_CLIENT") === "sdk") return null;
  for (const v of ["AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT"]) {
    if (/^(1|true)$/i.test(env(v) ?? "")) return null;
  }
  let base = cfg.endpoint;
  if (!base) {
    if (cfg.region.startsWith("cn-") || cfg.region === "aws-global") return null;
    base = `https://s3.${cfg.region}.amazonaws.com`;
  }
  const u = new URL(base);
  if (u.pathname !== "/" || u.search || u.username) return null;
  if (!cfg.forcePathStyle && !DNS_BUCKET.test(cfg.bucket)) return null;
  return u;
}

const PROXY_VARIABLES = ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"];

/** Whether any proxy variable is set, in either case: fetch reads them, http1.ts does not. */
export function namesProxy(env: Env): boolean {
  return PROXY_VARIABLES.some((n) => env(n) !== undefined || env(n.toLowerCase()) !== undefined);
}

/**
 * The proxy Deno's fetch will use for `target` (HTTP(S)_PROXY, ALL_PROXY, NO_PROXY, either
 * case; the SDK path uses none), as `<origin> from <variable>` without its credentials, so
 * an error can name it; undefined when none applies.
 */
export function proxyFor(target: URL, env: Env): string | undefined {
  const get = (name: string) => env(name) || env(name.toLowerCase());
  const scheme = target.protocol === "https:" ? "HTTPS_PROXY" : "HTTP_PROXY";
  const name = [scheme, "ALL_PROXY"].find((n) => get(n));
  if (!name) return undefined;
  const host = target.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  for (const raw of (get("NO_PROXY") ?? "").split(",")) {
    const entry = raw.trim().toLowerCase().replace(/^\*?\./, "");
    if (entry === "*" || (entry && (host === entry || host.endsWith(`.${entry}`)))) {
      return undefined;
    }
  }
  const value = get(name)!;
  let origin = value;
  try {
    const u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
    origin = `${u.protocol}//${u.host}`;
  } catch {
    origin = value.replace(/^.*@/, "");
  }
  return `${origin} from ${env(name) ? name : name.toLowerCase()}`;
}

// deno-lint-ignore no-explicit-any
type Input = Record<string, any>;

interface Wire {
  method: string;
  key?: string;
  query?: [string, string][];
  headers?: Record<string, string>;
  body?: Uint8Array;
  /**
   * A 2xx answer's body is small and bounded (a listing's page: at most 1,000 keys) and
   * read whole as text: see `#call`.
   */
  whole?: boolean;
  /**
   * A GET whose 2xx body is at most this many bytes (a bounded range): over http1.ts it is
   * read whole, then handed on as a Response.
   */
  bounded?: number;
}

/** Beyond any listing's page: a larger answer read whole is not one (fetch then reads it). */
const MAX_WHOLE = 16 * 1024 * 1024;

/** The largest range read whole over http1.ts; a larger one streams through fetch. */
const MAX_BOUNDED = 1024 * 1024;

/** The length of a range `bytes=a-b` when it is at most MAX_BOUNDED. */
function boundedRange(range: string | undefined): number | undefined {
  const m = range === undefined ? null : /^bytes=(\d{1,15})-(\d{1,15})$/.exec(range);
  const n = m ? Number(m[2]) - Number(m[1]) + 1 : 0;
  return n > 0 && n <= MAX_BOUNDED ? n : undefined;
}

export class LightS3Sender implements S3Sender {
  readonly #origin: URL;
  readonly #pathStyle: boolean;
  readonly #region: string;
  readonly #creds: S3Credentials;
  readonly #tuning: LightTuning;
  readonly #policy: RetryPolicy;
  readonly #fallback: () => Promise<S3Sender>;
  readonly #proxied: boolean;
  readonly #http1 = new Http1Client();
  #sdk: Promise<S3Sender> | undefined;

  constructor(
    cfg: S3Config,
    origin: URL,
    tuning: LightTuning,
    fallback: () => Promise<S3Sender>,
    env: Env,
  ) {
    this.#origin = origin;
    this.#proxied = namesProxy(env);
    this.#pathStyle = cfg.forcePathStyle;
    this.#region = cfg.region!;
    this.#creds = cfg.credentials!;
    this.#tuning = tuning;
    this.#policy = {
      attempts: Math.max(1, tuning.maxAttempts),
      baseDelayMs: 100,
      maxDelayMs: 20_000,
    };
    this.#fallback = fallback;
  }

  // deno-lint-ignore no-explicit-any
  async send(c: S3Command): Promise<any> {
    const i: Input = c.input;
    switch (c.op) {
      case "ListObjectsV2":
        return await this.#list(i);
      case "GetObject": {
        const res = await this.#call(c.op, i.Bucket, {
          method: "GET",
          key: i.Key,
          headers: i.Range ? { range: i.Range } : {},
          bounded: boundedRange(i.Range),
        }, (res) => res);
        return {
          Body: { transformToWebStream: () => res.body ?? emptyBody() },
          ContentRange: res.headers.get("content-range") ?? undefined,
          $metadata: { httpStatusCode: res.status },
        };
      }
      case "HeadObject": {
        const res = await this.#call(c.op, i.Bucket, { method: "HEAD", key: i.Key });
        const meta: Record<string, string> = {};
        for (const [k, v] of res.headers) {
          if (k.startsWith("x-amz-meta-")) meta[k.slice(11)] = v;
        }
        return { ContentLength: Number(res.headers.get("content-length") ?? 0), Metadata: meta };
      }
      case "PutObject": {
        if (!(i.Body instanceof Uint8Array)) break;
        const headers: Record<string, string> = {};
        if (i.IfNoneMatch) headers["if-none-match"] = i.IfNoneMatch;
        for (const [k, v] of Object.entries(i.Metadata ?? {})) {
          headers[`x-amz-meta-${k.toLowerCase()}`] = String(v);
        }
        const res = await this.#call(c.op, i.Bucket, {
          method: "PUT",
          key: i.Key,
          headers,
          body: i.Body,
        });
        return { ETag: res.headers.get("etag") ?? undefined };
      }
      case "DeleteObject":
        await this.#call(c.op, i.Bucket, { method: "DELETE", key: i.Key });
        return {};
    }
    // Multipart and anything else: the SDK, loaded on first need.
    return await (await (this.#sdk ??= this.#fallback())).send(c);
  }

  destroy(): void {
    this.#http1.close();
    this.#sdk?.then((s) => s.destroy?.(), () => {});
  }

  async #list(i: Input) {
    const query: [string, string][] = [["list-type", "2"], ["prefix", i.Prefix ?? ""]];
    if (i.StartAfter) query.push(["start-after", i.StartAfter]);
    if (i.ContinuationToken) query.push(["continuation-token", i.ContinuationToken]);
    const xml = await this.#call("ListObjectsV2", i.Bucket, { method: "GET", query, whole: true });
    return parseListPage(xml);
  }

  /**
   * One operation with retries; an answer that is not 2xx is thrown in the SDK's shape.
   * `take` reads a 2xx answer within the attempt (a body that stalls there is a timeout,
   * retried like a lost answer); without it the body is dropped, unless `w.whole`, which
   * returns it as text. Every body is read under the idle guard: the request timer stops
   * when the headers arrive.
   */
  async #call(op: string, bucket: string, w: Wire & { whole: true }): Promise<string>;
  async #call(op: string, bucket: string, w: Wire): Promise<Response>;
  async #call<T>(
    op: string,
    bucket: string,
    w: Wire,
    take: (res: Response) => T | Promise<T>,
  ): Promise<T>;
  async #call<T>(
    op: string,
    bucket: string,
    w: Wire,
    take?: (res: Response) => T | Promise<T>,
  ): Promise<T | Response | string> {
    const url = new URL(this.#origin);
    let path = w.key === undefined ? "/" : `/${encodeKeyPath(w.key)}`;
    if (this.#pathStyle) path = `/${encodeKeyPath(bucket)}${w.key === undefined ? "" : path}`;
    else url.hostname = `${bucket}.${url.hostname}`;
    const query = canonicalQuery(w.query);
    const target = `${url.origin}${path}${query ? `?${query}` : ""}`;
    const payloadHash = w.body ? await sha256Hex(w.body) : EMPTY_SHA256;
    const direct = (w.whole === true || w.bounded !== undefined) && w.method === "GET" &&
      !w.body && !this.#proxied;
    for (let attempt = 1;; attempt++) {
      countRequest("s3", op);
      if (w.body) countBytes("up", w.body.byteLength);
      const signed = signV4({
        method: w.method,
        host: url.host,
        path,
        query: w.query,
        headers: w.headers ?? {},
        payloadHash,
        region: this.#region,
        amzDate: amzDate(new Date()),
        credentials: this.#creds,
      });
      const headers = { ...w.headers, ...signed };
      const ctl = new AbortController();
      let res: Response;
      let buffered = false;
      try {
        const answer = direct && this.#overHttp1(target)
          ? await this.#direct(new URL(target), headers, ctl, w)
          : undefined;
        if (typeof answer === "string") return answer;
        buffered = answer !== undefined;
        res = answer ?? await this.#fetch(target, w, headers, ctl);
      } catch (e) {
        const err = networkError(e, attempt);
        if (err.retry && attempt < this.#policy.attempts) {
          await sleep(backoffMs(this.#policy, attempt));
          continue;
        }
        throw err.error;
      }
      // A small body read whole goes through fetch's own reader under one bound for all of
      // it: a JS stream over it (the idle guard) cost a process's first use of web streams,
      // 5-10 ms (Deno 2.9) after an up-to-date fetch's one LIST had come back.
      const whole = res.ok && w.whole === true;
      const guarded = whole || buffered ? res : this.#idleGuarded(res, ctl);
      const cancelBodyTimer = whole ? this.#bodyTimer(ctl) : undefined;
      let error: Error;
      try {
        if (res.ok) {
          if (whole) return await res.text();
          if (take) return await take(guarded);
          await guarded.body?.cancel();
          return guarded;
        }
        error = await s3ErrorOf(guarded, w.method, attempt);
      } catch (e) {
        // Only the body read can throw here: the answer stalled or broke mid-body.
        const err = networkError(e, attempt);
        if (err.retry && attempt < this.#policy.attempts) {
          await sleep(backoffMs(this.#policy, attempt));
          continue;
        }
        throw err.error;
      } finally {
        cancelBodyTimer?.();
      }
      if (retryableAnswer(res.status, error.name) && attempt < this.#policy.attempts) {
        await sleep(
          backoffMs(this.#policy, attempt, parseRetryAfter(res.headers.get("retry-after"))),
        );
        continue;
      }
      throw error;
    }
  }

  /**
   * Whether a listing or a bounded GET goes over http1.ts: over the connection kept from the
   * last one when it is free, else when it is the process's first request, made while fetch
   * is cold. Another made meanwhile goes through fetch, which opens a connection of its own.
   */
  #overHttp1(target: string): boolean {
    if (this.#http1.keeps(new URL(target))) return true;
    return !this.#http1.busy && takeColdFirst();
  }

  /** fetch, with the request timer running until the headers arrive. */
  async #fetch(
    target: string,
    w: Wire,
    headers: Record<string, string>,
    ctl: AbortController,
  ): Promise<Response> {
    fetchUsed();
    const cancelTimer = this.#requestTimer(ctl);
    try {
      return await fetch(target, {
        method: w.method,
        headers,
        body: w.body as Uint8Array<ArrayBuffer> | undefined,
        redirect: "manual",
        signal: ctl.signal,
      });
    } finally {
      cancelTimer();
    }
  }

  /**
   * A GET over http1.ts, under fetch's deadlines: a listing's 2xx answer as text, another
   * answer as a Response (its body read whole), or undefined when the path failed where
   * fetch may not (a kept connection the server closed while it was idle, a body larger
   * than expected): fetch then makes the request, in the same attempt. A deadline passed is
   * the attempt's, thrown. Once the request is out, fetch's code runs (warmFetch): the
   * process's other requests go through fetch without its first-use cost.
   */
  async #direct(
    url: URL,
    headers: Record<string, string>,
    ctl: AbortController,
    w: Wire,
  ): Promise<string | Response | undefined> {
    // A bounded GET's error answer (its XML) may be longer than the range asked for.
    const maxBytes = w.whole ? MAX_WHOLE : Math.max(w.bounded!, 64 * 1024);
    let cancelTimer = this.#requestTimer(ctl);
    let reading = false;
    try {
      const head = await this.#http1.get({
        url,
        headers,
        signal: ctl.signal,
        maxBytes,
        sent: warmFetch,
        // The socket timeout bounds each wait for more of the body, as fetch's idle guard.
        progress: () => {
          if (!reading) return;
          cancelTimer();
          cancelTimer = this.#bodyTimer(ctl);
        },
      });
      cancelTimer();
      cancelTimer = this.#bodyTimer(ctl);
      reading = true;
      const body = await head.body();
      if (head.status < 300 && w.whole) return new TextDecoder().decode(body);
      // Only an error answer or a GET's pays for a Response (a process's first costs 5-10 ms).
      return new Response(head.status === 304 ? null : body, {
        status: head.status,
        headers: head.headers,
      });
    } catch (e) {
      if (ctl.signal.aborted) throw e;
      return undefined;
    } finally {
      cancelTimer();
    }
  }

  /** Aborts a request whose headers have not arrived within the request timeout. */
  #requestTimer(ctl: AbortController): () => void {
    const ms = this.#tuning.requestTimeout;
    return armTimer(
      ms,
      () => ctl.abort(new DOMException(`no answer within ${ms} ms`, "TimeoutError")),
    );
  }

  /** Aborts a body read whole when no more of it arrives within the socket timeout. */
  #bodyTimer(ctl: AbortController): () => void {
    const ms = this.#tuning.socketTimeout;
    return armTimer(
      ms,
      () => ctl.abort(new DOMException(`no more of the body within ${ms} ms`, "TimeoutError")),
    );
  }

  /** The response with its body aborted when no piece arrives within the socket timeout. */
  #idleGuarded(res: Response, ctl: AbortController): Response {
    if (!res.body) return res;
    const reader = res.body.getReader();
    const ms = this.#tuning.socketTimeout;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        const cancelTimer = armTimer(
          ms,
          () => ctl.abort(new DOMException(`no data for ${ms} ms`, "TimeoutError")),
        );
        try {
          const { done, value } = await reader.read();
          if (done) c.close();
          else c.enqueue(value);
        } finally {
          cancelTimer();
        }
      },
      cancel: (reason) => reader.cancel(reason),
    }, { highWaterMark: 0 });
    return new Response(body, { status: res.status, headers: res.headers });
  }
}

function emptyBody(): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (c) => c.close() });
}

/** Names the SDK gives answers without an XML body (HEAD), by status. */
const STATUS_NAMES: Record<number, string> = {
  301: "PermanentRedirect",
  400: "BadRequest",
  403: "Forbidden",
  404: "NotFound",
  409: "Conflict",
  412: "PreconditionFailed",
  416: "InvalidRange",
};

/** A failed answer as the SDK would throw it: name, message, status, attempts, headers. */
async function s3ErrorOf(res: Response, method: string, attempts: number): Promise<Error> {
  let text = "";
  if (method === "HEAD") await res.body?.cancel();
  // A body that stalls is a timeout (retried); one that breaks leaves the status to speak.
  else {
    text = await res.text().catch((e) => {
      if (e instanceof DOMException && e.name === "TimeoutError") throw e;
      return "";
    });
  }
  const name = firstText(text, "Code") ?? STATUS_NAMES[res.status] ?? `HTTP${res.status}`;
  const message = firstText(text, "Message") ?? `${name} (HTTP ${res.status})`;
  return Object.assign(new Error(message), {
    name,
    $metadata: { httpStatusCode: res.status, attempts },
    $response: { headers: Object.fromEntries(res.headers) },
  });
}

function retryableAnswer(status: number, name: string): boolean {
  return status === 408 || status === 429 || status >= 500 || name === "RequestTimeout";
}

/**
 * A fetch failure as a network error s3_errors.ts and retry.ts recognise (a Node-style
 * `code`, or a TimeoutError), and whether to try again: a certificate refusal is not.
 */
function networkError(e: unknown, attempts: number): { error: Error; retry: boolean } {
  const timeout = e instanceof DOMException && e.name === "TimeoutError";
  const msg = e instanceof Error ? `${e.message} ${e.cause ?? ""}` : String(e);
  const code = timeout
    ? undefined
    : /connection refused/i.test(msg)
    ? "ECONNREFUSED"
    : /dns error|failed to lookup|name or service not known|no address/i.test(msg)
    ? "ENOTFOUND"
    : /certificate|tls handshake|invalid peer/i.test(msg)
    ? "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
    : /timed out/i.test(msg)
    ? "ETIMEDOUT"
    : "ECONNRESET";
  const error = Object.assign(new Error(timeout ? (e as Error).message : msg.trim()), {
    name: timeout ? "TimeoutError" : "NetworkError",
    ...(code ? { code } : {}),
    cause: e,
    $metadata: { attempts },
  });
  return { error, retry: code !== "UNABLE_TO_VERIFY_LEAF_SIGNATURE" };
}
