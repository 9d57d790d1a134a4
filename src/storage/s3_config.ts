/**
 * S3-family URLs -> one resolved client configuration. Pure (no SDK, env passed in) so
 * every provider form and the credential order can be tested without a network.
 *
 * Precedence for every value: settings (flags, TRUNKS_STORAGE_<NAME>_*, already merged
 * by the caller) > the URL's query > the provider's own environment variables > the
 * provider default. Credentials come as one pair from the first source that has an
 * access key, never mixed across sources.
 */
import type { Settings } from "./backend.ts";
import { maskUrlPasswords } from "./redact.ts";
import { StoreError } from "./store.ts";

export type Env = (name: string) => string | undefined;

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3Config {
  scheme: string;
  bucket: string;
  /** Key prefix inside the bucket, without leading or trailing slash ("" for none). */
  prefix: string;
  /** Custom endpoint; undefined means AWS itself (the SDK picks the regional host). */
  endpoint?: string;
  /** Signing region; undefined lets the SDK's default chain find it (AWS only). */
  region?: string;
  forcePathStyle: boolean;
  /** Undefined means the SDK's default chain (profiles, SSO, IAM roles): AWS only. */
  credentials?: S3Credentials;
  /** Where the credentials came from, for messages ("settings", "R2_ACCESS_KEY_ID", ...). */
  credentialSource: string;
  /** Display form of the location: no secret, endpoint shown when custom. */
  location: string;
  /** Where requests go, for error messages. */
  where: string;
  /** Where the credentials in use are set, to mention when they are wrong. */
  credentialHint: string;
}

/** A source of one key pair: access key, secret key and (optional) session token variables. */
type CredVars = [access: string, secret: string, token?: string];

interface Provider {
  label: string;
  creds: CredVars[];
  /** Env vars naming a custom endpoint, in order. */
  endpointEnv?: string[];
  regionEnv?: string[];
  defaultRegion?: string;
  regionRequired?: boolean;
  /** The provider's endpoint when none is given explicitly. */
  endpoint?(p: { region?: string; accountId?: string }): string;
  /** Region to sign with, when the provider wants a fixed one. */
  signingRegion?: string;
  /** Addressing when no `path-style` setting says otherwise. */
  pathStyle(customEndpoint: boolean): boolean;
  /** Fall back to the AWS SDK's default credential chain (profiles, IAM). */
  defaultChain?: boolean;
}

const AWS_CREDS: CredVars = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"];

export const PROVIDERS: Record<string, Provider> = {
  s3: {
    label: "S3",
    creds: [AWS_CREDS],
    endpointEnv: ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"],
    regionEnv: ["AWS_REGION", "AWS_DEFAULT_REGION"],
    // MinIO and most self-hosted servers accept any region and expect path-style.
    pathStyle: (custom) => custom,
    defaultChain: true,
  },
  r2: {
    label: "Cloudflare R2",
    creds: [["R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"]],
    defaultRegion: "auto",
    endpoint: ({ accountId }) => `https://${accountId}.r2.cloudflarestorage.com`,
    // The account host serves every bucket of the account; path-style needs no per-bucket TLS name.
    pathStyle: () => true,
  },
  tigris: {
    label: "Tigris",
    creds: [
      ["TIGRIS_STORAGE_ACCESS_KEY_ID", "TIGRIS_STORAGE_SECRET_ACCESS_KEY"],
      ["TIGRIS_ACCESS_KEY_ID", "TIGRIS_SECRET_ACCESS_KEY"],
      AWS_CREDS,
    ],
    endpointEnv: ["TIGRIS_STORAGE_ENDPOINT", "TIGRIS_ENDPOINT"],
    defaultRegion: "auto",
    endpoint: () => "https://t3.storage.dev",
    // Newer Tigris buckets are served virtual-hosted only.
    pathStyle: () => false,
  },
  b2: {
    label: "Backblaze B2",
    creds: [
      ["B2_ACCESS_KEY_ID", "B2_SECRET_ACCESS_KEY"],
      ["B2_APPLICATION_KEY_ID", "B2_APPLICATION_KEY"],
    ],
    regionEnv: ["B2_REGION"],
    regionRequired: true,
    endpoint: ({ region }) => `https://s3.${region}.backblazeb2.com`,
    pathStyle: (custom) => custom,
  },
  wasabi: {
    label: "Wasabi",
    creds: [
      ["WASABI_ACCESS_KEY_ID", "WASABI_SECRET_ACCESS_KEY"],
      ["WASABI_ACCESS_KEY", "WASABI_SECRET_KEY"],
    ],
    regionEnv: ["WASABI_REGION"],
    defaultRegion: "us-east-1",
    endpoint: ({ region }) => `https://s3.${region}.wasabisys.com`,
    pathStyle: (custom) => custom,
  },
  spaces: {
    label: "DigitalOcean Spaces",
    creds: [
      ["SPACES_ACCESS_KEY_ID", "SPACES_SECRET_ACCESS_KEY"],
      ["SPACES_KEY", "SPACES_SECRET"],
    ],
    regionEnv: ["SPACES_REGION"],
    regionRequired: true,
    endpoint: ({ region }) => `https://${region}.digitaloceanspaces.com`,
    // Spaces routes by the endpoint's host; the signature is checked with us-east-1.
    signingRegion: "us-east-1",
    pathStyle: (custom) => custom,
  },
};

export const S3_SCHEMES = Object.keys(PROVIDERS);

const BUCKET_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;
const HOST_LABEL_RE = /^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/;

function bad(scheme: string, msg: string): StoreError {
  return new StoreError(`${scheme}: ${msg}`, "invalid-key");
}

function firstEnv(env: Env, names: string[] | undefined): string | undefined {
  for (const n of names ?? []) {
    const v = env(n);
    if (v) return v;
  }
  return undefined;
}

function parseBool(scheme: string, key: string, v: string | undefined): boolean | undefined {
  if (v === undefined || v === "") return undefined;
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw bad(scheme, `--${key} must be true or false, not ${JSON.stringify(v)}`);
}

function checkEndpoint(scheme: string, raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw bad(
      scheme,
      `endpoint ${JSON.stringify(maskUrlPasswords(raw))} is not a URL; use e.g. http://host:9000`,
    );
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw bad(scheme, `endpoint must start with http:// or https://, not ${u.protocol}//`);
  }
  if (u.username || u.password) {
    throw bad(scheme, "endpoint must not contain credentials; use --access-key/--secret-key");
  }
  if (u.search || u.hash) throw bad(scheme, "endpoint must not have a query or fragment");
  return u.toString().replace(/\/+$/, "");
}

function checkLabel(scheme: string, what: string, v: string): string {
  if (!HOST_LABEL_RE.test(v)) throw bad(scheme, `${what} ${JSON.stringify(v)} is not valid`);
  return v;
}

function credentials(
  scheme: string,
  p: Provider,
  settings: Settings,
  env: Env,
): { credentials?: S3Credentials; source: string } {
  const access = settings["access-key"];
  const secret = settings["secret-key"];
  if (access || secret) {
    if (!access || !secret) {
      throw new StoreError(
        `${scheme}: --access-key and --secret-key must be given together`,
        "access-denied",
      );
    }
    const token = settings["session-token"] || undefined;
    return {
      credentials: { accessKeyId: access, secretAccessKey: secret, sessionToken: token },
      source: "settings",
    };
  }
  for (const [a, s, t] of p.creds) {
    const av = env(a);
    if (!av) continue;
    const sv = env(s);
    if (!sv) throw new StoreError(`${scheme}: ${a} is set but ${s} is not`, "access-denied");
    const tv = t ? env(t) || undefined : undefined;
    return { credentials: { accessKeyId: av, secretAccessKey: sv, sessionToken: tv }, source: a };
  }
  if (p.defaultChain) return { source: "the AWS default credential chain" };
  const [a, s] = p.creds[0];
  throw new StoreError(
    `${scheme}: no credentials for ${p.label}; pass --access-key and --secret-key or set ${a} and ${s}`,
    "access-denied",
  );
}

/** Resolve `scheme://bucket/prefix?endpoint=..&region=..` plus settings and env. */
export function resolveS3Config(url: URL, settings: Settings, env: Env): S3Config {
  const scheme = url.protocol.replace(/:$/, "");
  const p = PROVIDERS[scheme];
  if (!p) throw new StoreError(`not an S3-family URL: ${scheme}:`, "unsupported");
  const q = (k: string) => url.searchParams.get(k) || undefined;
  const bucket = decodeURIComponent(url.hostname);
  if (!bucket) throw bad(scheme, `the URL needs a bucket: ${scheme}://BUCKET/path`);
  if (!BUCKET_RE.test(bucket)) throw bad(scheme, `${JSON.stringify(bucket)} is not a bucket name`);
  if (url.port || url.username || url.password) {
    throw bad(
      scheme,
      `${scheme}://BUCKET/path takes no port or user; pass the server with ?endpoint=`,
    );
  }
  const prefix = decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, "");
  if (prefix !== "" && prefix.split("/").some((s) => s === "" || s === "." || s === "..")) {
    throw bad(scheme, `path ${JSON.stringify(prefix)} has an empty, "." or ".." segment`);
  }

  const rawEndpoint = settings.endpoint || q("endpoint") || firstEnv(env, p.endpointEnv);
  let region = settings.region || q("region") || firstEnv(env, p.regionEnv) || p.defaultRegion;
  if (region) region = checkLabel(scheme, "region", region);
  let endpoint = rawEndpoint ? checkEndpoint(scheme, rawEndpoint) : undefined;
  const custom = endpoint !== undefined;
  if (!endpoint && p.endpoint) {
    const accountId = settings["account-id"] || q("account-id") || env("R2_ACCOUNT_ID");
    if (scheme === "r2" && !accountId) {
      throw bad(scheme, "needs the Cloudflare account id: pass --account-id or set R2_ACCOUNT_ID");
    }
    if (p.regionRequired && !region) {
      throw bad(
        scheme,
        `needs a region: pass --region (or ?region= in the URL)${
          p.regionEnv ? ` or set ${p.regionEnv[0]}` : ""
        }`,
      );
    }
    endpoint = p.endpoint({
      region,
      accountId: accountId ? checkLabel(scheme, "account id", accountId) : undefined,
    });
  }
  // Self-hosted servers mostly ignore the region but the signature still needs one.
  if (!region && custom) region = "us-east-1";
  const signing = p.signingRegion && !custom ? p.signingRegion : region;
  const pathStyle = parseBool(scheme, "path-style", settings["path-style"] ?? q("path-style")) ??
    p.pathStyle(custom);
  const cred = credentials(scheme, p, settings, env);

  const path = prefix ? `/${prefix.split("/").map(encodeURIComponent).join("/")}` : "";
  const shown = `${scheme}://${bucket}${path}${custom ? `?endpoint=${queryValue(endpoint!)}` : ""}`;
  return {
    scheme,
    bucket,
    prefix,
    endpoint,
    region: signing,
    forcePathStyle: pathStyle,
    credentials: cred.credentials,
    credentialSource: cred.source,
    location: shown,
    where: endpoint ?? `AWS S3${signing ? ` (${signing})` : ""}`,
    credentialHint: credentialHint(p, cred.source),
  };
}

/** Where to fix the credentials that were actually used. */
function credentialHint(p: Provider, source: string): string {
  if (source === "settings") return "--access-key/--secret-key (or TRUNKS_STORAGE_<NAME>_*)";
  const pair = p.creds.find(([a]) => a === source);
  if (pair) return `${pair[0]}/${pair[1]}`;
  return "the AWS credentials (AWS_PROFILE, ~/.aws/credentials or the instance role)";
}

/** A query value kept readable: `:` and `/` are legal in a query and stay as they are. */
export function queryValue(v: string): string {
  return encodeURIComponent(v).replace(/%3A/gi, ":").replace(/%2F/gi, "/");
}
