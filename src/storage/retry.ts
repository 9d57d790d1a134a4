/**
 * Retry timing for cloud backends: exponential backoff with full jitter (AWS
 * architecture blog), so many clients hitting one throttled service spread out.
 */

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
