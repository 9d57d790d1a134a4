/**
 * What a storage backend declares about itself (after restic's location registry and
 * rclone's fs.Register): its URL schemes, its `storage add` flags and settings, how
 * flags become a root URL, and how to load the module that opens it. Each backend's
 * declaration lives in its own `<name>_backend.ts`; `registry.ts` is only the map.
 */
import type { Store } from "./store.ts";
import { maskUrlPasswords } from "./redact.ts";

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

/** The flag's value, or a one-line error naming it. */
export function requiredFlag(flags: Settings, key: string, backend: string): string {
  const v = flags[key];
  if (!v) throw new Error(`--backend ${backend} needs --${key}`);
  return v;
}

/**
 * A `--url` for a backend whose URLs may carry a password (`user:pw@host`): the password
 * moves into `flags.password` (a secret, kept in the local database only) and the URL
 * keeps no secret. An explicit `--password` wins over one in the URL.
 */
export function urlWithoutPassword(flags: Settings, schemes: string[]): URL {
  let u: URL;
  try {
    u = new URL(flags.url!);
  } catch {
    throw new Error(`--url ${JSON.stringify(maskUrlPasswords(flags.url!))} is not a URL`);
  }
  if (!schemes.includes(u.protocol.replace(/:$/, ""))) {
    throw new Error(
      `--url ${maskUrlPasswords(flags.url!)} is not a ${
        schemes.map((s) => `${s}://`).join(" or ")
      } URL`,
    );
  }
  if (u.password) {
    flags.password ??= decodeURIComponent(u.password);
    u.password = "";
  }
  return u;
}

/** `host` or `host:port`, brackets around IPv6 literals. */
export function hostPort(host: string, port: string | undefined): string {
  const h = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  if (port !== undefined && !/^\d{1,5}$/.test(port)) {
    throw new Error(`--port ${JSON.stringify(port)} is not a port number`);
  }
  return port ? `${h}:${port}` : h;
}

/** `a/b c` -> `a/b%20c`: path segments of a flag, each encoded, empty ones dropped. */
export const pathSegments = (p: string | undefined): string =>
  (p ?? "").split("/").filter(Boolean).map(encodeURIComponent).join("/");
