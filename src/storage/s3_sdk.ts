/**
 * The AWS SDK as an S3Sender: every configuration the light client (s3_light.ts) leaves
 * to it (the default credential chain, FIPS or dual-stack endpoints, unusual regions)
 * and the multipart operations. Imported only when needed: loading the SDK costs more
 * than an up-to-date fetch's whole work.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { countBytes, countRequest } from "./metrics.ts";
import type { S3Op, S3Sender } from "./s3.ts";
import type { S3Config } from "./s3_config.ts";
import { type S3ClientTuning, withDefaults } from "./s3_tuning.ts";

/** The SDK client for a resolved config: checksums off unless required, counted, retried. */
export function s3Client(cfg: S3Config, tuning: S3ClientTuning = {}): S3Client {
  const t = withDefaults(tuning);
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

// deno-lint-ignore no-explicit-any
const COMMANDS: Record<S3Op, new (input: any) => unknown> = {
  ListObjectsV2: ListObjectsV2Command,
  GetObject: GetObjectCommand,
  HeadObject: HeadObjectCommand,
  PutObject: PutObjectCommand,
  DeleteObject: DeleteObjectCommand,
  CreateMultipartUpload: CreateMultipartUploadCommand,
  UploadPart: UploadPartCommand,
  CompleteMultipartUpload: CompleteMultipartUploadCommand,
  AbortMultipartUpload: AbortMultipartUploadCommand,
};

/** An SDK client as the store's sender. */
export function sdkSender(client: S3Client): S3Sender {
  return {
    // deno-lint-ignore no-explicit-any
    send: (c) => client.send(new COMMANDS[c.op](c.input) as any),
    destroy: () => client.destroy(),
  };
}
