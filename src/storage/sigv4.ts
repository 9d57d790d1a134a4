/**
 * AWS Signature Version 4 for S3 requests: what the light S3 client (s3_light.ts) signs its
 * requests with. Pure apart from the key cache, so it is checked against AWS's published
 * examples without a network (tests/unit/sigv4_test.ts). The signature is computed at once
 * (sha256.ts), so a request is sent in the turn it is made; bodies are hashed by WebCrypto.
 */
import { hmacSha256, sha256 } from "./sha256.ts";

export interface SigningCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface SignInput {
  method: string;
  /** The host header as sent (`URL.host`: the port only when not the default). */
  host: string;
  /** The path exactly as sent, already percent-encoded (see `encodeKeyPath`). */
  path: string;
  /** Query parameters, not encoded. */
  query?: [string, string][];
  /** Headers to sign besides host (any case); every one given is signed. */
  headers: Record<string, string>;
  /** Hex SHA-256 of the body (`EMPTY_SHA256` for none). */
  payloadHash: string;
  region: string;
  service?: string;
  /** `YYYYMMDDTHHMMSSZ`. */
  amzDate: string;
  credentials: SigningCredentials;
}

export const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const enc = new TextEncoder();

/** RFC 3986 encoding (unreserved characters kept), as SigV4 wants every name and value. */
export function encodeRfc3986(s: string): string {
  return encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** An object key as an S3 path: each segment encoded, the slashes kept. */
export function encodeKeyPath(key: string): string {
  return key.split("/").map(encodeRfc3986).join("/");
}

/** `a=b&c=d` sorted by name then value, encoded: the canonical form, also sent as is. */
export function canonicalQuery(query: [string, string][] = []): string {
  return query.map(([k, v]) => [encodeRfc3986(k), encodeRfc3986(v)])
    .sort(([a, x], [b, y]) => a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0)
    .map(([k, v]) => `${k}=${v}`).join("&");
}

/** `20130524T000000Z` for a date (cut from its ISO form: no regular expression to compile). */
export function amzDate(d: Date): string {
  const iso = d.toISOString(); // 2013-05-24T00:00:00.000Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 13)}${iso.slice(14, 16)}${
    iso.slice(17, 19)
  }Z`;
}

function hex(buf: ArrayBuffer | Uint8Array): string {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string" ? enc.encode(data) : data;
  return hex(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
}

function hmac(key: Uint8Array, msg: string): Uint8Array {
  return hmacSha256(key, enc.encode(msg));
}

/** Signing keys by secret, day, region and service: four HMACs saved on every request. */
const keys = new Map<string, Uint8Array>();

function signingKey(secret: string, day: string, region: string, service: string): Uint8Array {
  const id = `${day}/${region}/${service}/${secret}`;
  let k = keys.get(id);
  if (!k) {
    if (keys.size > 16) keys.clear();
    const kDate = hmac(enc.encode(`AWS4${secret}`), day);
    k = hmac(hmac(hmac(kDate, region), service), "aws4_request");
    keys.set(id, k);
  }
  return k;
}

/**
 * The headers to add to the request: `authorization`, plus `x-amz-date`,
 * `x-amz-content-sha256` and `x-amz-security-token` (when there is a session token), all
 * of them signed with the given ones.
 */
export function signV4(i: SignInput): Record<string, string> {
  const service = i.service ?? "s3";
  const added: Record<string, string> = {
    "x-amz-date": i.amzDate,
    "x-amz-content-sha256": i.payloadHash,
  };
  if (i.credentials.sessionToken) added["x-amz-security-token"] = i.credentials.sessionToken;
  const all = new Map<string, string>([["host", i.host]]);
  for (const [k, v] of Object.entries({ ...i.headers, ...added })) {
    all.set(k.toLowerCase(), v.trim().replace(/ +/g, " "));
  }
  const names = [...all.keys()].sort();
  const signedHeaders = names.join(";");
  const canonical = [
    i.method,
    i.path,
    canonicalQuery(i.query),
    names.map((n) => `${n}:${all.get(n)}\n`).join(""),
    signedHeaders,
    i.payloadHash,
  ].join("\n");
  const day = i.amzDate.slice(0, 8);
  const scope = `${day}/${i.region}/${service}/aws4_request`;
  const toSign = `AWS4-HMAC-SHA256\n${i.amzDate}\n${scope}\n${hex(sha256(enc.encode(canonical)))}`;
  const key = signingKey(i.credentials.secretAccessKey, day, i.region, service);
  const signature = hex(hmac(key, toSign));
  return {
    ...added,
    authorization: `AWS4-HMAC-SHA256 Credential=${i.credentials.accessKeyId}/${scope}, ` +
      `SignedHeaders=${signedHeaders}, Signature=${signature}`,
  };
}
