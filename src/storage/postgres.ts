/**
 * PostgreSQL over `npm:pg`. One table set per schema, shared by every trunk in the
 * database: `trunks_objects` holds one row per key (small values inline), large values
 * are split into `trunks_parts` rows of bounded size, written before the object row so
 * a reader never sees a partial object. `create` is `INSERT ... ON CONFLICT DO NOTHING`:
 * the row count says who won. Everything is parameterised; keys sort with `COLLATE "C"`
 * (byte order).
 */
import pg from "pg";
import { Buffer } from "node:buffer";
import { isIP } from "node:net";
import { fixedParts, limitSize, prepend, sendBounded } from "./bytes.ts";
import { countBytes, countRequest } from "./metrics.ts";
import { type Env, type PgConfig, resolvePgConfig } from "./postgres_config.ts";
import type { Settings } from "./backend.ts";
import {
  CLEARTEXT_REFUSED,
  errCode,
  errMessage,
  pgError,
  pgKind,
  pgWhere,
} from "./postgres_errors.ts";
import {
  createExclusive,
  DEFAULT_RETRY,
  retryable,
  type Retrying,
  type RetryPolicy,
  withRetry,
} from "./retry.ts";
import {
  assertKey,
  type Capabilities,
  type CreatedStamp,
  type ListEntry,
  type PutData,
  type Range,
  type Store,
  StoreError,
} from "./store.ts";

/** Values up to this size are stored inline; larger ones in parts of this size. */
export const PART_SIZE = 4 * 1024 * 1024;
/** Parts written concurrently by one put (memory: about this many parts plus one). */
const PARTS_IN_FLIGHT = 3;
const LIST_PAGE = 1000;
const SCHEMA_VERSION = 1;

// deno-lint-ignore no-explicit-any
type PgPool = any;
// deno-lint-ignore no-explicit-any
type PgClient = any;
/**
 * A client that never sends the password in clear text over a network connection without
 * TLS. A server asking for it so (`password` in pg_hba.conf), or anyone in between who
 * answered `sslmode=prefer`'s (the default's) TLS request with "no", would read it off
 * the wire; SCRAM and MD5 never send it. A Unix socket (a host starting with `/`) is no
 * wire: the server's own socket directory. node-postgres has no option for this (libpq's
 * is require_auth), so the one handler that sends it checks first.
 */
class NoCleartextClient extends pg.Client {
  // deno-lint-ignore no-explicit-any
  _handleAuthCleartextPassword(msg: any): void {
    // deno-lint-ignore no-explicit-any
    const self = this as any;
    const socket = String(self.connectionParameters?.host ?? self.host ?? "").startsWith("/");
    if (!socket && self.connection?.stream?.encrypted !== true) {
      self._handleErrorEvent(
        Object.assign(new Error("the server asked for the password in clear text"), {
          code: CLEARTEXT_REFUSED,
        }),
      );
      self.connection?.end?.();
      return;
    }
    // deno-lint-ignore no-explicit-any
    (pg.Client.prototype as any)._handleAuthCleartextPassword.call(this, msg);
  }
}

interface PgResult<R> {
  rows: R[];
  rowCount: number | null;
}

/**
 * Result parsing for these queries: bytea as bytes (hex text decoded natively; pg's
 * binary result mode decodes rows as UTF-8 and would corrupt them), int8 as a number
 * (sizes stay far below 2^53), everything else as pg parses it.
 */
const textTypes = {
  getTypeParser(oid: number, format?: string) {
    if (oid === 17) {
      return (v: string) => {
        const b = Buffer.from(v.startsWith("\\x") ? v.slice(2) : v, "hex");
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      };
    }
    if (oid === 20) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format ?? "text");
  },
};

/**
 * Values are read as `encode(..., 'base64')`: a third of the text of bytea's hex form,
 * decoded natively (the line breaks PostgreSQL adds are skipped by the decoder).
 */
function fromBase64(b64: string): Uint8Array {
  const b = Buffer.from(b64, "base64");
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** The connection broke or the server is going away: worth another try on a new connection. */
function transient(e: unknown): boolean {
  return retryable(pgKind(e));
}

/** Non-idempotent statements: one try. */
const ONCE: Retrying = {
  policy: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 },
  classify: () => "other",
};

export interface PostgresOptions {
  /** Part size for large values (tests use a small one). */
  partSize?: number;
  retry?: RetryPolicy;
  /** Connections in the pool. */
  poolSize?: number;
}

export class PostgresStore implements Store {
  readonly capabilities: Capabilities;
  readonly location: string;
  #cfg: PgConfig;
  #partSize: number;
  #retrying: Retrying;
  #poolSize: number;
  #pool: PgPool | undefined;
  #tlsOn: boolean;
  #ready: Promise<void> | undefined;
  #closed = false;
  #objects: string;
  #parts: string;

  constructor(cfg: PgConfig, opts: PostgresOptions = {}) {
    this.#cfg = cfg;
    this.#partSize = opts.partSize ?? PART_SIZE;
    this.#retrying = { policy: opts.retry ?? { ...DEFAULT_RETRY, attempts: 3 }, classify: pgKind };
    this.#poolSize = opts.poolSize ?? 8;
    this.location = cfg.location;
    this.capabilities = {
      atomicCreate: true,
      rangeReads: true,
      maxObjectSize: this.#partSize * 2 ** 31,
      parallelism: this.#poolSize,
    };
    this.#objects = `"${cfg.schema}".trunks_objects`;
    this.#parts = `"${cfg.schema}".trunks_parts`;
    // libpq's `allow` starts without TLS, `prefer` with it; both fall back once.
    this.#tlsOn = cfg.sslmode !== "disable" && cfg.sslmode !== "allow";
  }

  #newPool(): PgPool {
    const c = this.#cfg;
    const pool = new pg.Pool({
      Client: NoCleartextClient,
      host: c.host,
      port: c.port,
      user: c.user,
      database: c.database,
      password: c.password ?? "",
      ssl: this.#tlsOn ? this.#tlsOptions() : false,
      max: this.#poolSize,
      idleTimeoutMillis: 10_000,
      connectionTimeoutMillis: c.connectTimeoutMs,
      statement_timeout: c.statementTimeoutMs,
      // Client side too: a server that stops answering must not hang a push forever.
      query_timeout: c.statementTimeoutMs + 30_000,
      application_name: c.applicationName,
      keepAlive: true,
      allowExitOnIdle: true,
    });
    // An idle connection dropped by the server: the next query opens a new one.
    pool.on("error", () => {});
    return pool;
  }

  #tlsOptions(): Record<string, unknown> {
    const c = this.#cfg;
    const read = (p?: string) => p ? Deno.readTextFileSync(p) : undefined;
    const verify = c.sslmode === "verify-ca" || c.sslmode === "verify-full";
    let ca: string | undefined;
    try {
      ca = read(c.sslrootcert ?? (verify ? `${Deno.env.get("HOME")}/.postgresql/root.crt` : ""));
    } catch (e) {
      if (c.sslrootcert) {
        throw new StoreError(
          `postgres: cannot read sslrootcert ${c.sslrootcert}: ${errMessage(e)}`,
          "invalid-key",
        );
      }
    }
    return {
      rejectUnauthorized: verify,
      ca,
      cert: read(c.sslcert),
      key: read(c.sslkey),
      ...(c.sslmode === "verify-ca" ? { checkServerIdentity: () => undefined } : {}),
      // SNI names a host; an IP address (or a socket) has none to send.
      ...(c.host.startsWith("/") || isIP(c.host) ? {} : { servername: c.host }),
    };
  }

  /** Connect, settle TLS, create or check the schema. Memoised; retried after a failure. */
  #init(): Promise<void> {
    if (this.#closed) return Promise.reject(new StoreError("postgres: store is closed", "io"));
    return this.#ready ??= this.#setup().catch((e) => {
      this.#ready = undefined;
      throw e;
    });
  }

  async #setup(): Promise<void> {
    this.#pool ??= this.#newPool();
    try {
      await this.#checkSchema();
    } catch (e) {
      const msg = errMessage(e);
      const fallback = (this.#cfg.sslmode === "prefer" && /does not support SSL/i.test(msg)) ||
        (this.#cfg.sslmode === "allow" && errCode(e) === "28000" && /no encryption/i.test(msg));
      if (!fallback) throw this.#wrap(e, "connect", "");
      const old = this.#pool;
      this.#tlsOn = !this.#tlsOn;
      this.#pool = this.#newPool();
      await old.end().catch(() => {});
      await this.#checkSchema().catch((e) => {
        throw this.#wrap(e, "connect", "");
      });
    }
  }

  async #checkSchema(): Promise<void> {
    const s = this.#cfg.schema;
    let version: number | undefined;
    try {
      const r = await this.#raw<{ v: number | null }>(
        `SELECT max(version) AS v FROM "${s}".trunks_schema`,
        [],
      );
      version = r.rows[0]?.v ?? undefined;
    } catch (e) {
      // 42P01 undefined table, 3F000 undefined schema: first use of this database.
      if (!["42P01", "3F000"].includes(errCode(e))) throw e;
    }
    if (version === undefined || version < SCHEMA_VERSION) await this.#migrate();
    else if (version > SCHEMA_VERSION) {
      throw new StoreError(
        `postgres: the trunks tables in schema "${s}" of ${this.#where()} have format ${version}; ` +
          `this trunks knows up to ${SCHEMA_VERSION}: upgrade trunks`,
        "unsupported",
      );
    }
  }

  async #migrate(): Promise<void> {
    const s = this.#cfg.schema;
    await this.#tx(async (c) => {
      // Two first users at once: one creates, the other waits and finds it done.
      await c.query({
        text: `SELECT pg_advisory_xact_lock(hashtext($1))::text AS l`,
        values: [`trunks-schema:${s}`],
      });
      if (s !== "public") await c.query(`CREATE SCHEMA IF NOT EXISTS "${s}"`);
      await c.query(
        `CREATE TABLE IF NOT EXISTS "${s}".trunks_schema (
           version int PRIMARY KEY,
           applied timestamptz NOT NULL DEFAULT now())`,
      );
      await c.query(
        `CREATE TABLE IF NOT EXISTS ${this.#objects} (
           key text COLLATE "C" PRIMARY KEY,
           size bigint NOT NULL,
           part_size int NOT NULL,
           upload uuid,
           data bytea,
           modified timestamptz NOT NULL DEFAULT clock_timestamp())`,
      );
      await c.query(
        `CREATE INDEX IF NOT EXISTS trunks_objects_upload ON ${this.#objects} (upload)
           WHERE upload IS NOT NULL`,
      );
      await c.query(
        `CREATE TABLE IF NOT EXISTS ${this.#parts} (
           upload uuid NOT NULL,
           n int NOT NULL,
           data bytea NOT NULL,
           created timestamptz NOT NULL DEFAULT clock_timestamp(),
           PRIMARY KEY (upload, n))`,
      );
      // Packs and chunks are compressed already: skip TOAST compression, keep it out of line.
      await c.query(`ALTER TABLE ${this.#parts} ALTER COLUMN data SET STORAGE EXTERNAL`);
      await c.query(`ALTER TABLE ${this.#objects} ALTER COLUMN data SET STORAGE EXTERNAL`);
      await c.query({
        text: `INSERT INTO "${s}".trunks_schema (version) VALUES ($1) ON CONFLICT DO NOTHING`,
        values: [SCHEMA_VERSION],
      });
    }).catch((e) => {
      throw this.#wrap(e, "create the trunks tables in", `schema "${s}"`);
    });
  }

  /** One query on the pool (or a transaction's client). */
  async #raw<R>(text: string, values: unknown[], client?: PgClient): Promise<PgResult<R>> {
    return await (client ?? this.#pool).query({ text, values, types: textTypes });
  }

  /** A query after setup, retried on a broken connection when `idempotent`. */
  async #q<R>(
    op: string,
    key: string,
    text: string,
    values: unknown[],
    idempotent = true,
  ): Promise<PgResult<R>> {
    await this.#init();
    try {
      return await withRetry(idempotent ? this.#retrying : ONCE, () => {
        countRequest("postgres", op);
        return this.#raw<R>(text, values);
      });
    } catch (e) {
      throw this.#wrap(e, op, key);
    }
  }

  async #tx<T>(fn: (c: PgClient) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    let broken: unknown;
    try {
      await client.query("BEGIN");
      const out = await fn(client);
      await client.query("COMMIT");
      return out;
    } catch (e) {
      broken = transient(e) ? e : undefined;
      await client.query("ROLLBACK").catch(() => {});
      throw e;
    } finally {
      client.release(broken);
    }
  }

  #key(key: string): string {
    assertKey(key);
    return this.#cfg.prefix + key;
  }

  async get(key: string, range?: Range): Promise<ReadableStream<Uint8Array> | null> {
    const k = this.#key(key);
    const offset = range?.offset ?? 0;
    const want = range?.length ?? Infinity;
    const r = await this.#q<
      { size: number; part_size: number; upload: string | null; b64: string | null }
    >(
      "get",
      key,
      `SELECT size, part_size, upload,
              CASE WHEN upload IS NULL
                THEN encode(substring(data FROM $2::int FOR $3::int), 'base64') END AS b64
         FROM ${this.#objects} WHERE key = $1`,
      [k, Math.min(offset, 2 ** 31 - 2) + 1, Math.min(want, 2 ** 31 - 1)],
    );
    const row = r.rows[0];
    if (!row) return null;
    if (row.upload === null) {
      const bytes = fromBase64(row.b64 ?? "");
      countBytes("down", bytes.byteLength);
      return new Blob([bytes as Uint8Array<ArrayBuffer>]).stream();
    }
    return this.#partStream(
      key,
      row.upload,
      row.part_size,
      offset,
      Math.min(row.size, offset + want),
    );
  }

  /** Bytes [start, end) of a value stored in parts, one part in memory (plus one ahead). */
  #partStream(
    key: string,
    upload: string,
    partSize: number,
    start: number,
    end: number,
  ): ReadableStream<Uint8Array> {
    let at = start;
    const fetchPart = async (from: number): Promise<Uint8Array> => {
      const n = Math.floor(from / partSize);
      const inPart = from - n * partSize;
      const len = Math.min(partSize - inPart, end - from);
      const r = await this.#q<{ b64: string }>(
        "get-part",
        key,
        `SELECT encode(substring(data FROM $3::int FOR $4::int), 'base64') AS b64
           FROM ${this.#parts} WHERE upload = $1 AND n = $2`,
        [upload, n, inPart + 1, len],
      );
      const b64 = r.rows[0]?.b64;
      const data = b64 === undefined ? undefined : fromBase64(b64);
      if (!data || data.byteLength !== len) {
        throw new StoreError(
          `postgres: ${key} changed or was deleted while being read (part ${n} of upload ${upload})`,
          "corrupt",
        );
      }
      countBytes("down", data.byteLength);
      return data;
    };
    let next: Promise<Uint8Array> | undefined;
    const nextStart = (from: number) => (Math.floor(from / partSize) + 1) * partSize;
    return new ReadableStream<Uint8Array>({
      async pull(c) {
        if (at >= end) {
          c.close();
          return;
        }
        const current = next ?? fetchPart(at);
        const following = nextStart(at);
        next = following < end ? fetchPart(following) : undefined;
        // Keep the read-ahead from surfacing as an unhandled rejection if the reader stops.
        next?.catch(() => {});
        const data = await current;
        at = following;
        c.enqueue(data);
      },
    });
  }

  async put(key: string, data: PutData): Promise<void> {
    const k = this.#key(key);
    data = limitSize(data, this.capabilities.maxObjectSize, `postgres: ${key}`);
    await this.#init();
    const it = fixedParts(data, this.#partSize);
    const first = await it.next();
    const firstPart = first.done ? new Uint8Array() : first.value;
    const second = first.done ? first : await it.next();
    if (second.done) {
      await this.#writeRow("put", key, k, firstPart.byteLength, null, firstPart);
      return;
    }
    const { upload, size } = await this.#writeParts(key, firstPart, second.value, it);
    try {
      await this.#writeRow("put", key, k, size, upload, null);
    } catch (e) {
      await this.#dropParts(upload);
      throw e;
    }
  }

  /**
   * Insert the object row; an existing row is replaced (its old parts removed in the
   * same transaction), as a put on any other backend overwrites.
   */
  async #writeRow(
    op: string,
    key: string,
    k: string,
    size: number,
    upload: string | null,
    inline: Uint8Array | null,
  ): Promise<void> {
    const values = [k, size, upload ? this.#partSize : 0, upload, inline && Buffer.from(inline)];
    const insert = `INSERT INTO ${this.#objects} (key, size, part_size, upload, data)
                      VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING`;
    const r = await this.#q(op, key, insert, values);
    if (inline) countBytes("up", inline.byteLength);
    if (r.rowCount === 1) return;
    await this.#replaceRow(op, key, k, insert, values);
  }

  /** The key exists: replace its row, and drop its old parts, in one transaction. */
  async #replaceRow(
    op: string,
    key: string,
    k: string,
    insert: string,
    values: unknown[],
  ): Promise<void> {
    const replaced = () =>
      this.#tx(async (c) => {
        const old = await this.#raw<{ upload: string | null }>(
          `SELECT upload FROM ${this.#objects} WHERE key = $1 FOR UPDATE`,
          [k],
          c,
        );
        if (old.rows.length === 0) return (await this.#raw(insert, values, c)).rowCount === 1;
        await this.#raw(
          `UPDATE ${this.#objects} SET size = $2, part_size = $3, upload = $4, data = $5,
                  modified = clock_timestamp() WHERE key = $1`,
          values,
          c,
        );
        const was = old.rows[0].upload;
        if (was && was !== values[3]) {
          await this.#raw(`DELETE FROM ${this.#parts} WHERE upload = $1`, [was], c);
        }
        return true;
      });
    try {
      // A concurrent delete between the SELECT and the INSERT: go round again.
      while (
        !await withRetry(this.#retrying, () => {
          countRequest("postgres", `${op}-replace`);
          return replaced();
        })
      );
    } catch (e) {
      throw this.#wrap(e, op, key);
    }
  }

  /** Parts of a large value under a fresh upload id; none is visible until its row exists. */
  async #writeParts(
    key: string,
    first: Uint8Array,
    second: Uint8Array,
    rest: AsyncGenerator<Uint8Array>,
  ): Promise<{ upload: string; size: number }> {
    const upload = crypto.randomUUID();
    let failure: unknown;
    let size = 0;
    try {
      await sendBounded(prepend(first, second, rest), PARTS_IN_FLIGHT, async (part, n) => {
        const values = [upload, n, Buffer.from(part.buffer, part.byteOffset, part.byteLength)];
        size += part.byteLength;
        await this.#q(
          "put-part",
          key,
          `INSERT INTO ${this.#parts} (upload, n, data) VALUES ($1, $2, $3)
             ON CONFLICT (upload, n) DO UPDATE SET data = EXCLUDED.data`,
          values,
        );
        countBytes("up", part.byteLength);
      });
    } catch (e) {
      failure = e;
    }
    if (failure !== undefined) {
      await this.#dropParts(upload);
      throw failure instanceof StoreError ? failure : this.#wrap(failure, "put", key);
    }
    return { upload, size };
  }

  /**
   * Remove the parts of an upload that did not become an object. Guarded: when a commit's
   * answer was lost, the object row may exist after all, and its parts must stay.
   */
  async #dropParts(upload: string): Promise<void> {
    await this.#raw(
      `DELETE FROM ${this.#parts} WHERE upload = $1
         AND NOT EXISTS (SELECT 1 FROM ${this.#objects} WHERE upload = $1)`,
      [upload],
    ).catch(() => {});
  }

  /**
   * `INSERT ... ON CONFLICT DO NOTHING`, through `createExclusive`. The same statement
   * adds a marker part (upload = the create's nonce, n = -1) only when the row was
   * inserted, so after a lost answer the marker says whether this call won; it is removed
   * right after.
   */
  async create(key: string, data: Uint8Array): Promise<boolean> {
    return (await this.createStamped(key, data)) !== null;
  }

  async createStamped(key: string, data: Uint8Array): Promise<CreatedStamp | null> {
    const k = this.#key(key);
    limitSize(data, this.capabilities.maxObjectSize, `postgres: ${key}`);
    await this.#init();
    const upload = data.byteLength > this.#partSize ? await this.#partsOf(key, data) : null;
    const values = [
      k,
      data.byteLength,
      upload ? this.#partSize : 0,
      upload,
      upload ? null : Buffer.from(data.buffer, data.byteOffset, data.byteLength),
    ];
    const dropMarker = `DELETE FROM ${this.#parts} WHERE upload = $1 AND n = -1`;
    let nonce: string | undefined;
    // The row's modified time, as the insert returned it, is what a listing shows; none
    // when an earlier try won.
    let stamp: CreatedStamp = {};
    try {
      const won = await createExclusive({
        write: async (n) => {
          nonce = n;
          stamp = {};
          countRequest("postgres", "create");
          const r = await this.#raw<{ modified: Date }>(
            `WITH won AS (
               INSERT INTO ${this.#objects} (key, size, part_size, upload, data)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING RETURNING modified),
             marker AS (
               INSERT INTO ${this.#parts} (upload, n, data)
               SELECT $6::uuid, -1, ''::bytea FROM won RETURNING n)
             SELECT modified FROM won`,
            [...values, n],
          );
          if (r.rows.length !== 1) return "exists";
          const modified = r.rows[0].modified;
          if (modified instanceof Date) stamp = { modified };
          return "created";
        },
        carries: async (n) =>
          (await this.#raw(
            `SELECT 1 AS x FROM ${this.#parts} WHERE upload = $1 AND n = -1`,
            [n],
          )).rows.length === 1,
      }, this.#retrying);
      if (won) countBytes("up", data.byteLength);
      else if (upload) await this.#dropParts(upload);
      return won ? stamp : null;
    } catch (e) {
      if (upload) await this.#dropParts(upload);
      throw this.#wrap(e, "create", key);
    } finally {
      if (nonce) await this.#raw(dropMarker, [nonce]).catch(() => {});
    }
  }

  /** A large created value's parts, under a fresh upload id (not visible until its row). */
  async #partsOf(key: string, data: Uint8Array): Promise<string> {
    const it = fixedParts(data, this.#partSize);
    const a = await it.next();
    const b = await it.next();
    return (await this.#writeParts(key, a.value!, b.value!, it)).upload;
  }

  async list(prefix: string, startAfter?: string): Promise<ListEntry[]> {
    if (prefix) assertKey(prefix.replace(/\/$/, "") || "x");
    const base = this.#cfg.prefix;
    const full = base + prefix;
    // Keys and the URL path end in ASCII, so bumping the last character bounds the range.
    const upper = full
      ? full.slice(0, -1) + String.fromCharCode(full.charCodeAt(full.length - 1) + 1)
      : null;
    let lower = startAfter !== undefined && base + startAfter >= full ? base + startAfter : full;
    let inclusive = lower === full && (startAfter === undefined || base + startAfter < full);
    const out: ListEntry[] = [];
    for (;;) {
      const r = await this.#q<{ key: string; size: number; modified: Date }>(
        "list",
        prefix || "/",
        `SELECT key, size, modified FROM ${this.#objects}
          WHERE key ${inclusive ? ">=" : ">"} $1 ${upper === null ? "" : "AND key < $3"}
            AND starts_with(key, $2)
          ORDER BY key LIMIT ${LIST_PAGE}`,
        upper === null ? [lower, full] : [lower, full, upper],
      );
      for (const row of r.rows) {
        out.push({ key: row.key.slice(base.length), size: row.size, modified: row.modified });
      }
      if (r.rows.length < LIST_PAGE) return out;
      lower = r.rows[r.rows.length - 1].key;
      inclusive = false;
    }
  }

  async delete(key: string): Promise<void> {
    const k = this.#key(key);
    await this.#q(
      "delete",
      key,
      `WITH gone AS (DELETE FROM ${this.#objects} WHERE key = $1 RETURNING upload)
       DELETE FROM ${this.#parts} WHERE upload IN (SELECT upload FROM gone WHERE upload IS NOT NULL)`,
      [k],
    );
  }

  /**
   * Remove parts no object row refers to (a writer that died mid-put), older than
   * `olderThanMs` so a put in progress is never touched. For GC; returns parts removed.
   */
  async sweepStale(olderThanMs: number): Promise<number> {
    const r = await this.#q(
      "sweep",
      "parts",
      `DELETE FROM ${this.#parts} p
        WHERE p.created < clock_timestamp() - make_interval(secs => $1::float8)
          AND NOT EXISTS (SELECT 1 FROM ${this.#objects} o WHERE o.upload = p.upload)`,
      [olderThanMs / 1000],
    );
    return r.rowCount ?? 0;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const pool = this.#pool;
    this.#pool = undefined;
    await pool?.end().catch(() => {});
  }

  #where(): string {
    return pgWhere(this.#cfg);
  }

  #wrap(e: unknown, op: string, key: string): Error {
    return pgError(e, this.#cfg, op, key);
  }
}

const processEnv: Env = (name) => Deno.env.get(name);

/** `postgres://user@host:port/database[/path][?sslmode=&schema=]` (also `postgresql://`). */
export function openPostgres(url: URL, settings: Settings): Promise<Store> {
  return openPostgresWith(url, settings);
}

/** `openPostgres` with the environment and tuning injectable (tests). */
export function openPostgresWith(
  url: URL,
  settings: Settings,
  env: Env = processEnv,
  opts: PostgresOptions = {},
): Promise<Store> {
  return Promise.resolve(new PostgresStore(resolvePgConfig(url, settings, env), opts));
}
