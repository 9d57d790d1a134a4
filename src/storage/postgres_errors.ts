/**
 * Postgres errors: what kind they are for the retry wrapper (`pgKind`), and one line
 * naming what failed and what to do (`pgError`), never the password. Each condition
 * users meet has its own small explainer; the first that recognises the error wins.
 */
import type { PgConfig } from "./postgres_config.ts";
import { scrubCauses, scrubSecrets } from "./redact.ts";
import { type ErrorKind, networkKind } from "./retry.ts";
import { StoreError } from "./store.ts";

export function errCode(e: unknown): string {
  return (e && typeof e === "object" && "code" in e ? String((e as { code: unknown }).code) : "");
}

export function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Our code for a server that asked for the password in clear text without TLS (postgres.ts). */
export const CLEARTEXT_REFUSED = "TRUNKS_CLEARTEXT_PASSWORD";

/** Messages of node-postgres's own connection failures, which carry no code. */
const CONNECTION_LOST =
  /Connection terminated|connection timeout|Client has encountered a connection error/i;

/** The Postgres classifier for the shared retry wrapper (SQLSTATE classes, network codes). */
export function pgKind(e: unknown): ErrorKind {
  const code = errCode(e);
  // 08001/08004: could not connect; 57P03: cannot connect now (starting up).
  if (/^08001$|^08004$|^57P03$/.test(code)) return "unavailable";
  // 08: connection exception; 57P01-02: shutdown; 40001/40P01: serialization, deadlock.
  if (/^08|^57P0[12]$|^40001$|^40P01$/.test(code)) return "retryable";
  if (code === "28P01" || code === "28000" || code === "42501") return "access-denied";
  if (code === "3D000") return "not-found";
  return networkKind(e) ?? (CONNECTION_LOST.test(errMessage(e)) ? "retryable" : "other");
}

/** `database "d" at host:port as user "u"`: how messages name the database. */
export function pgWhere(c: PgConfig): string {
  const host = c.host.startsWith("/") ? `socket ${c.host}` : `${c.host}:${c.port}`;
  return `database "${c.database}" at ${host} as user "${c.user}"`;
}

/** What one failure is, as the explainers see it. */
interface Failure {
  c: PgConfig;
  op: string;
  /** `op key`, or `op` alone. */
  what: string;
  code: string;
  /** The server's message, the password scrubbed. */
  msg: string;
  /** `host:port` */
  server: string;
}

type Explained = [message: string, code: StoreError["code"]] | undefined;

function authFailed(f: Failure): Explained {
  if (
    f.code !== "28P01" && !/password must be a (non-empty )?string|password authentication/i.test(
      f.msg,
    )
  ) return undefined;
  const hint = f.c.password
    ? `check the password from ${f.c.passwordSource}`
    : "no password was given: set --password (or TRUNKS_STORAGE_<NAME>_PASSWORD), " +
      "PGPASSWORD, or a ~/.pgpass line";
  return [
    `postgres: authentication failed for user "${f.c.user}" at ${f.server}; ${hint}`,
    "access-denied",
  ];
}

function cleartext(f: Failure): Explained {
  if (f.code !== CLEARTEXT_REFUSED) return undefined;
  return [
    `postgres: ${f.server} asked for the password in clear text over a connection without ` +
    `TLS; it was not sent: use ?sslmode=require (or verify-full), or have the server use ` +
    `scram-sha-256`,
    "access-denied",
  ];
}

function refused(f: Failure): Explained {
  if (f.code !== "28000") return undefined;
  return [`postgres: ${f.server} refused the connection: ${f.msg}`, "access-denied"];
}

function noDatabase(f: Failure): Explained {
  if (f.code !== "3D000") return undefined;
  return [
    `postgres: database "${f.c.database}" does not exist at ${f.server}; ` +
    `create it (createdb ${f.c.database}) or fix the URL`,
    "not-found-root",
  ];
}

function permissionDenied(f: Failure): Explained {
  if (f.code !== "42501") return undefined;
  const fix = f.op.startsWith("create the trunks tables")
    ? `have an owner run: GRANT CREATE ON SCHEMA "${f.c.schema}" TO "${f.c.user}", or use ?schema= of your own`
    : `grant the user SELECT, INSERT, UPDATE, DELETE on "${f.c.schema}".trunks_objects and trunks_parts`;
  return [
    `postgres: permission denied to ${f.what} in ${pgWhere(f.c)} (${f.msg}); ${fix}`,
    "access-denied",
  ];
}

function statementTimeout(f: Failure): Explained {
  if (f.code !== "57014") return undefined;
  return [
    `postgres: ${f.what} did not finish within the statement timeout (${
      f.c.statementTimeoutMs / 1000
    }s; ?statement_timeout= to change)`,
    "io",
  ];
}

function noTls(f: Failure): Explained {
  if (!/does not support SSL/i.test(f.msg)) return undefined;
  return [
    `postgres: ${f.server} does not accept TLS but sslmode=${f.c.sslmode} requires it`,
    "unreachable",
  ];
}

function unreachable(f: Failure, e: unknown): Explained {
  const kind = pgKind(e);
  if (kind !== "unavailable" && kind !== "retryable") return undefined;
  return [
    `postgres: cannot reach ${f.server} (${
      f.code || f.msg
    }); check the host and port and that the server is running`,
    "unreachable",
  ];
}

function connectFailed(f: Failure): Explained {
  if (f.op !== "connect") return undefined;
  return [
    `postgres: cannot connect to ${pgWhere(f.c)}: ${f.msg}${f.code ? ` (${f.code})` : ""}`,
    /certificate|self.signed|TLS|SSL/i.test(f.msg) ? "access-denied" : "unreachable",
  ];
}

const EXPLAINERS = [
  cleartext,
  authFailed,
  refused,
  noDatabase,
  permissionDenied,
  statementTimeout,
  noTls,
  unreachable,
  connectFailed,
];

/** One line naming what failed and what to do; a StoreError passes through. */
export function pgError(e: unknown, c: PgConfig, op: string, key: string): StoreError {
  if (e instanceof StoreError) return e;
  scrubCauses(e, [c.password]);
  // Defence in depth: server messages carry no passwords, a proxy's or a library's might.
  const msg = scrubSecrets(errMessage(e), [c.password]);
  const f: Failure = {
    c,
    op,
    what: key ? `${op} ${key}` : op,
    code: errCode(e),
    msg,
    server: `${c.host}:${c.port}`,
  };
  for (const explain of EXPLAINERS) {
    const found = explain(f, e);
    if (found) return new StoreError(found[0], found[1], { cause: e });
  }
  return new StoreError(
    `postgres: ${f.what} in ${pgWhere(c)} failed: ${msg}${f.code ? ` (${f.code})` : ""}`,
    "io",
    { cause: e },
  );
}
