/**
 * AWS SDK errors -> one-line StoreErrors that say what was wrong and what to do.
 * Duck-typed on `name`, `$metadata` and `code`, so it works for every S3-compatible
 * server's spelling and is testable without the SDK. Messages never carry a secret:
 * only fixed text, the bucket, key, endpoint and region, and as a last resort the
 * server's first message line with known secrets scrubbed.
 */
import { scrubCauses, serverText } from "./redact.ts";
import { networkCode } from "./retry.ts";
import { StoreError } from "./store.ts";

/** What an S3 SDK error looks like, as far as this module cares. */
export interface S3ErrorLike {
  name?: string;
  message?: string;
  code?: string;
  cause?: unknown;
  Code?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
  $response?: { headers?: Record<string, string | undefined> };
}

export interface ErrorContext {
  scheme: string;
  bucket: string;
  /** Endpoint or "AWS S3 (region)". */
  where: string;
  region?: string;
  /** The flags/env names that hold the credentials, for hints. */
  credentialHint: string;
  /** Values that must never appear in a message (secret key, session token). */
  secrets: string[];
  op: string;
  key?: string;
}

export function errorName(e: unknown): string {
  const x = e as S3ErrorLike | undefined;
  return x?.name ?? x?.Code ?? "";
}

export function httpStatus(e: unknown): number | undefined {
  return (e as S3ErrorLike | undefined)?.$metadata?.httpStatusCode;
}

/** Requests the SDK made for the failed call (1 when it never retried). */
export function attempts(e: unknown): number {
  return (e as S3ErrorLike | undefined)?.$metadata?.attempts ?? 1;
}

function header(e: unknown, name: string): string | undefined {
  const h = (e as S3ErrorLike | undefined)?.$response?.headers;
  if (!h) return undefined;
  for (const [k, v] of Object.entries(h)) if (k.toLowerCase() === name) return v;
  return undefined;
}

/** The StoreError to throw for an SDK error (a StoreError passes through unchanged). */
export function s3Error(e: unknown, c: ErrorContext): StoreError {
  if (e instanceof StoreError) return e;
  scrubCauses(e, c.secrets);
  const name = errorName(e);
  const status = httpStatus(e);
  const p = `${c.scheme}:`;
  const bucket = `bucket '${c.bucket}'`;
  const what = c.key ? `${c.op} ${c.key}` : c.op;
  const mk = (msg: string, code: StoreError["code"]) =>
    new StoreError(serverText(msg, c.secrets), code, { cause: e });

  if (name === "NoSuchBucket") {
    return mk(
      `${p} ${bucket} does not exist at ${c.where}; create it or fix --bucket`,
      "not-found-root",
    );
  }
  if (
    name === "PermanentRedirect" || name === "AuthorizationHeaderMalformed" ||
    name === "IllegalLocationConstraintException" || status === 301 ||
    (name === "Redirect" && status === 307)
  ) {
    const actual = header(e, "x-amz-bucket-region");
    const hint = actual
      ? `it is in region '${actual}'; pass --region ${actual}`
      : `pass the bucket's --region (or --endpoint)`;
    return mk(
      `${p} ${bucket} is not in region '${c.region ?? "unset"}' at ${c.where}; ${hint}`,
      "unreachable",
    );
  }
  if (name === "RequestTimeTooSkewed" || name === "RequestExpired") {
    return mk(
      `${p} this machine's clock differs too much from ${c.where}'s; fix the system clock (NTP) and retry`,
      "io",
    );
  }
  if (name === "InvalidAccessKeyId" || name === "InvalidToken" || name === "ExpiredToken") {
    const why = name === "InvalidAccessKeyId"
      ? "the access key is not known"
      : "the session token is invalid or expired";
    return mk(`${p} ${why} at ${c.where}; check ${c.credentialHint}`, "access-denied");
  }
  if (name === "SignatureDoesNotMatch") {
    return mk(
      `${p} the secret key does not match the access key at ${c.where}; check ${c.credentialHint}`,
      "access-denied",
    );
  }
  if (name === "AccessDenied" || name === "Forbidden" || status === 403) {
    return mk(
      `${p} access denied to ${bucket} at ${c.where} (${what}); check the credentials and their permissions`,
      "access-denied",
    );
  }
  if (name === "CredentialsProviderError" || /could not load credentials/i.test(String(e))) {
    return mk(
      `${p} no credentials found; pass --access-key/--secret-key, set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or configure an AWS profile`,
      "access-denied",
    );
  }
  if (/region is missing/i.test((e as Error)?.message ?? "")) {
    return mk(
      `${p} no region for ${bucket}; pass --region or set AWS_REGION`,
      "invalid-key",
    );
  }
  const net = networkCode(e);
  if (net && status === undefined && (net === "ETIMEDOUT" || net === "timeout")) {
    return mk(
      `${p} ${c.where} did not answer in time (${what}) after ${
        attempts(e)
      } attempt(s); check the endpoint and the network`,
      "unreachable",
    );
  }
  if (net && status === undefined) {
    return mk(
      `${p} cannot reach ${c.where} (${net}) after ${
        attempts(e)
      } attempt(s); check --endpoint and that the server is up`,
      "unreachable",
    );
  }
  const msg = (e as Error)?.message ?? String(e);
  const label = [name, status ? `HTTP ${status}` : ""].filter(Boolean).join(", ");
  return mk(
    `${p} ${what} failed at ${c.where}${label ? ` (${label})` : ""}${
      attempts(e) > 1 ? ` after ${attempts(e)} attempts` : ""
    }: ${msg}`,
    "io",
  );
}
