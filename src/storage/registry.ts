/**
 * URL -> Store. Backends are imported lazily, so a command that never touches S3,
 * Azure or GCS never loads their SDKs (start-up time of the single binary).
 */
import { type Store, StoreError } from "./store.ts";
import { refuseDotSegments } from "./trunk_url.ts";

/**
 * Options for one storage: non-secret settings (endpoint, region, ...) and secrets
 * (access keys, passwords) already resolved by the caller. Keys are kebab-case, as the
 * CLI flags. Backends fall back to their provider's own environment variables.
 */
export type Settings = Record<string, string | undefined>;

export type Opener = (url: URL, settings: Settings) => Promise<Store>;

/** One option a backend accepts: `--<key>` on `storage add`, `TRUNKS_STORAGE_<NAME>_<KEY>`. */
export interface SettingSpec {
  /** kebab-case, as the CLI flag: `secret-key`, `endpoint`, `key-file`. */
  key: string;
  /** Secrets stay in the local database only, are masked on display, never sent to a store. */
  secret?: boolean;
  help: string;
}

export interface BackendSpec {
  /** URL schemes; the first is the canonical `--backend` name. */
  schemes: string[];
  description: string;
  settings: SettingSpec[];
  /**
   * The storage root URL from `storage add` flags (`--bucket`, `--path`, ...). Throws an
   * Error with a one-line message naming the missing flag.
   */
  rootUrl(flags: Settings): string;
  /**
   * Optional: make a missing root where that is cheap and unambiguous (a local
   * directory). Only `storage add` calls it, so a typo in a URL used later by git never
   * creates a stray tree; a bucket or database is never created.
   */
  ensureRoot?(rootUrl: string): Promise<void>;
  /** Load the module that opens this scheme (lazily: SDKs stay unloaded until used). */
  load: () => Promise<Opener>;
}

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

/** The flag's value, or a one-line error naming it. */
export function requiredFlag(flags: Settings, key: string, backend: string): string {
  const v = flags[key];
  if (!v) throw new Error(`--backend ${backend} needs --${key}`);
  return v;
}

function absolutePath(p: string): string {
  if (p === "~" || p.startsWith("~/")) p = `${Deno.env.get("HOME") ?? ""}${p.slice(1)}`;
  if (!p.startsWith("/") && !/^[A-Za-z]:[\\/]/.test(p)) p = `${Deno.cwd()}/${p}`;
  return p.replace(/\\/g, "/").replace(/\/+$/, "") || "/";
}

registerBackend({
  schemes: ["memory"],
  description: "in-process memory (tests, library)",
  settings: [{ key: "path", help: "name of the in-process space" }],
  rootUrl: (f) => `memory://${f.path ?? "default"}`,
  load: async () => (await import("./open_memory.ts")).openMemory,
});
registerBackend({
  schemes: ["local", "file"],
  description: "local disk or a mounted file share (NFS, SMB)",
  settings: [{ key: "path", help: "directory of the storage root (storage add creates it)" }],
  rootUrl: (f) => `local://${encodeURI(absolutePath(requiredFlag(f, "path", "local")))}`,
  ensureRoot: async (rootUrl) => {
    const u = new URL(rootUrl);
    if (u.host && u.host !== "localhost") return;
    let path = decodeURIComponent(u.pathname);
    if (Deno.build.os === "windows" && /^\/[A-Za-z]:/.test(path)) path = path.slice(1);
    await Deno.mkdir(path, { recursive: true });
  },
  load: async () => (await import("./open_local.ts")).openLocal,
});
registerBackend({
  schemes: ["azure"],
  description: "Azure Blob Storage (and Azurite)",
  settings: [
    { key: "account", help: "storage account name" },
    { key: "container", help: "blob container (must exist)" },
    { key: "prefix", help: "path inside the container" },
    { key: "endpoint", help: "blob service URL (emulators, sovereign clouds)" },
    { key: "connection-string", secret: true, help: "connection string from the portal" },
    { key: "account-key", secret: true, help: "storage account key" },
    { key: "sas-token", secret: true, help: "shared access signature" },
  ],
  rootUrl: (f) => {
    const account = f.account ??
      /(?:^|;)\s*AccountName=([^;]+)/i.exec(f["connection-string"] ?? "")?.[1];
    if (!account) throw new Error("--backend azure needs --account");
    const prefix = (f.prefix ?? "").replace(/^\/+|\/+$/g, "");
    const u = new URL(
      `azure://${account.toLowerCase()}/${requiredFlag(f, "container", "azure")}/${prefix}`,
    );
    if (f.endpoint) u.searchParams.set("endpoint", f.endpoint);
    return u.toString().replace(/\/(\?|$)/, "$1");
  },
  load: async () => (await import("./azure.ts")).openAzure,
});
registerBackend({
  schemes: ["gcs", "gs"],
  description: "Google Cloud Storage (and fake-gcs-server)",
  settings: [
    { key: "bucket", help: "bucket name (must exist)" },
    { key: "prefix", help: "path inside the bucket" },
    { key: "endpoint", help: "JSON API URL (emulators, private endpoints)" },
    {
      key: "credentials-file",
      secret: true,
      help: "service-account or authorized-user JSON key file (kept on this machine only)",
    },
  ],
  rootUrl: (f) => {
    const prefix = (f.prefix ?? "").replace(/^\/+|\/+$/g, "");
    const u = new URL(`gcs://${requiredFlag(f, "bucket", "gcs")}/${prefix}`);
    if (f.endpoint) u.searchParams.set("endpoint", f.endpoint);
    return u.toString().replace(/\/(\?|$)/, "$1");
  },
  load: async () => (await import("./gcs.ts")).openGcs,
});

/**
 * A `--url` for a backend whose URLs may carry a password (`user:pw@host`): the password
 * moves into `flags.password` (a secret, kept in the local database only) and the URL
 * keeps no secret. An explicit `--password` wins over one in the URL.
 */
function urlWithoutPassword(flags: Settings, schemes: string[]): URL {
  let u: URL;
  try {
    u = new URL(flags.url!);
  } catch {
    throw new Error(`--url ${JSON.stringify(redactUrl(flags.url!))} is not a URL`);
  }
  if (!schemes.includes(u.protocol.replace(/:$/, ""))) {
    throw new Error(
      `--url ${redactUrl(flags.url!)} is not a ${schemes.map((s) => `${s}://`).join(" or ")} URL`,
    );
  }
  if (u.password) {
    flags.password ??= decodeURIComponent(u.password);
    u.password = "";
  }
  return u;
}

/** `host` or `host:port`, brackets around IPv6 literals. */
function hostPort(host: string, port: string | undefined): string {
  const h = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  if (port !== undefined && !/^\d{1,5}$/.test(port)) {
    throw new Error(`--port ${JSON.stringify(port)} is not a port number`);
  }
  return port ? `${h}:${port}` : h;
}

const pathSegments = (p: string | undefined): string =>
  (p ?? "").split("/").filter(Boolean).map(encodeURIComponent).join("/");

// Shared by every machine using the storage, so in the URL; certificate and key files are
// paths on this machine and stay in its local settings.
const PG_QUERY = ["schema", "sslmode"];
registerBackend({
  schemes: ["postgres", "postgresql"],
  description: "PostgreSQL (tables created on first use)",
  settings: [
    {
      key: "url",
      help: "postgres://user@host:port/database[/path] (a password in it is kept locally)",
    },
    { key: "host", help: "server host name, or a Unix socket directory" },
    { key: "port", help: "server port (default 5432)" },
    { key: "user", help: "database user (default PGUSER, then the OS user)" },
    { key: "database", help: "database name (must exist)" },
    { key: "path", help: "path inside the database, to keep several roots apart (optional)" },
    { key: "schema", help: "schema for the trunks tables (default public)" },
    { key: "sslmode", help: "disable, allow, prefer (default), require, verify-ca, verify-full" },
    { key: "sslrootcert", help: "CA certificate file for verify-ca / verify-full" },
    { key: "sslcert", help: "client certificate file" },
    { key: "sslkey", help: "client private key file" },
    {
      key: "password",
      secret: true,
      help: "password (else PGPASSWORD or ~/.pgpass); kept in the local database only",
    },
  ],
  rootUrl: (f) => {
    let u: URL;
    if (f.url) {
      u = urlWithoutPassword(f, ["postgres", "postgresql"]);
    } else {
      const host = requiredFlag(f, "host", "postgres");
      const db = requiredFlag(f, "database", "postgres");
      const socket = host.startsWith("/");
      u = new URL(`postgres://${socket ? "" : hostPort(host, f.port)}/`);
      if (f.user) u.username = encodeURIComponent(f.user);
      const rest = pathSegments(f.path);
      u.pathname = `/${encodeURIComponent(db)}${rest ? `/${rest}` : ""}`;
      if (socket) u.searchParams.set("host", host);
      if (socket && f.port) u.searchParams.set("port", f.port);
    }
    for (const k of PG_QUERY) if (f[k]) u.searchParams.set(k, f[k]!);
    return u.toString().replace(/%2F/gi, "/").replace(/\/(\?|$)/, "$1");
  },
  load: async () => (await import("./postgres.ts")).openPostgres,
});
registerBackend({
  schemes: ["sftp"],
  description: "SFTP server (OpenSSH and others)",
  settings: [
    { key: "url", help: "sftp://user@host:port/path (a password in it is kept locally)" },
    { key: "host", help: "server host name" },
    { key: "port", help: "server port (default 22)" },
    { key: "user", help: "login user (default: the local user)" },
    {
      key: "path",
      help: "directory of the storage root on the server (must exist; ~/dir for home)",
    },
    { key: "key-file", help: "private key file (default: ssh-agent, then ~/.ssh/id_*)" },
    { key: "key-passphrase", secret: true, help: "passphrase of --key-file" },
    { key: "password", secret: true, help: "login password; kept in the local database only" },
    { key: "known-hosts", help: "known_hosts file (default ~/.ssh/known_hosts)" },
    {
      key: "host-key",
      help: "accept this host key fingerprint (SHA256:...) even if known_hosts lacks it",
    },
  ],
  rootUrl: (f) => {
    let u: URL;
    if (f.url) {
      u = urlWithoutPassword(f, ["sftp"]);
    } else {
      const host = requiredFlag(f, "host", "sftp");
      const path = requiredFlag(f, "path", "sftp");
      u = new URL(`sftp://${hostPort(host, f.port)}/`);
      if (f.user) u.username = encodeURIComponent(f.user);
      const home = path === "~" || path.startsWith("~/");
      const rest = pathSegments(home ? path.slice(1) : path);
      u.pathname = home ? `/~${rest ? `/${rest}` : ""}` : `/${rest}`;
    }
    return u.toString().replace(/\/$/, "");
  },
  load: async () => (await import("./sftp.ts")).openSftp,
});

// The S3 family: one module, one SDK, loaded only when such a URL is opened.
const s3Settings = (extra: SettingSpec[] = []): SettingSpec[] => [
  { key: "bucket", help: "bucket name" },
  { key: "prefix", help: "path inside the bucket (optional)" },
  ...extra,
  { key: "endpoint", help: "S3 API endpoint URL, e.g. http://127.0.0.1:9000 (MinIO)" },
  { key: "access-key", secret: true, help: "access key id" },
  { key: "secret-key", secret: true, help: "secret access key" },
  { key: "session-token", secret: true, help: "session token (temporary credentials)" },
  { key: "path-style", help: "true/false: path-style addressing (default per provider)" },
  { key: "single-writer", help: "true: accept a store without conditional writes (one writer)" },
];
/** `scheme://bucket/prefix?k=v` from `--bucket --prefix` and the given query flags. */
const bucketUrl = (scheme: string, f: Settings, query: string[], need: string[] = []): string => {
  const bucket = requiredFlag(f, "bucket", scheme);
  for (const k of need) requiredFlag(f, k, scheme);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(bucket)) {
    throw new Error(`--bucket ${JSON.stringify(bucket)} is not a bucket name`);
  }
  const prefix = (f.prefix ?? "").split("/").filter(Boolean).map(encodeURIComponent).join("/");
  // `:` and `/` stay readable in the query (`?endpoint=http://host:9000`); both are legal there.
  const q = query.filter((k) => f[k]).map((k) =>
    `${k}=${encodeURIComponent(f[k]!).replace(/%3A/gi, ":").replace(/%2F/gi, "/")}`
  );
  return `${scheme}://${bucket}${prefix ? `/${prefix}` : ""}${q.length ? `?${q.join("&")}` : ""}`;
};
const regionSetting = (help: string): SettingSpec => ({ key: "region", help });
registerBackend({
  schemes: ["s3"],
  description: "AWS S3, MinIO or any S3 API (--endpoint)",
  settings: s3Settings([regionSetting("AWS region (default: AWS_REGION or profile)")]),
  rootUrl: (f) => bucketUrl("s3", f, ["endpoint", "region"]),
  load: async () => (await import("./open_s3.ts")).openS3,
});
registerBackend({
  schemes: ["r2"],
  description: "Cloudflare R2",
  settings: s3Settings([{ key: "account-id", help: "Cloudflare account id (or R2_ACCOUNT_ID)" }]),
  rootUrl: (f) => bucketUrl("r2", f, ["account-id", "endpoint"]),
  load: async () => (await import("./open_s3.ts")).openS3,
});
registerBackend({
  schemes: ["tigris"],
  description: "Tigris object storage",
  settings: s3Settings(),
  rootUrl: (f) => bucketUrl("tigris", f, ["endpoint"]),
  load: async () => (await import("./open_s3.ts")).openS3,
});
registerBackend({
  schemes: ["b2"],
  description: "Backblaze B2 (S3 API)",
  settings: s3Settings([regionSetting("B2 region, e.g. us-west-004")]),
  rootUrl: (f) => bucketUrl("b2", f, ["region", "endpoint"], ["region"]),
  load: async () => (await import("./open_s3.ts")).openS3,
});
registerBackend({
  schemes: ["wasabi"],
  description: "Wasabi",
  settings: s3Settings([regionSetting("Wasabi region (default us-east-1)")]),
  rootUrl: (f) => bucketUrl("wasabi", f, ["region", "endpoint"]),
  load: async () => (await import("./open_s3.ts")).openS3,
});
registerBackend({
  schemes: ["spaces"],
  description: "DigitalOcean Spaces",
  settings: s3Settings([regionSetting("Spaces region, e.g. nyc3")]),
  rootUrl: (f) => bucketUrl("spaces", f, ["region", "endpoint"], ["region"]),
  load: async () => (await import("./open_s3.ts")).openS3,
});

/** Parse a storage URL, with errors that say what to do. */
export function parseStoreUrl(url: string): URL {
  if (url.includes("\0")) throw new StoreError("storage URL contains a NUL byte", "invalid-key");
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
      }`,
      "unsupported",
    );
  }
  return u;
}

export async function openStore(url: string, settings: Settings = {}): Promise<Store> {
  const u = parseStoreUrl(url);
  const open = await backends.get(u.protocol.replace(/:$/, ""))!.load();
  return await open(u, settings);
}

/**
 * Whether a URL query parameter carries a credential: some backend's secret setting, or
 * a name that says so. Not any name containing "key": `key-file` or libpq's `sslkey`
 * name files, not secrets.
 */
export function isSecretParam(name: string): boolean {
  return secretKeys().has(name) || /secret|password|token|credential|signature|^sig$/i.test(name);
}

/** The credentials a URL carries ("a password", secret parameter names); empty when none. */
export function secretsInUrl(u: URL): string[] {
  const found = [...new Set(u.searchParams.keys())].filter(isSecretParam);
  if (u.password) found.unshift("a password");
  return found;
}

/** The URL with any password or secret query parameter masked. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    for (const k of [...u.searchParams.keys()]) {
      if (isSecretParam(k)) u.searchParams.set(k, "***");
    }
    return u.toString();
  } catch {
    return url.replace(/\/\/([^/@:]*):[^/@]*@/, "//$1:***@");
  }
}
