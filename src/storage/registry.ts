/**
 * URL -> Store: a map from scheme to the backend that declared it (backends.ts lists
 * them; each declares its own flags and settings in `<name>_backend.ts`). Backend modules
 * are imported lazily, so a command that never touches S3, Azure or GCS never loads
 * their SDKs (start-up time of the single binary).
 */
import type { BackendSpec, Settings } from "./backend.ts";
import { BACKENDS } from "./backends.ts";
import { maskUrlPasswords } from "./redact.ts";
import { type Store, StoreError } from "./store.ts";
import { refuseDotSegments } from "./trunk_url.ts";
import { ALIAS_SCHEMES, expandStoreUrl } from "./url_alias.ts";

export type { BackendSpec, Opener, Settings, SettingSpec } from "./backend.ts";
export { requiredFlag } from "./backend.ts";

const backends = new Map<string, BackendSpec>();

export function registerBackend(spec: BackendSpec): void {
  for (const s of spec.schemes) backends.set(s, spec);
}

export function backendSpec(scheme: string): BackendSpec | undefined {
  return backends.get(scheme.replace(/:$/, ""));
}

export function knownSchemes(): string[] {
  return [...backends.keys()].sort();
}

/** Every secret setting key of every backend (for masking and for leak checks). */
export function secretKeys(): Set<string> {
  const out = new Set<string>();
  for (const b of backends.values()) for (const s of b.settings) if (s.secret) out.add(s.key);
  return out;
}

for (const spec of BACKENDS) registerBackend(spec);

/**
 * A storage URL in its backend's own form: aliases (`minio://`, `nfs://`, `smb://`, see
 * url_alias.ts) rewritten, anything else unchanged. Entry points call this once on what
 * the user gave, so the saved and shown URL is the one every machine uses.
 */
export function canonicalStoreUrl(url: string): string {
  try {
    return expandStoreUrl(url);
  } catch (e) {
    throw new StoreError((e as Error).message, "invalid-key");
  }
}

/** Parse a storage URL (aliases expanded), with errors that say what to do. */
export function parseStoreUrl(url: string): URL {
  if (url.includes("\0")) throw new StoreError("storage URL contains a NUL byte", "invalid-key");
  url = canonicalStoreUrl(url);
  try {
    refuseDotSegments(url, redactUrl(url));
  } catch (e) {
    throw new StoreError((e as Error).message, "invalid-key");
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new StoreError(
      `malformed storage URL ${
        JSON.stringify(redactUrl(url))
      }: expected scheme://location, e.g. local:///srv/store`,
      "invalid-key",
    );
  }
  const scheme = u.protocol.replace(/:$/, "");
  if (!backends.has(scheme)) {
    throw new StoreError(
      `unknown storage scheme "${scheme}:" in ${redactUrl(url)}; known: ${
        knownSchemes().join(", ")
      } (and the aliases ${ALIAS_SCHEMES.join(", ")})`,
      "unsupported",
    );
  }
  return u;
}

/**
 * Start loading the code of `url`'s backend, so it loads while the caller waits on other
 * work (the remote helper's `git rev-parse`); `openStore` then finds it loaded. A URL of
 * no known scheme loads nothing, and a failure is left for `openStore` to report.
 */
export function preloadBackend(url: string): void {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1].toLowerCase();
  backends.get(scheme ?? "")?.load().catch(() => {});
}

export async function openStore(url: string, settings: Settings = {}): Promise<Store> {
  const u = parseStoreUrl(url);
  const open = await backends.get(u.protocol.replace(/:$/, ""))!.load();
  return await open(u, settings);
}

/** `AccountKey`, `account_key`, `ACCOUNT-KEY`: one spelling to compare. */
function squash(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, "");
}

/**
 * Whether a URL query parameter carries a credential: some backend's secret setting in
 * any spelling (`accountKey`, `secret_key`: what a user copies from a provider's own
 * docs), or a name that says so. Not any name containing "key": `key-file` or libpq's
 * `sslkey` name files, not secrets.
 */
export function isSecretParam(name: string): boolean {
  const n = squash(name);
  for (const k of secretKeys()) if (squash(k) === n) return true;
  return /secret|password|passwd|passphrase|token|credential|signature|^sig$|^pwd$|accountkey|apikey|privatekey|connectionstring/
    .test(n);
}

/** The credentials a URL carries ("a password", secret parameter names); empty when none. */
export function secretsInUrl(u: URL): string[] {
  const found = [...new Set(u.searchParams.keys())].filter(isSecretParam);
  for (const [k, v] of u.searchParams) {
    if (isSecretParam(k)) continue;
    if (innerUrlWithPassword(v)) found.push(`a password in ${k}=`);
    else if (CONNECTION_STRING_SECRET.test(v)) found.push(`a connection string's key in ${k}=`);
  }
  if (u.password) found.unshift("a password");
  return [...new Set(found)];
}

/**
 * Why `url` may not be saved or used as given, or null: it carries a credential, and a
 * URL is saved in git config and the local database and shown in process lists and
 * output. The one refusal every entry point gives (the remote helper, a saved storage).
 */
export function secretInUrlProblem(url: string): string | null {
  let found: string[];
  try {
    found = secretsInUrl(new URL(url));
  } catch {
    return null; // not a URL: whoever parses it says so
  }
  if (found.length === 0) return null;
  return `${redactUrl(url)} carries a secret (${
    found.join(", ")
  }); URLs are saved in git config and visible to other processes, so set it with TRUNKS_STORAGE_<NAME>_<KEY>, trunks storage add, or the provider's variables`;
}

/**
 * A query value that is itself a URL with a password (`endpoint=http://u:pw@h`), or
 * one that does not parse but reads as one (`http://u:pw?x@h`).
 */
function innerUrlWithPassword(value: string): boolean {
  try {
    return new URL(value).password !== "";
  } catch {
    return maskUrlPasswords(value) !== value;
  }
}

/** An Azure connection string given as a value (`?cs=AccountName=a;AccountKey=...`). */
const CONNECTION_STRING_SECRET = /(^|;)\s*(AccountKey|SharedAccessSignature)\s*=/i;

/** The URL with any password or secret query parameter masked. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    // Piece by piece, so what needs no mask is shown exactly as given.
    const pieces = u.search.replace(/^\?/, "").split("&").map((piece) => {
      const at = piece.indexOf("=");
      const rawKey = at < 0 ? piece : piece.slice(0, at);
      let key: string, value: string;
      try {
        key = decodeURIComponent(rawKey.replace(/\+/g, " "));
        value = decodeURIComponent(piece.slice(at + 1).replace(/\+/g, " "));
      } catch {
        return piece;
      }
      if (at < 0) return piece;
      if (isSecretParam(key) || CONNECTION_STRING_SECRET.test(value)) return `${rawKey}=***`;
      if (innerUrlWithPassword(value)) {
        const masked = maskUrlPasswords(value);
        return `${rawKey}=${masked.replace(/[%&#+ ]/g, encodeURIComponent)}`;
      }
      return piece;
    });
    if (u.search) u.search = pieces.join("&");
    return u.toString();
  } catch {
    return maskUrlPasswords(url);
  }
}
