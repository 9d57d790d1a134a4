/**
 * `azure://account/container/path` plus settings and environment -> where to connect
 * and with which credential. Pure (no SDK, no I/O) so precedence is unit-tested.
 */
import type { Settings } from "./backend.ts";
import { maskUrlPasswords } from "./redact.ts";
import { StoreError } from "./store.ts";

/** Azurite's published development account (the emulator's default, not a secret). */
export const DEV_ACCOUNT = "devstoreaccount1";
export const DEV_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export type AzureAuth =
  | { kind: "shared-key"; account: string; key: string; source: string }
  | { kind: "sas"; token: string; source: string }
  | { kind: "anonymous"; source: string };

export interface AzureConfig {
  account: string;
  container: string;
  /** Key prefix inside the container: "" or ending in "/". */
  prefix: string;
  /** The account's blob service URL, without a trailing slash. */
  endpoint: string;
  auth: AzureAuth;
  /** Display form: the URL without secrets. */
  location: string;
}

export type Env = (name: string) => string | undefined;

const ACCOUNT_RE = /^[a-z0-9]{3,24}$/;
const CONTAINER_RE = /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/;

function fail(msg: string): never {
  throw new StoreError(`azure: ${msg}`, "invalid-key");
}

/** `Key=Value;...` as in the Azure portal; values may contain `=` (base64 keys). */
export function parseConnectionString(cs: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of cs.split(";")) {
    const p = part.trim();
    if (!p) continue;
    const eq = p.indexOf("=");
    if (eq <= 0) fail("malformed connection string: expected Key=Value pairs separated by ';'");
    out[p.slice(0, eq).trim().toLowerCase()] = p.slice(eq + 1).trim();
  }
  return out;
}

/**
 * `shown`: whether the value may be quoted. A connection string's BlobEndpoint may not: a
 * missing `;` glues the next pair, AccountKey or SharedAccessSignature, into it.
 */
function cleanEndpoint(raw: string, what: string, shown = true): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    fail(
      `${what}${
        shown ? ` ${JSON.stringify(maskUrlPasswords(raw))}` : ""
      } is not a URL; expected e.g. http://127.0.0.1:10000/${DEV_ACCOUNT}`,
    );
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    fail(`${what} must be an http(s) URL, got ${u.protocol}`);
  }
  if (u.username || u.password) fail(`${what} must not contain credentials`);
  return `${u.origin}${u.pathname.replace(/\/+$/, "")}`;
}

function stripSas(token: string): string {
  return token.replace(/^\?/, "");
}

interface FromConnectionString {
  account?: string;
  endpoint?: string;
  auth: AzureAuth;
}

function fromConnectionString(cs: string, source: string): FromConnectionString {
  const kv = parseConnectionString(cs);
  if (kv.usedevelopmentstorage?.toLowerCase() === "true") {
    return {
      account: DEV_ACCOUNT,
      endpoint: `http://127.0.0.1:10000/${DEV_ACCOUNT}`,
      auth: { kind: "shared-key", account: DEV_ACCOUNT, key: DEV_KEY, source },
    };
  }
  const account = kv.accountname?.toLowerCase();
  let endpoint = kv.blobendpoint
    ? cleanEndpoint(kv.blobendpoint, "the connection string's BlobEndpoint", false)
    : undefined;
  if (!endpoint && account) {
    const proto = (kv.defaultendpointsprotocol ?? "https").toLowerCase();
    endpoint = `${proto}://${account}.blob.${kv.endpointsuffix ?? "core.windows.net"}`;
  }
  // The SDK's own order: an account key wins over a SAS in the same string.
  if (kv.accountkey) {
    if (!account) fail(`the connection string from ${source} has AccountKey but no AccountName`);
    return { account, endpoint, auth: { kind: "shared-key", account, key: kv.accountkey, source } };
  }
  if (kv.sharedaccesssignature) {
    return {
      account,
      endpoint,
      auth: { kind: "sas", token: stripSas(kv.sharedaccesssignature), source },
    };
  }
  fail(`the connection string from ${source} has neither AccountKey nor SharedAccessSignature`);
}

/**
 * Credential precedence: settings (connection-string, account-key, sas-token), then the
 * environment (AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_ACCOUNT + AZURE_STORAGE_KEY,
 * AZURE_STORAGE_SAS_TOKEN), then anonymous (public containers can still be read).
 * Endpoint: the `endpoint` setting, then `?endpoint=`, then a connection string's
 * BlobEndpoint, then https://<account>.blob.core.windows.net.
 */
export function azureConfig(
  url: URL,
  settings: Settings,
  env: Env = (n) => Deno.env.get(n),
): AzureConfig {
  const account = url.hostname.toLowerCase();
  const parts = decodeURIComponent(url.pathname).split("/").filter((p) => p !== "");
  const container = parts.shift() ?? "";
  if (!ACCOUNT_RE.test(account)) {
    fail(
      `storage account ${
        JSON.stringify(account)
      } is not valid (3-24 lowercase letters and digits); ` +
        `expected azure://account/container/path`,
    );
  }
  if (!CONTAINER_RE.test(container)) {
    fail(
      `container ${
        JSON.stringify(container)
      } is not valid (3-63 lowercase letters, digits, single ` +
        `hyphens); expected azure://${account}/container/path`,
    );
  }
  const prefix = parts.length ? `${parts.join("/")}/` : "";

  let cs: FromConnectionString | undefined;
  let auth: AzureAuth;
  const csSetting = settings["connection-string"];
  const csEnv = env("AZURE_STORAGE_CONNECTION_STRING");
  const envAccount = env("AZURE_STORAGE_ACCOUNT")?.toLowerCase();
  const envKey = env("AZURE_STORAGE_KEY");
  const envSas = env("AZURE_STORAGE_SAS_TOKEN");
  if (csSetting) {
    cs = fromConnectionString(csSetting, "--connection-string");
    auth = cs.auth;
  } else if (settings["account-key"]) {
    auth = { kind: "shared-key", account, key: settings["account-key"], source: "--account-key" };
  } else if (settings["sas-token"]) {
    auth = { kind: "sas", token: stripSas(settings["sas-token"]), source: "--sas-token" };
  } else if (csEnv) {
    cs = fromConnectionString(csEnv, "AZURE_STORAGE_CONNECTION_STRING");
    auth = cs.auth;
  } else if (envKey && (!envAccount || envAccount === account)) {
    auth = { kind: "shared-key", account, key: envKey, source: "AZURE_STORAGE_KEY" };
  } else if (envKey) {
    fail(
      `AZURE_STORAGE_ACCOUNT is '${envAccount}' but the URL names account '${account}'; ` +
        `fix one of them or pass --account-key`,
    );
  } else if (envSas) {
    auth = { kind: "sas", token: stripSas(envSas), source: "AZURE_STORAGE_SAS_TOKEN" };
  } else {
    auth = { kind: "anonymous", source: "no credentials" };
  }
  if (cs?.account && cs.account !== account) {
    fail(
      `the connection string from ${auth.source} is for account '${cs.account}' but the URL ` +
        `names '${account}'; fix the URL or the connection string`,
    );
  }

  const endpointSetting = settings.endpoint ?? url.searchParams.get("endpoint") ?? undefined;
  const endpoint = endpointSetting
    ? cleanEndpoint(endpointSetting, "endpoint")
    : cs?.endpoint ?? `https://${account}.blob.core.windows.net`;

  const loc = new URL(`azure://${account}/${container}/${prefix}`);
  if (endpointSetting) loc.searchParams.set("endpoint", endpoint);
  return { account, container, prefix, endpoint, auth, location: loc.toString() };
}
