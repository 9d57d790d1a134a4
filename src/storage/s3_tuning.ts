/** Timeouts and tries of S3 requests: one set of defaults for the light client and the SDK. */
export interface S3ClientTuning {
  /** Total tries per request (first + retries) for 5xx, throttling and network errors. */
  maxAttempts?: number;
  /** Time to establish a TCP/TLS connection (ms). */
  connectionTimeout?: number;
  /** Time until the response headers arrive, upload included (ms). */
  requestTimeout?: number;
  /** Longest idle gap on an open socket, e.g. a stalled download (ms). */
  socketTimeout?: number;
}

export const DEFAULT_TUNING: Required<S3ClientTuning> = {
  maxAttempts: 5,
  connectionTimeout: 10_000,
  requestTimeout: 120_000,
  socketTimeout: 120_000,
};

/** Fills the tuning's gaps with the defaults. */
export function withDefaults(tuning: S3ClientTuning): Required<S3ClientTuning> {
  const t = { ...DEFAULT_TUNING };
  for (const [k, v] of Object.entries(tuning)) {
    if (v !== undefined) t[k as keyof S3ClientTuning] = v;
  }
  return t;
}
