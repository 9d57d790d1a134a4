/**
 * `gcs://bucket/path` (or `gs://`) plus settings and environment -> the JSON API
 * endpoint and where credentials come from. No I/O of its own (the environment and
 * file checks are passed in) so precedence is unit-tested.
 */
import type { Settings } from "./backend.ts";
import { maskUrlPasswords } from "./redact.ts";
import { StoreError } from "./store.ts";

export const GCS_API = "https://storage.googleapis.com";

export type GcsCredentials =
  /** A JSON key file: service_account or authorized_user. */
  | { kind: "file"; path: string; source: string }
  /** The GCE / Cloud Run metadata server. */
  | { kind: "metadata"; host: string; source: string }
  /** Anonymous: emulators, or public buckets. */
  | { kind: "none"; source: string };

export interface GcsConfig {
  bucket: string;
  /** Object name prefix: "" or ending in "/". */
  prefix: string;
  /** JSON API base URL without a trailing slash. */
  api: string;
  emulator: boolean;
  credentials: GcsCredentials;
  /** Display form of the URL (never a secret). */
  location: string;
}

export interface GcsEnvironment {
  env(name: string): string | undefined;
  exists(path: string): boolean;
  /** Contents of a small system file, or undefined (used to detect GCE). */
  readText(path: string): string | undefined;
}

export const realEnvironment: GcsEnvironment = {
  env: (n) => Deno.env.get(n),
  exists: (p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  },
  readText: (p) => {
    try {
      return Deno.readTextFileSync(p);
    } catch {
      return undefined;
    }
  },
};

const BUCKET_RE = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;

function fail(msg: string): never {
  throw new StoreError(`gcs: ${msg}`, "invalid-key");
}

function cleanEndpoint(raw: string, what: string): string {
  // STORAGE_EMULATOR_HOST is often host:port without a scheme.
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    fail(
      `${what} ${
        JSON.stringify(maskUrlPasswords(raw))
      } is not a URL; expected e.g. http://127.0.0.1:4443`,
    );
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    fail(`${what} must be an http(s) URL, got ${u.protocol}`);
  }
  if (u.username || u.password) fail(`${what} must not contain credentials`);
  // The JSON API lives at /storage/v1 under the endpoint; accept either form.
  return `${u.origin}${u.pathname.replace(/\/+$/, "").replace(/\/storage\/v1$/, "")}`;
}

function isLoopback(api: string): boolean {
  const h = new URL(api).hostname;
  return h === "localhost" || h === "[::1]" || /^127\./.test(h);
}

/** Application default credentials written by `gcloud auth application-default login`. */
export function adcPath(env: (n: string) => string | undefined): string | undefined {
  const config = env("CLOUDSDK_CONFIG");
  if (config) return `${config}/application_default_credentials.json`;
  if (Deno.build.os === "windows") {
    const appData = env("APPDATA");
    return appData ? `${appData}/gcloud/application_default_credentials.json` : undefined;
  }
  const home = env("HOME");
  return home ? `${home}/.config/gcloud/application_default_credentials.json` : undefined;
}

/** Only where the platform says it is Google's: never probe the network to guess. */
function metadataHost(e: GcsEnvironment): string | undefined {
  const explicit = e.env("GCE_METADATA_HOST");
  if (explicit) return explicit;
  if (e.env("K_SERVICE") || e.env("CLOUD_RUN_JOB") || e.env("FUNCTION_TARGET")) {
    return "metadata.google.internal";
  }
  const product = e.readText("/sys/class/dmi/id/product_name");
  if (product && /Google/.test(product)) return "metadata.google.internal";
  return undefined;
}

/**
 * Endpoint: the `endpoint` setting, then `?endpoint=`, then STORAGE_EMULATOR_HOST, then
 * storage.googleapis.com. An emulator (STORAGE_EMULATOR_HOST, or an http:// or loopback
 * endpoint) gets no credentials unless `credentials-file` is set.
 * Credentials: `credentials-file`, GOOGLE_APPLICATION_CREDENTIALS, the gcloud
 * application-default file, the metadata server when running on Google Cloud, else
 * anonymous (public buckets can still be read).
 */
export function gcsConfig(
  url: URL,
  settings: Settings,
  e: GcsEnvironment = realEnvironment,
): GcsConfig {
  const bucket = url.hostname.toLowerCase();
  if (!BUCKET_RE.test(bucket) || bucket.includes("..")) {
    fail(
      `bucket ${JSON.stringify(bucket)} is not a valid bucket name; expected ` +
        `${url.protocol}//bucket/path`,
    );
  }
  const parts = decodeURIComponent(url.pathname).split("/").filter((p) => p !== "");
  const prefix = parts.length ? `${parts.join("/")}/` : "";

  const explicitEndpoint = settings.endpoint ?? url.searchParams.get("endpoint") ?? undefined;
  const emulatorHost = e.env("STORAGE_EMULATOR_HOST");
  let api = GCS_API;
  let emulator = false;
  if (explicitEndpoint) {
    api = cleanEndpoint(explicitEndpoint, "endpoint");
    emulator = api.startsWith("http:") || isLoopback(api);
  } else if (emulatorHost) {
    api = cleanEndpoint(emulatorHost, "STORAGE_EMULATOR_HOST");
    emulator = true;
  }

  let credentials: GcsCredentials;
  const file = settings["credentials-file"];
  const gac = e.env("GOOGLE_APPLICATION_CREDENTIALS");
  const adc = adcPath((n) => e.env(n));
  const meta = metadataHost(e);
  if (file) {
    credentials = { kind: "file", path: file, source: "--credentials-file" };
  } else if (emulator) {
    credentials = { kind: "none", source: "emulator" };
  } else if (gac) {
    credentials = { kind: "file", path: gac, source: "GOOGLE_APPLICATION_CREDENTIALS" };
  } else if (adc && e.exists(adc)) {
    credentials = { kind: "file", path: adc, source: "application default credentials" };
  } else if (meta) {
    credentials = { kind: "metadata", host: meta, source: "the metadata server" };
  } else {
    credentials = { kind: "none", source: "no credentials" };
  }

  const loc = new URL(`${url.protocol}//${bucket}/${prefix}`);
  if (explicitEndpoint) loc.searchParams.set("endpoint", api);
  return { bucket, prefix, api, emulator, credentials, location: loc.toString() };
}
