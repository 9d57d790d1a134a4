/**
 * HTTP/1.1 GETs over a connection of this module's own (Deno.connect, or Deno.connectTls,
 * which trusts what fetch trusts: DENO_CERT, DENO_TLS_CA_STORE, --unsafely-ignore-
 * certificate-errors), kept open between them. A process's first fetch() runs 6-10 ms of
 * fetch's own JavaScript before its request leaves (Deno 2.9); this path runs almost none,
 * and a connection kept open spares the next request a round trip (two with TLS).
 *
 * It does only what a small answer read whole needs: no request body, no proxy, no
 * compression, no 1xx, bodies framed by Content-Length, by chunks or by the connection's
 * close. Anything else fails, with an Http1Error, for the caller to hand the request to
 * fetch; an abort of `signal` fails with its reason.
 */
import { armTimer, loopTurn } from "./timer.ts";

/** The answer's head; `body()` reads the rest, whole. */
export interface Http1Answer {
  status: number;
  /** As received, names lower-cased. */
  headers: [string, string][];
  body(): Promise<Uint8Array<ArrayBuffer>>;
}

export interface Http1Get {
  url: URL;
  /** Besides Host, User-Agent and Accept, which this module sets. */
  headers: Record<string, string>;
  signal: AbortSignal;
  /** Larger bodies fail (heads: beyond 64 KiB). */
  maxBytes: number;
  /** Called once the request is on the wire. */
  sent?: () => void;
  /** Called after each read of the answer that brought bytes (an idle timer's re-arming). */
  progress?: () => void;
}

/** What this path does not do, or an answer it cannot read: fetch may still. */
export class Http1Error extends Error {
  override name = "Http1Error";
}

const MAX_HEAD = 64 * 1024;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e]*$/;

/**
 * One request at a time, over the connection the last one left open when it is to the same
 * origin, else over a new one. A connection is kept only after an HTTP/1.1 answer read to
 * the end of its Content-Length or chunks, with nothing after it, whose server did not say
 * `connection: close`. While kept, one read waits on it, unreferenced (it never keeps the
 * process alive): anything the server sends or does meanwhile (an unasked answer such as
 * the 408 some servers send before closing an idle connection, or the close itself) ends
 * that read, and the connection is not used again. Without it, bytes that came while idle
 * would be read as the next request's answer: another key's bytes. The next request on the
 * connection takes that read over as the first of its answer. A server that closes it just
 * as a request is written shows as a failure before any answer byte (GETs are idempotent:
 * the caller may make it again elsewhere).
 */
export class Http1Client {
  #kept: Kept | undefined;
  #busy = false;
  #closed = false;

  /** Whether a request is under way. */
  get busy(): boolean {
    return this.#busy;
  }

  /** Whether a GET to `url` now would go over a connection kept open. */
  keeps(url: URL): boolean {
    return !this.#busy && this.#kept?.origin === url.origin && !this.#kept.stirred;
  }

  /** Closes the kept connection, and the one in use once its request ends; no more requests. */
  close(): void {
    this.#closed = true;
    if (this.#kept) closeQuietly(this.#kept.conn);
    this.#kept = undefined;
  }

  async get(req: Http1Get): Promise<Http1Answer> {
    const { url, signal } = req;
    const tls = url.protocol === "https:";
    if (!tls && url.protocol !== "http:") throw new Http1Error(`no ${url.protocol} requests`);
    if (this.#busy || this.#closed) throw new Http1Error("the connection is in use or closed");
    const lines = [
      `GET ${url.pathname}${url.search} HTTP/1.1`,
      `host: ${url.host}`,
      `user-agent: Deno/${Deno.version.deno}`,
      "accept: */*",
    ];
    for (const [k, v] of Object.entries(req.headers)) {
      if (!TOKEN.test(k) || !FIELD_VALUE.test(v)) throw new Http1Error(`bad header ${k}`);
      lines.push(`${k}: ${v}`);
    }
    const request = new TextEncoder().encode(`${lines.join("\r\n")}\r\n\r\n`);
    this.#busy = true;
    let conn: Deno.Conn;
    let reused: Kept | undefined;
    try {
      const kept = this.#kept;
      this.#kept = undefined;
      if (kept?.origin === url.origin && !kept.stirred && idleFor(kept) >= QUIET_MS) {
        await settle();
      }
      if (kept && (kept.origin !== url.origin || kept.stirred)) closeQuietly(kept.conn);
      reused = kept?.origin === url.origin && !kept.stirred ? kept : undefined;
      reused?.conn.ref();
      conn = reused?.conn ?? await connect(url, tls, signal);
    } catch (e) {
      this.#busy = false;
      throw e;
    }
    // An abort closes the connection: a read or write under way then fails, and says why.
    const onAbort = () => closeQuietly(conn);
    signal.addEventListener("abort", onAbort, { once: true });
    const done = (keep: boolean) => {
      signal.removeEventListener("abort", onAbort);
      this.#busy = false;
      if (keep && !this.#closed && !signal.aborted) this.#kept = watchIdle(url.origin, conn);
      else closeQuietly(conn);
    };
    const io = <T>(p: Promise<T>): Promise<T> =>
      p.catch((e) => {
        throw signal.aborted ? signal.reason : new Http1Error(String(e?.message ?? e));
      });
    try {
      if (signal.aborted) throw signal.reason;
      for (let off = 0; off < request.byteLength;) {
        off += await io(conn.write(request.subarray(off)));
      }
      req.sent?.();
      const reader = new ConnReader(conn, io, reused, req.progress);
      const head = await readHead(reader);
      let bodyRead = false;
      return {
        status: head.status,
        headers: head.headers,
        body: async () => {
          if (bodyRead) throw new Http1Error("the body was read already");
          bodyRead = true;
          let keep = false;
          try {
            const body = await readBody(reader, head, req.maxBytes);
            keep = body.framed && reusable(head) && reader.available.byteLength === 0;
            return body.bytes;
          } finally {
            done(keep);
          }
        },
      };
    } catch (e) {
      done(false);
      throw e;
    }
  }
}

/** A connection kept open, and the read that waits on it while idle. */
interface Kept {
  origin: string;
  conn: Deno.Conn;
  /** The read begun when the connection was kept, into `buf`. */
  idle: Promise<number | null>;
  buf: Uint8Array;
  /** The idle read ended (bytes, the end of the stream or an error): not to be used. */
  stirred: boolean;
  /** When it was kept (performance.now()). */
  since: number;
}

/**
 * A connection idle for less than this is reused at once. What a server sends on an idle
 * connection (the 408 before its idle close) comes after its idle timeout, seconds in
 * practice; a request that follows another's answer within this is not worth the wait
 * below (2-5 ms), which would make a run of small reads slower here than through fetch.
 * Were one sent that soon, it is read as the answer: a 408, retried as any other.
 */
const QUIET_MS = 10;

function idleFor(kept: Kept): number {
  return performance.now() - kept.since;
}

/**
 * Resolves once the event loop has polled for I/O after the caller's turn: then whatever
 * came on the idle connection meanwhile has ended its idle read. Bytes or a close that came
 * while the loop ran synchronous code are seen only at that poll, and a timer already due
 * runs before it: a timer armed while the caller's turn goes on for a millisecond more is
 * due at once (setTimeout 0 always is). The first turn ends the caller's turn; the second,
 * armed after it, is due only after the loop has waited, and so polled.
 */
async function settle(): Promise<void> {
  await loopTurn();
  await loopTurn();
}

function watchIdle(origin: string, conn: Deno.Conn): Kept {
  const buf = new Uint8Array(16 * 1024);
  const kept: Kept = {
    origin,
    conn,
    buf,
    idle: conn.read(buf),
    stirred: false,
    since: performance.now(),
  };
  kept.idle.then(() => kept.stirred = true, () => kept.stirred = true);
  conn.unref();
  return kept;
}

function reusable(head: Head): boolean {
  if (head.version !== "1.1") return false;
  return !head.headers.some(([k, v]) =>
    k === "connection" && v.toLowerCase().split(",").some((t) => t.trim() === "close")
  );
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* closed already */ }
}

/**
 * How long a connection (TLS included) may take before this path gives the request up to
 * fetch. Deno.connect tries only the first address the name resolves to; fetch tries the
 * others (happy eyeballs). A host whose first address drops packets (an IPv6 route that
 * leads nowhere) would otherwise hold the first request until its deadline. Generous
 * enough for a handshake of three round trips across the world. A seam for tests.
 */
export const connectWithin = { ms: 2_000 };

async function connect(url: URL, tls: boolean, signal: AbortSignal): Promise<Deno.Conn> {
  const hostname = url.hostname.replace(/^\[|\]$/g, "");
  const port = Number(url.port || (tls ? 443 : 80));
  if (signal.aborted) throw signal.reason;
  // Deno.connectTls returns once TCP is connected; the handshake runs on the first write
  // unless awaited: the deadline covers both.
  const pending = tls
    ? Deno.connectTls({ hostname, port }).then(async (c) => {
      try {
        await (c as Deno.TlsConn).handshake();
        return c;
      } catch (e) {
        closeQuietly(c);
        throw e;
      }
    })
    : Deno.connect({ hostname, port });
  let onAbort = () => {};
  let cancelTimer = () => {};
  const given = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    cancelTimer = armTimer(
      connectWithin.ms,
      () => reject(new Http1Error(`no connection to ${url.host} within ${connectWithin.ms} ms`)),
    );
  });
  try {
    return await Promise.race([pending, given]);
  } catch (e) {
    // A connection made after the abort (or the deadline) is closed as it arrives.
    pending.then((c) => c.close(), () => {});
    if (signal.aborted) throw signal.reason;
    throw e instanceof Http1Error ? e : new Http1Error(String((e as Error)?.message ?? e));
  } finally {
    cancelTimer();
    signal.removeEventListener("abort", onAbort);
  }
}

/** Bytes read from the connection and not yet consumed. */
class ConnReader {
  #buf = new Uint8Array(16 * 1024);
  #start = 0;
  #end = 0;
  eof = false;

  /** A kept connection's idle read, taken over as the first read of the answer. */
  #first: Kept | undefined;

  constructor(
    readonly conn: Deno.Conn,
    readonly io: <T>(p: Promise<T>) => Promise<T>,
    first?: Kept,
    readonly progress?: () => void,
  ) {
    this.#first = first;
  }

  get available(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#end);
  }

  consume(n: number): void {
    this.#start += n;
  }

  /** Reads more; false at the end of the stream. */
  async fill(): Promise<boolean> {
    if (this.eof) return false;
    if (this.#start > 0) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    if (this.#end === this.#buf.byteLength) {
      const bigger = new Uint8Array(this.#buf.byteLength * 2);
      bigger.set(this.#buf);
      this.#buf = bigger;
    }
    const first = this.#first;
    this.#first = undefined;
    let n: number | null;
    if (first) {
      n = await this.io(first.idle);
      if (n !== null) this.#buf.set(first.buf.subarray(0, n), this.#end);
    } else {
      n = await this.io(this.conn.read(this.#buf.subarray(this.#end)));
    }
    if (n === null) {
      this.eof = true;
      return false;
    }
    this.#end += n;
    this.progress?.();
    return true;
  }

  /**
   * A chunk-size line's size: hex digits, then nothing, blanks or `;` extensions. Read as
   * bytes, no string made: a hostile server may send a million one-byte chunks.
   */
  async chunkSize(): Promise<number> {
    for (;;) {
      const a = this.available;
      const at = a.indexOf(10);
      if (at >= 0) {
        if (at === 0 || a[at - 1] !== 13) throw new Http1Error("a line not ended by CRLF");
        let n = 0;
        let i = 0;
        for (; i < at - 1; i++) {
          const c = a[i] | 32;
          const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
          if (d < 0) break;
          n = n * 16 + d;
        }
        const next = a[i];
        if (i === 0 || i > 12 || (i < at - 1 && next !== 59 && next !== 32 && next !== 9)) {
          throw new Http1Error("a malformed chunk size");
        }
        this.consume(at + 1);
        return n;
      }
      if (a.byteLength > 1025) throw new Http1Error("a line too long");
      if (!await this.fill()) throw new Http1Error("the connection closed mid-answer");
    }
  }

  /** The CRLF that ends a chunk's data. */
  async crlf(): Promise<void> {
    while (this.#end - this.#start < 2) {
      if (!await this.fill()) throw new Http1Error("the connection closed mid-answer");
    }
    if (this.#buf[this.#start] !== 13 || this.#buf[this.#start + 1] !== 10) {
      throw new Http1Error("a chunk not ended by CRLF");
    }
    this.#start += 2;
  }

  /** The next line without its CRLF, of at most `max` bytes. */
  async line(max: number): Promise<string> {
    for (;;) {
      const a = this.available;
      const at = a.indexOf(10);
      if (at >= 0) {
        if (at === 0 || a[at - 1] !== 13) throw new Http1Error("a line not ended by CRLF");
        const s = latin1(a.subarray(0, at - 1));
        this.consume(at + 1);
        return s;
      }
      if (a.byteLength > max + 1) throw new Http1Error("a line too long");
      if (!await this.fill()) throw new Http1Error("the connection closed mid-answer");
    }
  }
}

interface Head {
  version: "1.0" | "1.1";
  status: number;
  headers: [string, string][];
}

async function readHead(r: ConnReader): Promise<Head> {
  const statusLine = await r.line(MAX_HEAD);
  const m = /^HTTP\/1\.([01]) ([2-5]\d\d)(?: |$)/.exec(statusLine);
  if (!m) throw new Http1Error(`unexpected status line ${JSON.stringify(statusLine.slice(0, 40))}`);
  const headers: [string, string][] = [];
  let size = statusLine.length;
  for (;;) {
    const line = await r.line(MAX_HEAD - size);
    size += line.length + 2;
    if (line === "") break;
    const colon = line.indexOf(":");
    const name = line.slice(0, colon);
    if (colon <= 0 || !TOKEN.test(name)) throw new Http1Error("a malformed header line");
    headers.push([name.toLowerCase(), line.slice(colon + 1).trim()]);
  }
  return { version: m[1] === "1" ? "1.1" : "1.0", status: Number(m[2]), headers };
}

/** The body, and whether its end was framed (rather than the connection's close). */
async function readBody(
  r: ConnReader,
  head: Head,
  maxBytes: number,
): Promise<{ bytes: Uint8Array<ArrayBuffer>; framed: boolean }> {
  const all = (name: string) => head.headers.filter(([k]) => k === name).map(([, v]) => v);
  const coding = all("content-encoding").join(",").trim().toLowerCase();
  if (coding && coding !== "identity") throw new Http1Error(`a body coded ${coding}`);
  if (head.status === 204 || head.status === 304) return { bytes: new Uint8Array(0), framed: true };
  const te = all("transfer-encoding");
  if (te.length) {
    if (te.join(",").trim().toLowerCase() !== "chunked") {
      throw new Http1Error(`transfer-encoding ${te.join(",")}`);
    }
    return { bytes: await chunked(r, maxBytes), framed: true };
  }
  const lengths = new Set(all("content-length").flatMap((v) => v.split(",")).map((v) => v.trim()));
  if (lengths.size > 1) throw new Http1Error("conflicting content-length");
  if (lengths.size === 1) {
    const [v] = lengths;
    if (!/^\d{1,15}$/.test(v)) throw new Http1Error("a malformed content-length");
    const n = Number(v);
    if (n > maxBytes) throw new Http1Error(`a body of ${n} bytes`);
    return { bytes: await exactly(r, n), framed: true };
  }
  // Neither: the body ends where the connection does.
  while (await r.fill()) {
    if (r.available.byteLength > maxBytes) throw new Http1Error("a body too large");
  }
  return { bytes: r.available.slice(), framed: false };
}

async function exactly(r: ConnReader, n: number): Promise<Uint8Array<ArrayBuffer>> {
  while (r.available.byteLength < n) {
    if (!await r.fill()) throw new Http1Error("the connection closed mid-body");
  }
  const out = r.available.slice(0, n);
  r.consume(n);
  return out;
}

async function chunked(r: ConnReader, maxBytes: number): Promise<Uint8Array<ArrayBuffer>> {
  // One buffer, grown by doubling up to the bound: a copy per chunk would cost a hostile
  // server's one-byte chunks hundreds of bytes of memory each.
  let out = new Uint8Array(Math.min(maxBytes, 64 * 1024));
  let total = 0;
  for (;;) {
    const n = await r.chunkSize();
    if (n === 0) break;
    if (total + n > maxBytes) throw new Http1Error("a body too large");
    if (total + n > out.byteLength) {
      const bigger = new Uint8Array(Math.min(maxBytes, Math.max(total + n, out.byteLength * 2)));
      bigger.set(out.subarray(0, total));
      out = bigger;
    }
    await into(r, out, total, n);
    total += n;
    await r.crlf();
  }
  // Trailers, unread, up to the empty line.
  for (let size = 0, line; (line = await r.line(MAX_HEAD - size)) !== "";) {
    size += line.length + 2;
  }
  return out.slice(0, total);
}

/** `n` bytes of the body copied into `out` at `at`, as they come. */
async function into(r: ConnReader, out: Uint8Array, at: number, n: number): Promise<void> {
  for (let left = n; left > 0;) {
    if (r.available.byteLength === 0 && !await r.fill()) {
      throw new Http1Error("the connection closed mid-body");
    }
    const take = Math.min(left, r.available.byteLength);
    out.set(r.available.subarray(0, take), at + n - left);
    r.consume(take);
    left -= take;
  }
}

function latin1(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.byteLength; i += 4096) {
    s += String.fromCharCode(...b.subarray(i, i + 4096));
  }
  return s;
}
