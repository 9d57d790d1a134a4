/**
 * The one retry and back-off wrapper of every backend (after restic's backend/retry and
 * rclone's lib/pacer): exponential backoff with full jitter (AWS architecture blog), so
 * many clients hitting one throttled service spread out. A backend supplies only how to
 * classify its errors (`Classifier`); "did my create land?" after a retry is answered
 * once, here (`createExclusive`), by a nonce stored with the object.
 */
import { fetchUsed } from "./fetch_warmth.ts";

export interface RetryPolicy {
  /** Total tries, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 250, maxDelayMs: 10_000 };

/** Delay before try `attempt + 1` (attempt counts from 1); honours a server's Retry-After. */
export function backoffMs(policy: RetryPolicy, attempt: number, retryAfterMs?: number): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  const jittered = Math.random() * cap;
  if (retryAfterMs !== undefined && retryAfterMs > 0) {
    return Math.min(Math.max(retryAfterMs, jittered), policy.maxDelayMs * 3);
  }
  return jittered;
}

/** `Retry-After` in seconds or as an HTTP date, in ms. */
export function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  const secs = Number(value);
  if (Number.isFinite(secs)) return secs * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * What an error means to the caller. `retryable`: a transient failure (a dropped
 * connection, throttling, a server error) worth another try; `unavailable`: the storage
 * cannot be reached at all (refused, no such host, timed out), also tried again;
 * `throttled`: refused for now and known not applied (429, a conflicting write in
 * flight), also tried again; `not-found`, `access-denied`, `other`: final.
 */
export type ErrorKind =
  | "retryable"
  | "unavailable"
  | "throttled"
  | "not-found"
  | "access-denied"
  | "other";

/** A backend's only part in retrying: what kind of error this is. */
export type Classifier = (e: unknown) => ErrorKind;

/**
 * Network failures by their Node/Deno error code, anywhere on the `cause` chain: the one
 * list every backend's classifier consults. `unavailable` when nothing was reached,
 * `retryable` when a connection broke (the request may have been applied).
 */
const UNREACHED = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);
const BROKEN = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED", "REQUEST_SEND_ERROR"]);
/** The server was reached but its certificate refused: a setup problem, never retried. */
const TLS = new Set([
  "CERT_HAS_EXPIRED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** The network (or TLS) error code of `e` or its causes, or undefined when it is not one. */
export function networkCode(e: unknown, depth = 0): string | undefined {
  const x = e as { code?: unknown; name?: unknown; cause?: unknown } | null | undefined;
  if (!x || typeof x !== "object" || depth > 5) return undefined;
  const code = typeof x.code === "string" ? x.code : undefined;
  if (code && (UNREACHED.has(code) || BROKEN.has(code) || TLS.has(code))) return code;
  if (code && /^(UND_ERR|ERR_SOCKET|ERR_STREAM_PREMATURE)/.test(code)) return code;
  if (x.name === "TimeoutError") return "timeout";
  return networkCode(x.cause, depth + 1);
}

/**
 * `unavailable` (nothing reached), `retryable` (a connection broke) or undefined for
 * anything else, a certificate refusal included (see `networkCode`).
 */
export function networkKind(e: unknown): ErrorKind | undefined {
  const code = networkCode(e);
  if (code === undefined || TLS.has(code)) return undefined;
  return UNREACHED.has(code) || code === "timeout" ? "unavailable" : "retryable";
}

/** Worth another try: a transient failure, throttling or an unreachable storage. */
export function retryable(kind: ErrorKind): boolean {
  return kind === "retryable" || kind === "unavailable" || kind === "throttled";
}

export interface Retrying {
  policy: RetryPolicy;
  classify: Classifier;
  /** A server's requested wait (Retry-After), in ms. */
  retryAfterMs?: (e: unknown) => number | undefined;
}

/**
 * Run `op` until it succeeds, fails with a final kind of error, or the policy's tries
 * are used up (then the last error is thrown). `op` gets the try number, from 1, and
 * whether an earlier try failed in a way that may have applied it (`retryable`: a
 * broken connection, a server error; not `unavailable` or `throttled`).
 */
export async function withRetry<T>(
  r: Retrying,
  op: (attempt: number, mayHaveApplied: boolean) => Promise<T>,
): Promise<T> {
  let mayHaveApplied = false;
  for (let attempt = 1;; attempt++) {
    try {
      return await op(attempt, mayHaveApplied);
    } catch (e) {
      const kind = r.classify(e);
      if (!retryable(kind) || attempt >= r.policy.attempts) throw e;
      mayHaveApplied ||= kind === "retryable";
      await sleep(backoffMs(r.policy, attempt, r.retryAfterMs?.(e)));
    }
  }
}

/**
 * One conditional write as its transport saw it: created, the key existed, or the key
 * existed after the transport itself retried (an SDK's own retry), so an earlier try of
 * this same write may be the one that created it.
 */
export type CreateOutcome = "created" | "exists" | "exists-after-retry";

export interface ExclusiveWrite {
  /** One conditional write of the object, storing `nonce` with it. */
  write(nonce: string): Promise<CreateOutcome>;
  /**
   * Whether the stored object carries `nonce`. Only asked after a retry found the key
   * existing; false when it cannot be told (never "equal bytes": two writers of
   * identical bytes must not both be told they won).
   */
  carries(nonce: string): Promise<boolean>;
}

/**
 * Create-exclusive with retries, answering "did my create land?" once for every
 * backend: a fresh nonce per call travels with every try; when a retried write finds the
 * key existing, the stored object's nonce says whether an earlier try of this call won.
 * Without `retrying` only the transport retries (its outcome says so).
 */
export async function createExclusive(w: ExclusiveWrite, retrying?: Retrying): Promise<boolean> {
  const nonce = crypto.randomUUID();
  const once = async (earlierMayHaveApplied: boolean): Promise<boolean> => {
    const outcome = await w.write(nonce);
    if (outcome === "created") return true;
    const ambiguous = earlierMayHaveApplied || outcome === "exists-after-retry";
    return ambiguous ? await w.carries(nonce) : false;
  };
  if (!retrying) return await once(false);
  return await withRetry(retrying, (_attempt, mayHaveApplied) => once(mayHaveApplied));
}

/** HTTP statuses worth another try: timeouts, throttling, server errors. */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

export interface FetchOptions {
  policy?: RetryPolicy;
  /** Per try, until the response headers arrive. */
  timeoutMs?: number;
  /** Called before every try (request counters count real requests). */
  onTry?: () => void;
}

export interface FetchResult {
  /** The final answer: a non-retryable status, or the last retryable one. */
  response: Response;
  /** An earlier try failed in a way that may still have applied the request. */
  mayHaveApplied: boolean;
}

/**
 * `fetch` with timeouts and retries on network errors, 408, 429 and 5xx. Only for
 * requests whose body can be sent again (bytes or a string). Throws the last network
 * error when every try failed without an answer.
 */
export async function fetchWithRetry(
  url: string,
  init: RequestInit,
  opts: FetchOptions = {},
): Promise<FetchResult> {
  const policy = opts.policy ?? DEFAULT_RETRY;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  let mayHaveApplied = false;
  for (let attempt = 1;; attempt++) {
    opts.onTry?.();
    const ctl = new AbortController();
    const timer = setTimeout(
      () => ctl.abort(new DOMException(`no answer within ${timeoutMs / 1000}s`, "TimeoutError")),
      timeoutMs,
    );
    let res: Response | undefined;
    let err: unknown;
    try {
      fetchUsed();
      res = await fetch(url, { ...init, signal: ctl.signal });
    } catch (e) {
      err = e;
    } finally {
      clearTimeout(timer);
    }
    if (res && !retryableStatus(res.status)) return { response: res, mayHaveApplied };
    if (attempt >= policy.attempts) {
      if (res) return { response: res, mayHaveApplied };
      throw err;
    }
    // 429 is a refusal; a lost connection or a server error may have applied the request.
    if (!res || res.status !== 429) mayHaveApplied = true;
    const retryAfter = res ? parseRetryAfter(res.headers.get("retry-after")) : undefined;
    await res?.body?.cancel();
    await sleep(backoffMs(policy, attempt, retryAfter));
  }
}

/** The useful tail of a fetch network error ("Connection refused (os error 111)"). */
export function networkReason(e: unknown): string {
  if (e instanceof DOMException && e.name === "TimeoutError") return e.message;
  const cause = e instanceof Error && e.cause instanceof Error ? e.cause.message : undefined;
  const msg = cause ?? (e instanceof Error ? e.message : String(e));
  const tail = msg.split(": ").pop() ?? msg;
  return tail.replace(/\(https?:\/\/[^)]*\)/g, "").trim() || "network error";
}
