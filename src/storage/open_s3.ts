/**
 * Opens `s3://`, `r2://`, `tigris://`, `b2://`, `wasabi://`, `spaces://` URLs. Loaded
 * lazily by the registry, so the AWS SDK is only imported when such a URL is opened.
 */
import { S3Client } from "@aws-sdk/client-s3";
import { countBytes, countRequest } from "./metrics.ts";
import type { Settings } from "./backend.ts";
import { S3Store, type S3StoreOptions } from "./s3.ts";
import { type Env, resolveS3Config, type S3Config } from "./s3_config.ts";
import type { Store } from "./store.ts";

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

const DEFAULTS: Required<S3ClientTuning> = {
  maxAttempts: 5,
  connectionTimeout: 10_000,
  requestTimeout: 120_000,
  socketTimeout: 120_000,
};

/** The SDK client for a resolved config: checksums off unless required, counted, retried. */
export function s3Client(cfg: S3Config, tuning: S3ClientTuning = {}): S3Client {
  const t = { ...DEFAULTS };
  for (const [k, v] of Object.entries(tuning)) {
    if (v !== undefined) t[k as keyof S3ClientTuning] = v;
  }
  const agent = { keepAlive: true, maxSockets: 64 };
  const client = new S3Client({
    region: cfg.region,
    endpoint: cfg.endpoint,
    forcePathStyle: cfg.forcePathStyle,
    credentials: cfg.credentials,
    // The SDK's newer defaults add CRC headers/trailers that many S3-compatible servers reject.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    // Standard mode: exponential backoff with full jitter on 5xx, throttling, network errors.
    retryMode: "standard",
    maxAttempts: t.maxAttempts,
    requestHandler: {
      connectionTimeout: t.connectionTimeout,
      requestTimeout: t.requestTimeout,
      throwOnRequestTimeout: true,
      socketTimeout: t.socketTimeout,
      httpAgent: agent,
      httpsAgent: agent,
    },
  });
  // Below the retry middleware, so every attempt on the wire is counted.
  client.middlewareStack.add(
    (next, context) => (args) => {
      countRequest("s3", (context.commandName ?? "Unknown").replace(/Command$/, ""));
      const body = (args.request as { body?: unknown } | undefined)?.body;
      if (body instanceof Uint8Array) countBytes("up", body.byteLength);
      return next(args);
    },
    { step: "finalizeRequest", priority: "low", name: "trunksRequestCounter" },
  );
  return client;
}

/** Store options (minus the client) for a resolved config. */
export function s3StoreOptions(cfg: S3Config): S3StoreOptions {
  const c = cfg.credentials;
  return {
    bucket: cfg.bucket,
    prefix: cfg.prefix,
    location: cfg.location,
    errors: {
      scheme: cfg.scheme,
      bucket: cfg.bucket,
      where: cfg.where,
      region: cfg.region,
      credentialHint: cfg.credentialHint,
      secrets: c ? [c.secretAccessKey, c.sessionToken ?? ""] : [],
    },
  };
}

const processEnv: Env = (name) => Deno.env.get(name);

export function openS3(url: URL, settings: Settings): Promise<Store> {
  return openS3With(url, settings);
}

/** `openS3` with the environment and client tuning injectable (tests). */
export function openS3With(
  url: URL,
  settings: Settings,
  env: Env = processEnv,
  tuning: S3ClientTuning & Partial<S3StoreOptions> = {},
): Promise<Store> {
  const cfg = resolveS3Config(url, settings, env);
  const { maxAttempts, connectionTimeout, requestTimeout, socketTimeout, ...storeOpts } = tuning;
  const client = s3Client(cfg, { maxAttempts, connectionTimeout, requestTimeout, socketTimeout });
  const singleWriter = settings["single-writer"] === "true";
  return Promise.resolve(
    new S3Store(client, { ...s3StoreOptions(cfg), singleWriter, ...storeOpts }),
  );
}
