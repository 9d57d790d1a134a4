/**
 * `postgres://user@host:port/db/path?sslmode=...` -> connection settings, the way libpq
 * users expect: URL first, then the standard `PG*` variables, then libpq's defaults.
 * The password comes from `--password` (TRUNKS_STORAGE_<NAME>_PASSWORD is applied by the
 * caller), the URL, PGPASSWORD, then the password file (PGPASSFILE or ~/.pgpass).
 */
import type { Settings } from "./backend.ts";
import { StoreError } from "./store.ts";
import { escapeUnsafe } from "./plain_text.ts";

export type Env = (name: string) => string | undefined;

export type SslMode = "disable" | "allow" | "prefer" | "require" | "verify-ca" | "verify-full";
const SSL_MODES: SslMode[] = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];

export interface PgConfig {
  /** Host name, IP, or a Unix socket directory (starts with `/`). */
  host: string;
  port: number;
  user: string;
  database: string;
  password?: string;
  /** Where the password came from, for error hints (never the password itself). */
  passwordSource: string;
  /** Schema holding the trunks tables. */
  schema: string;
  /** Prefix of every key inside the tables: the URL path after the database, plus `/`. */
  prefix: string;
  sslmode: SslMode;
  sslrootcert?: string;
  sslcert?: string;
  sslkey?: string;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  applicationName: string;
  /** Display form: no password. */
  location: string;
}

const QUERY_KEYS = new Set([
  "sslmode",
  "sslrootcert",
  "sslcert",
  "sslkey",
  "schema",
  "host",
  "port",
  "connect_timeout",
  "statement_timeout",
  "application_name",
]);

const IDENT_RE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

function fail(msg: string): never {
  throw new StoreError(`postgres: ${msg}`, "invalid-key");
}

function seconds(v: string | undefined, what: string, dflt: number): number {
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) fail(`${what}=${JSON.stringify(v)} is not a number of seconds`);
  return n * 1000;
}

export function resolvePgConfig(url: URL, settings: Settings, env: Env): PgConfig {
  const q = url.searchParams;
  for (const k of q.keys()) {
    if (/password|secret/i.test(k)) {
      fail(`a password in the URL query is not accepted; use --password or PGPASSWORD`);
    }
    if (!QUERY_KEYS.has(k)) {
      fail(`unknown URL parameter "${k}" (known: ${[...QUERY_KEYS].join(", ")})`);
    }
  }
  const segments = url.pathname.split("/").filter(Boolean).map((s) => decodeURIComponent(s));
  const database = segments[0] ?? env("PGDATABASE");
  if (!database) fail(`the URL names no database: postgres://host/DATABASE[/path]`);
  const prefix = segments.slice(1).map((s) => `${s}/`).join("");

  let host = q.get("host") ?? decodeURIComponent(url.hostname).replace(/^\[(.*)\]$/, "$1");
  if (!host) host = env("PGHOST") ?? "localhost";
  const portText = q.get("port") ?? (url.port || env("PGPORT") || "5432");
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`port ${portText} is not valid`);
  const user = decodeURIComponent(url.username) || env("PGUSER") || env("USER") ||
    env("USERNAME") || "postgres";

  const schema = q.get("schema") ?? "public";
  if (!IDENT_RE.test(schema)) {
    fail(`schema ${JSON.stringify(schema)} must be a plain identifier (letters, digits, _)`);
  }
  const sslmode = (q.get("sslmode") ?? env("PGSSLMODE") ?? "prefer") as SslMode;
  if (!SSL_MODES.includes(sslmode)) {
    fail(`sslmode=${sslmode} is not one of ${SSL_MODES.join(", ")}`);
  }

  let password: string | undefined;
  let passwordSource = "none";
  if (settings.password) {
    password = settings.password;
    passwordSource = "--password (or TRUNKS_STORAGE_<NAME>_PASSWORD)";
  } else if (url.password) {
    password = decodeURIComponent(url.password);
    passwordSource = "the URL";
  } else if (env("PGPASSWORD")) {
    password = env("PGPASSWORD");
    passwordSource = "PGPASSWORD";
  } else {
    const file = env("PGPASSFILE") ?? (env("HOME") ? `${env("HOME")}/.pgpass` : undefined);
    const found = file ? pgpassLookup(file, { host, port, database, user }) : undefined;
    if (found !== undefined) {
      password = found;
      passwordSource = file!;
    }
  }

  const displayHost = host.includes(":") ? `[${host}]` : host;
  const shown = new URL(`postgres://placeholder/`);
  shown.pathname = url.pathname;
  // The host is decoded from the URL: shown escaped (Store.location).
  const location = escapeUnsafe(
    `postgres://${encodeURIComponent(user)}@${host.startsWith("/") ? "" : displayHost}${
      host.startsWith("/") || port === 5432 ? "" : `:${port}`
    }${shown.pathname}${host.startsWith("/") ? `?host=${host}` : ""}`,
  );

  return {
    host,
    port,
    user,
    database,
    password,
    passwordSource,
    schema,
    prefix,
    sslmode,
    sslrootcert: settings.sslrootcert || q.get("sslrootcert") || env("PGSSLROOTCERT") || undefined,
    sslcert: settings.sslcert || q.get("sslcert") || env("PGSSLCERT") || undefined,
    sslkey: settings.sslkey || q.get("sslkey") || env("PGSSLKEY") || undefined,
    connectTimeoutMs: seconds(
      q.get("connect_timeout") ?? env("PGCONNECT_TIMEOUT"),
      "connect_timeout",
      15_000,
    ),
    statementTimeoutMs: seconds(
      q.get("statement_timeout") ?? undefined,
      "statement_timeout",
      300_000,
    ),
    applicationName: q.get("application_name") ?? env("PGAPPNAME") ?? "trunks",
    location,
  };
}

/** One field of a password file line: `\:` and `\\` are escapes, `*` matches anything. */
function splitPgpassLine(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === "\\" && i + 1 < line.length) {
      cur += line[++i];
    } else if (c === ":" && out.length < 4) {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/**
 * The password for a connection from a libpq password file
 * (`hostname:port:database:username:password`), first match wins. Like libpq, a file
 * readable by group or others is ignored, and a socket connection matches `localhost`.
 */
export function pgpassLookup(
  file: string,
  want: { host: string; port: number; database: string; user: string },
): string | undefined {
  let text: string;
  try {
    const st = Deno.statSync(file);
    if (!st.isFile) return undefined;
    if (Deno.build.os !== "windows" && st.mode !== null && (st.mode & 0o077) !== 0) {
      console.error(
        `trunks: warning: password file ${file} has group or world access; ignored (chmod 600 it)`,
      );
      return undefined;
    }
    text = Deno.readTextFileSync(file);
  } catch {
    return undefined;
  }
  const host = want.host.startsWith("/") ? "localhost" : want.host;
  const fields = [host, String(want.port), want.database, want.user];
  for (const raw of text.split(/\r?\n/)) {
    if (!raw.trim() || raw.startsWith("#")) continue;
    const parts = splitPgpassLine(raw);
    if (parts.length < 5) continue;
    if (fields.every((f, i) => parts[i] === "*" || parts[i] === f)) return parts[4];
  }
  return undefined;
}
