/**
 * OAuth access tokens for the GCS JSON API without Google's SDK: a service-account key
 * signs a JWT (RS256, WebCrypto) exchanged at its token_uri; a gcloud
 * application-default (authorized_user) file uses its refresh token; on Google Cloud
 * the metadata server hands out tokens. Tokens are cached until shortly before expiry.
 */
import type { GcsCredentials } from "./gcs_config.ts";
import { countRequest } from "./metrics.ts";
import { fetchWithRetry, networkReason, type RetryPolicy } from "./retry.ts";
import { serverText } from "./redact.ts";
import { StoreError } from "./store.ts";

export const SCOPE = "https://www.googleapis.com/auth/devstorage.read_write";
const GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token";
/** Refresh this long before a token expires. */
const EARLY_MS = 5 * 60_000;

export interface ServiceAccountKey {
  type: "service_account";
  client_email: string;
  private_key: string;
  private_key_id?: string;
  token_uri?: string;
}

interface AuthorizedUser {
  type: "authorized_user";
  client_id: string;
  client_secret: string;
  refresh_token: string;
  quota_project_id?: string;
}

/** Headers to add to every request; empty for anonymous access. */
export interface Auth {
  /** Whose credentials, for error messages (an email or a source; never a secret). */
  readonly who: string;
  readonly anonymous: boolean;
  headers(): Promise<Record<string, string>>;
  /** What `headers` sends that is a credential: masked in any server text quoted. */
  secrets(): string[];
}

function b64url(data: Uint8Array | string): string {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function pemToDer(pem: string): Uint8Array<ArrayBuffer> {
  const body = pem.replace(/-----(BEGIN|END) [A-Z ]+-----/g, "").replace(/\s+/g, "");
  const bin = atob(body);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The signed assertion a service account exchanges for an access token (RFC 7523). */
export async function signServiceAccountJwt(
  key: ServiceAccountKey,
  nowSec = Math.floor(Date.now() / 1000),
  scope = SCOPE,
): Promise<string> {
  let signer: CryptoKey;
  try {
    signer = await crypto.subtle.importKey(
      "pkcs8",
      pemToDer(key.private_key),
      { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
      false,
      ["sign"],
    );
  } catch {
    throw new StoreError(
      `gcs: the private key of ${key.client_email} is not a PKCS#8 RSA key; download a new JSON key`,
      "access-denied",
    );
  }
  const header: Record<string, string> = { alg: "RS256", typ: "JWT" };
  if (key.private_key_id) header.kid = key.private_key_id;
  const claims = {
    iss: key.client_email,
    scope,
    aud: key.token_uri ?? GOOGLE_TOKEN_URI,
    iat: nowSec,
    exp: nowSec + 3600,
  };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const sig = await crypto.subtle.sign(
    "RSASSA-PKCS1-v1_5",
    signer,
    new TextEncoder().encode(input),
  );
  return `${input}.${b64url(new Uint8Array(sig))}`;
}

interface Token {
  value: string;
  /** When to fetch a new one: well before expiry (clock skew, slow requests). */
  refreshAt: number;
}

/** Caches one token; concurrent callers share a single refresh. */
class TokenAuth implements Auth {
  readonly anonymous = false;
  #token?: Token;
  #pending?: Promise<Token>;

  constructor(
    readonly who: string,
    readonly fetchToken: () => Promise<Token>,
    readonly extra: Record<string, string> = {},
  ) {}

  async headers(): Promise<Record<string, string>> {
    if (!this.#token || Date.now() >= this.#token.refreshAt) {
      this.#pending ??= this.fetchToken().finally(() => this.#pending = undefined);
      this.#token = await this.#pending;
    }
    return { authorization: `Bearer ${this.#token.value}`, ...this.extra };
  }

  secrets(): string[] {
    return this.#token ? [this.#token.value] : [];
  }
}

/** POST a token request; errors name the principal and Google's reason, never a secret. */
async function tokenRequest(
  url: string,
  init: RequestInit,
  who: string,
  op: string,
  retry?: RetryPolicy,
  /** What the request carries that is a credential (an assertion, a refresh token). */
  sent: string[] = [],
): Promise<Token> {
  let res: Response;
  try {
    ({ response: res } = await fetchWithRetry(url, init, {
      policy: retry,
      timeoutMs: 30_000,
      onTry: () => countRequest("gcs", op),
    }));
  } catch (e) {
    throw new StoreError(
      `gcs: cannot reach ${new URL(url).origin} to get an access token for ${who} ` +
        `(${networkReason(e)}); check the network`,
      "unreachable",
    );
  }
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text);
  } catch { /* reported below */ }
  if (!res.ok || typeof body.access_token !== "string") {
    const reason = [body.error, body.error_description].filter((x) => typeof x === "string")
      .join(": ") || `HTTP ${res.status}`;
    // A token endpoint (a key file's own token_uri, a proxy) may echo the request.
    const secrets = [...sent, typeof body.access_token === "string" ? body.access_token : ""];
    throw new StoreError(
      `gcs: could not get an access token for ${who} (${serverText(reason, secrets)}); ` +
        `check that the key is current and not disabled`,
      "access-denied",
    );
  }
  const lifeMs = (typeof body.expires_in === "number" ? body.expires_in : 3600) * 1000;
  // A short-lived token (the metadata server hands out ones it already holds) is still
  // used for half its life rather than refetched on every request.
  return {
    value: body.access_token,
    refreshAt: Date.now() + Math.max(lifeMs - EARLY_MS, lifeMs / 2),
  };
}

export function serviceAccountAuth(key: ServiceAccountKey, retry?: RetryPolicy): Auth {
  const uri = key.token_uri ?? GOOGLE_TOKEN_URI;
  return new TokenAuth(key.client_email, async () => {
    const assertion = await signServiceAccountJwt(key);
    return await tokenRequest(
      uri,
      {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer",
          assertion,
        }).toString(),
      },
      key.client_email,
      "oauth.token",
      retry,
      [assertion],
    );
  });
}

function authorizedUserAuth(u: AuthorizedUser, source: string, retry?: RetryPolicy): Auth {
  const who = `the gcloud user from ${source}`;
  // User credentials bill API quota to a project only when told which one.
  const extra: Record<string, string> = u.quota_project_id
    ? { "x-goog-user-project": u.quota_project_id }
    : {};
  return new TokenAuth(
    who,
    () =>
      tokenRequest(
        GOOGLE_TOKEN_URI,
        {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({
            grant_type: "refresh_token",
            client_id: u.client_id,
            client_secret: u.client_secret,
            refresh_token: u.refresh_token,
          }).toString(),
        },
        who,
        "oauth.token",
        retry,
        [u.client_secret, u.refresh_token],
      ),
    extra,
  );
}

function metadataAuth(host: string, retry?: RetryPolicy): Auth {
  const base = /^https?:\/\//.test(host) ? host : `http://${host}`;
  return new TokenAuth(
    "the VM's service account (metadata server)",
    () =>
      tokenRequest(
        `${base}/computeMetadata/v1/instance/service-accounts/default/token`,
        { headers: { "metadata-flavor": "Google" } },
        "the VM's service account",
        "metadata.token",
        retry,
      ),
  );
}

const anonymous = (who: string): Auth => ({
  who,
  anonymous: true,
  headers: () => Promise.resolve({}),
  secrets: () => [],
});

/** Parse a JSON key file's text into an Auth (the path and source only name it in errors). */
export function authFromJson(
  text: string,
  path: string,
  source: string,
  retry?: RetryPolicy,
): Auth {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text);
  } catch {
    throw new StoreError(
      `gcs: ${path} (from ${source}) is not a JSON key file; download a service-account key ` +
        `or run: gcloud auth application-default login`,
      "access-denied",
    );
  }
  if (json.type === "service_account") {
    if (typeof json.client_email !== "string" || typeof json.private_key !== "string") {
      throw new StoreError(
        `gcs: ${path} (from ${source}) lacks client_email or private_key`,
        "access-denied",
      );
    }
    return serviceAccountAuth(json as unknown as ServiceAccountKey, retry);
  }
  if (json.type === "authorized_user") {
    for (const f of ["client_id", "client_secret", "refresh_token"]) {
      if (typeof json[f] !== "string") {
        throw new StoreError(`gcs: ${path} (from ${source}) lacks ${f}`, "access-denied");
      }
    }
    return authorizedUserAuth(json as unknown as AuthorizedUser, source, retry);
  }
  throw new StoreError(
    `gcs: ${path} (from ${source}) holds a '${String(json.type)}' credential; trunks uses ` +
      `service_account and authorized_user keys (for HMAC keys use ` +
      `s3://bucket?endpoint=https://storage.googleapis.com)`,
    "unsupported",
  );
}

export async function loadAuth(c: GcsCredentials, retry?: RetryPolicy): Promise<Auth> {
  if (c.kind === "none") return anonymous(c.source);
  if (c.kind === "metadata") return metadataAuth(c.host, retry);
  let text: string;
  try {
    text = await Deno.readTextFile(c.path);
  } catch (e) {
    const what = e instanceof Deno.errors.NotFound ? "does not exist" : "cannot be read";
    throw new StoreError(
      `gcs: credentials file ${c.path} (from ${c.source}) ${what}; fix the path`,
      "access-denied",
    );
  }
  return authFromJson(text, c.path, c.source, retry);
}
