/**
 * SFTP over `npm:ssh2`. `create` uploads to a temp name, then a plain SFTP `rename`,
 * which fails when the target exists (OpenSSH's server links, then unlinks): atomic,
 * exclusive, never the `posix-rename` overwrite extension. `put` may overwrite (it
 * uses posix-rename where offered). One SSH connection per store, reused, with a few
 * SFTP channels and a bounded number of requests in flight; reads and writes are
 * pipelined so a high-latency link still moves data.
 */
import ssh2 from "ssh2";
import { Buffer } from "node:buffer";
import { fixedParts, limitSize, sendBounded } from "./bytes.ts";
import { createExclusive, type ErrorKind, networkKind, withRetry } from "./retry.ts";
import { countBytes, countRequest } from "./metrics.ts";
import { scrubCauses, scrubSecrets } from "./redact.ts";
import type { Settings } from "./backend.ts";
import { type Env, resolveSftpConfig, type SftpConfig } from "./sftp_config.ts";
import { knownKeysFor, verifyHostKey } from "./sftp_hosts.ts";
import {
  assertKey,
  type Capabilities,
  compareKeys,
  type ListEntry,
  type PutData,
  type Range,
  type Store,
  StoreError,
} from "./store.ts";
import { splitTrunkPath } from "./trunk_url.ts";
import { limiter } from "./limit.ts";

/** Temp files start with this; they are never listed and are swept by `sweepStale`. */
export const TEMP_PREFIX = ".tmp-";
/** Bytes per SFTP read/write request, and how many a transfer keeps in flight. */
const IO_SIZE = 64 * 1024;
const IO_IN_FLIGHT = 16;
const CHANNELS = 4;
const PARALLEL = 8;

// SFTP status codes (draft-ietf-secsh-filexfer-02).
const NO_SUCH_FILE = 2;
const PERMISSION_DENIED = 3;

// deno-lint-ignore no-explicit-any
type Sftp = any;
// deno-lint-ignore no-explicit-any
type SshClient = any;
type Handle = Buffer;
interface Attrs {
  mode: number;
  size: number;
  mtime: number;
}

const HOST_KEY_ALGS: Record<string, string[]> = {
  "ssh-ed25519": ["ssh-ed25519"],
  "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
  "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
  "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
  "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
};

function call<T>(fn: (cb: (err: unknown, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    fn((err, value) => err ? reject(err) : resolve(value as T));
  });
}

function sftpCode(e: unknown): number | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === "number" ? c : undefined;
}

const isDir = (a: Attrs) => (a.mode & 0o170000) === 0o040000;

/** The connection is gone (not an SFTP status): the operation may be retried on a new one. */
class ConnectionLost extends Error {}

/** A connection that broke under an operation ("dropped", below), as the retry wrapper sees it. */
function sftpKind(e: unknown): ErrorKind {
  if (e instanceof ConnectionLost || networkKind(e) === "retryable") return "retryable";
  if (e instanceof StoreError && e.code === "unreachable" && /dropped/.test(e.message)) {
    return "retryable";
  }
  const lost = /No response from server|Not connected|Channel not open|ECONNRESET|EPIPE/i;
  return lost.test(String((e as Error)?.message)) ? "retryable" : "other";
}

interface Connection {
  client: SshClient;
  channels: (Promise<Sftp> | undefined)[];
  next: number;
  dead: boolean;
  home: string;
  extensions: { posixRename: boolean; fsync: boolean };
}

export interface SftpOptions {
  /** Connect and handshake time limit (ms). */
  readyTimeoutMs?: number;
}

export class SftpStore implements Store {
  readonly capabilities: Capabilities = {
    atomicCreate: true,
    rangeReads: true,
    maxObjectSize: Infinity,
    parallelism: PARALLEL,
    coarseTimes: true,
  };
  readonly location: string;
  #cfg: SftpConfig;
  #opts: SftpOptions;
  #conn: Promise<Connection> | undefined;
  #closed = false;
  #active = 0;
  #busy = 0;
  #waiters: (() => void)[] = [];
  #madeDirs = new Set<string>();
  #rootChecked = false;
  /** Directories whose real path was seen inside the trunk (for this store's lifetime). */
  #insideDirs = new Set<string>();
  #writer = crypto.randomUUID().slice(0, 8);
  #tempSeq = 0;

  constructor(cfg: SftpConfig, opts: SftpOptions = {}) {
    this.#cfg = cfg;
    this.#opts = opts;
    this.location = cfg.location;
  }

  // --- connection -------------------------------------------------------------------

  #connect(): Promise<Connection> {
    if (this.#closed) return Promise.reject(new StoreError("sftp: store is closed", "io"));
    return this.#conn ??= this.#open().catch((e) => {
      this.#conn = undefined;
      throw e;
    });
  }

  async #open(): Promise<Connection> {
    const c = this.#cfg;
    const files: { path: string; text: string }[] = [];
    const searched: string[] = [];
    for (const path of c.knownHostsFiles) {
      try {
        files.push({ path, text: await Deno.readTextFile(path) });
        searched.push(path);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
    const known = knownKeysFor(files, c.host, c.port);
    const preferred = [
      ...new Set(known.filter((k) => !k.revoked).flatMap((k) => HOST_KEY_ALGS[k.type] ?? [])),
    ];
    let refusal: StoreError | undefined;
    const client: SshClient = new ssh2.Client();
    const ready = new Promise<void>((resolve, reject) => {
      client.once("ready", () => resolve());
      client.once("error", (e: unknown) => reject(refusal ?? e));
    });
    client.connect({
      host: c.host,
      port: c.port,
      username: c.user,
      readyTimeout: this.#opts.readyTimeoutMs ?? 20_000,
      // ssh2 would keep the process alive with its timer; the socket is unref'd when idle.
      keepaliveInterval: 0,
      algorithms: preferred.length
        ? { serverHostKey: { remove: preferred, prepend: preferred } }
        : undefined,
      hostVerifier: (key: Buffer) => {
        const offered = new Uint8Array(key.buffer, key.byteOffset, key.byteLength);
        const v = verifyHostKey(
          offered,
          c.host,
          c.port,
          known,
          c.acceptedFingerprints,
          searched,
        );
        if (!v.ok) refusal = new StoreError(v.message, "access-denied");
        return v.ok;
      },
      authHandler: c.auth.map((a) =>
        a.type === "publickey" ? { ...a, key: Buffer.from(a.key) } : { ...a }
      ),
    });
    // Many small request/response pairs: Nagle plus delayed ACKs would add ~40 ms to each.
    client.setNoDelay(true);
    try {
      await ready;
    } catch (e) {
      client.end();
      throw this.#wrap(e, "connect to", c.host);
    }
    const conn: Connection = {
      client,
      channels: new Array(CHANNELS).fill(undefined),
      next: 0,
      dead: false,
      home: "",
      extensions: { posixRename: false, fsync: false },
    };
    const onGone = () => {
      conn.dead = true;
      if (this.#conn && !this.#closed) this.#conn = undefined;
    };
    client.on("close", onGone);
    client.on("end", onGone);
    client.on("error", onGone);
    const first = await this.#channel(conn);
    const ext = first._extensions ?? {};
    conn.extensions = {
      posixRename: "posix-rename@openssh.com" in ext,
      fsync: "fsync@openssh.com" in ext,
    };
    if (c.home) conn.home = await call<string>((cb) => first.realpath(".", cb));
    this.#idle(conn);
    return conn;
  }

  #channel(conn: Connection): Promise<Sftp> {
    const i = conn.next++ % CHANNELS;
    return conn.channels[i] ??= call<Sftp>((cb) => conn.client.sftp(cb)).then((s) => {
      s.on("close", () => {
        conn.channels[i] = undefined;
      });
      return s;
    }).catch((e) => {
      conn.channels[i] = undefined;
      throw this.#wrap(e, "open an SFTP session on", this.#cfg.host);
    });
  }

  /** Let the process exit while nothing is in flight (a store left open must not hang git). */
  #idle(conn: Connection): void {
    const sock = conn.client._sock;
    if (this.#busy === 0) sock?.unref?.();
    else sock?.ref?.();
  }

  /** Count a request in flight (keeps the socket referenced) until `done` settles. */
  async #hold<T>(done: Promise<T>): Promise<T> {
    this.#busy++;
    const conn = await this.#conn?.catch(() => undefined);
    if (conn) this.#idle(conn);
    try {
      return await done;
    } finally {
      this.#busy--;
      if (this.#busy === 0) {
        const c = await this.#conn?.catch(() => undefined);
        if (c) this.#idle(c);
      }
    }
  }

  /**
   * Run `fn` on an SFTP channel, at most PARALLEL at once. A dropped connection is
   * reopened; `retry` operations are tried once more on the new one.
   */
  #with<T>(retry: boolean, fn: (s: Sftp, conn: Connection) => Promise<T>): Promise<T> {
    return this.#hold(this.#withSlot(retry, fn));
  }

  async #withSlot<T>(retry: boolean, fn: (s: Sftp, conn: Connection) => Promise<T>): Promise<T> {
    if (this.#active >= PARALLEL) await new Promise<void>((r) => this.#waiters.push(r));
    this.#active++;
    try {
      // A dropped connection is reopened at once (no back-off: the server did answer).
      const once = { attempts: retry ? 2 : 1, baseDelayMs: 0, maxDelayMs: 0 };
      return await withRetry({ policy: once, classify: sftpKind }, async () => {
        const conn = await this.#connect();
        this.#idle(conn);
        try {
          return await fn(await this.#channel(conn), conn);
        } catch (e) {
          if (!conn.dead && sftpKind(e) !== "retryable") throw e;
          conn.dead = true;
          if (this.#conn) this.#conn = undefined;
          conn.client.end();
          throw new StoreError(
            `sftp: the connection to ${this.#hostName()} dropped; try again`,
            "unreachable",
            { cause: e },
          );
        }
      });
    } finally {
      this.#active--;
      this.#waiters.shift()?.();
    }
  }

  #hostName(): string {
    return this.#cfg.port === 22 ? this.#cfg.host : `${this.#cfg.host}:${this.#cfg.port}`;
  }

  // --- paths ------------------------------------------------------------------------

  #base(conn: Connection): string {
    const c = this.#cfg;
    if (!c.home) return c.path;
    return c.path ? `${conn.home.replace(/\/$/, "")}/${c.path}` : conn.home;
  }

  #path(conn: Connection, key: string): string {
    return `${this.#base(conn)}/${key}`;
  }

  /** The storage root (above `trunks/<name>.trunk`) must exist: a typo never creates a tree. */
  async #checkRoot(s: Sftp, conn: Connection): Promise<void> {
    if (this.#rootChecked) return;
    const root = splitTrunkPath(this.#base(conn)).root;
    try {
      const st: Attrs = await call((cb) => s.stat(root, cb));
      if (!isDir(st)) {
        throw new StoreError(
          `sftp: ${root} on ${this.#hostName()} is not a directory`,
          "not-found-root",
        );
      }
    } catch (e) {
      if (e instanceof StoreError) throw e;
      if (sftpCode(e) === NO_SUCH_FILE) {
        throw new StoreError(
          `sftp: ${root} does not exist on ${this.#hostName()}; create it (mkdir) or fix the path`,
          "not-found-root",
        );
      }
      throw this.#wrap(e, "stat", root);
    }
    this.#rootChecked = true;
  }

  /**
   * Anyone who can write the store could swap a directory of the trunk on the server for a
   * symlink to elsewhere the SFTP user can reach; writes and deletes never follow one out of
   * the trunk (as the local store). The server resolves the path (SFTP realpath). Each
   * directory is checked once per store, before the first write or delete in it.
   */
  async #assertInside(s: Sftp, conn: Connection, dir: string): Promise<void> {
    if (this.#insideDirs.has(dir)) return;
    const real = (p: string) => {
      countRequest("sftp", "realpath");
      return call<string>((cb) => s.realpath(p, cb));
    };
    const base = this.#base(conn);
    const [realBase, realDir] = await Promise.all([real(base), real(dir)]);
    const root = realBase.replace(/\/+$/, "");
    if (realDir !== root && !realDir.startsWith(`${root}/`)) {
      throw new StoreError(
        `sftp: ${dir} on ${this.#hostName()} leads outside ${base} (a symlink in the ` +
          `store?); refusing to write or delete there: remove the link and retry`,
        "invalid-key",
      );
    }
    this.#insideDirs.add(dir);
  }

  /** `#assertInside`, making the directory first when it does not exist yet. */
  async #insideOrMade(s: Sftp, conn: Connection, dir: string): Promise<void> {
    try {
      await this.#assertInside(s, conn, dir);
    } catch (e) {
      if (sftpCode(e) !== NO_SUCH_FILE) throw this.#wrap(e, "resolve", dir);
      await this.#mkdirs(s, conn, dir);
      await this.#assertInside(s, conn, dir).catch((e) => {
        throw this.#wrap(e, "resolve", dir);
      });
    }
  }

  /** `mkdir -p` of `dir`, starting below the storage root (which must exist). */
  async #mkdirs(s: Sftp, conn: Connection, dir: string): Promise<void> {
    const root = splitTrunkPath(this.#base(conn)).root.replace(/\/$/, "");
    let at = root;
    for (const part of dir.slice(root.length + 1).split("/").filter(Boolean)) {
      at = `${at}/${part}`;
      if (this.#madeDirs.has(at)) continue;
      try {
        countRequest("sftp", "mkdir");
        await call((cb) => s.mkdir(at, cb));
      } catch (e) {
        // Exists already (SFTP v3 says only "failure"): fine if it is a directory now.
        const st: Attrs | null = await call<Attrs>((cb) => s.stat(at, cb)).catch(() => null);
        if (!st || !isDir(st)) throw this.#wrap(e, "create directory", at);
      }
      this.#madeDirs.add(at);
    }
  }

  // --- operations -------------------------------------------------------------------

  async get(key: string, range?: Range): Promise<ReadableStream<Uint8Array> | null> {
    assertKey(key);
    const opened = await this.#with(true, async (s, conn) => {
      const path = this.#path(conn, key);
      countRequest("sftp", "open");
      let handle: Handle;
      try {
        handle = await call((cb) => s.open(path, "r", cb));
      } catch (e) {
        if (sftpCode(e) === NO_SUCH_FILE) return null;
        throw this.#wrap(e, "read", key);
      }
      const st: Attrs = await call<Attrs>((cb) => s.fstat(handle, cb)).catch(async (e) => {
        await call((cb) => s.close(handle, cb)).catch(() => {});
        throw this.#wrap(e, "stat", key);
      });
      return { s, handle, size: st.size };
    });
    if (!opened) return null;
    const { s, handle, size } = opened;
    const start = Math.min(range?.offset ?? 0, size);
    const end = Math.min(size, start + (range?.length ?? Infinity));
    return this.#readStream(s, handle, key, start, end);
  }

  /** Pipelined reads of [start, end): up to IO_IN_FLIGHT requests ahead of the reader. */
  #readStream(
    s: Sftp,
    handle: Handle,
    key: string,
    start: number,
    end: number,
  ): ReadableStream<Uint8Array> {
    let issued = start;
    const queue: Promise<Uint8Array>[] = [];
    let closed = false;
    const closeHandle = () => {
      if (closed) return;
      closed = true;
      s.close(handle, () => {});
    };
    const readAt = async (pos: number, len: number): Promise<Uint8Array> => {
      const buf = Buffer.allocUnsafe(len);
      let got = 0;
      while (got < len) {
        countRequest("sftp", "read");
        const n = await this.#hold(
          call<number>((cb) => s.read(handle, buf, got, len - got, pos + got, cb)),
        ).catch((e) => {
          throw this.#wrap(e, "read", key);
        });
        if (!n) {
          throw new StoreError(
            `sftp: ${key} is shorter than expected (changed while read)`,
            "corrupt",
          );
        }
        got += n;
      }
      countBytes("down", len);
      return new Uint8Array(buf.buffer, buf.byteOffset, len);
    };
    const fill = () => {
      while (queue.length < IO_IN_FLIGHT && issued < end) {
        const len = Math.min(IO_SIZE, end - issued);
        const p = readAt(issued, len);
        p.catch(() => {});
        queue.push(p);
        issued += len;
      }
    };
    return new ReadableStream<Uint8Array>({
      async pull(c) {
        fill();
        const head = queue.shift();
        if (!head) {
          closeHandle();
          c.close();
          return;
        }
        try {
          c.enqueue(await head);
        } catch (e) {
          closeHandle();
          throw e;
        }
        fill();
      },
      cancel() {
        closeHandle();
      },
    });
  }

  /** The temp file beside `key` (a fresh name unless `name` is given). */
  #tempPath(conn: Connection, key: string, name?: string): string {
    const path = this.#path(conn, key);
    const dir = path.slice(0, path.lastIndexOf("/"));
    return `${dir}/${TEMP_PREFIX}${this.#writer}-${
      name ?? `${Date.now().toString(36)}-${this.#tempSeq++}`
    }`;
  }

  /** Upload to a temp name beside `key` (fresh unless `name` is given); returns its path. */
  async #upload(
    s: Sftp,
    conn: Connection,
    key: string,
    data: PutData,
    name?: string,
  ): Promise<string> {
    await this.#checkRoot(s, conn);
    const path = this.#path(conn, key);
    const dir = path.slice(0, path.lastIndexOf("/"));
    const tmp = this.#tempPath(conn, key, name);
    await this.#insideOrMade(s, conn, dir);
    let handle: Handle;
    countRequest("sftp", "open");
    try {
      handle = await call((cb) => s.open(tmp, "wx", cb));
    } catch (e) {
      if (sftpCode(e) !== NO_SUCH_FILE) throw this.#wrap(e, "write", key);
      // Not there yet (some servers resolve a missing path), or removed since: made, then
      // checked again.
      this.#insideDirs.delete(dir);
      await this.#mkdirs(s, conn, dir);
      await this.#assertInside(s, conn, dir).catch((e) => {
        throw this.#wrap(e, "resolve", dir);
      });
      handle = await call<Handle>((cb) => s.open(tmp, "wx", cb)).catch((e) => {
        throw this.#wrap(e, "write", key);
      });
    }
    try {
      let pos = 0;
      await sendBounded(fixedParts(data, IO_SIZE), IO_IN_FLIGHT, async (part) => {
        const at = pos;
        pos += part.byteLength;
        const buf = Buffer.from(part.buffer, part.byteOffset, part.byteLength);
        countRequest("sftp", "write");
        await call((cb) => s.write(handle, buf, 0, buf.byteLength, at, cb));
        countBytes("up", buf.byteLength);
      });
      // Durable before visible: a crash after the rename must not leave an empty object.
      if (conn.extensions.fsync) {
        countRequest("sftp", "fsync");
        await call((cb) => s.ext_openssh_fsync(handle, cb));
      }
      await call((cb) => s.close(handle, cb));
    } catch (e) {
      s.close(handle, () => {});
      s.unlink(tmp, () => {});
      throw e instanceof StoreError ? e : this.#wrap(e, "write", key);
    }
    return tmp;
  }

  async put(key: string, data: PutData): Promise<void> {
    assertKey(key);
    data = limitSize(data, this.capabilities.maxObjectSize, `sftp: ${key}`);
    // A stream can be read once: only bytes are retried on a new connection.
    await this.#with(data instanceof Uint8Array, async (s, conn) => {
      const tmp = await this.#upload(s, conn, key, data);
      const path = this.#path(conn, key);
      try {
        if (conn.extensions.posixRename) {
          countRequest("sftp", "posix-rename");
          await call((cb) => s.ext_openssh_rename(tmp, path, cb));
          return;
        }
        countRequest("sftp", "rename");
        await call((cb) => s.rename(tmp, path, cb));
      } catch (e) {
        // Without posix-rename an existing target makes rename fail; objects put are
        // immutable and content-addressed, so the one already there is the same.
        const st = await call<Attrs>((cb) => s.stat(path, cb)).catch(() => null);
        s.unlink(tmp, () => {});
        if (!st || isDir(st)) throw this.#wrap(e, "write", key);
      }
    });
  }

  /**
   * Upload to a temp file named for the create's nonce, then a plain SFTP `rename`
   * (refused when the target exists; never posix-rename). After a dropped connection the
   * temp name answers "did my rename land?": gone means renamed into place.
   */
  async create(key: string, data: Uint8Array): Promise<boolean> {
    assertKey(key);
    limitSize(data, this.capabilities.maxObjectSize, `sftp: ${key}`);
    const stat = (s: Sftp, path: string) =>
      call<Attrs>((cb) => s.stat(path, cb)).then((st) => !isDir(st), () => false);
    const unlink = (s: Sftp, path: string) => call((cb) => s.unlink(path, cb)).catch(() => {});
    // Set once a rename of this call's temp file was sent: it may have happened.
    let renameSent = false;
    return await createExclusive({
      write: (nonce) =>
        this.#with(false, async (s, conn) => {
          const path = this.#path(conn, key);
          const name = `create-${nonce}`;
          if (renameSent) {
            if (await stat(s, path)) return "exists";
            await unlink(s, this.#tempPath(conn, key, name));
          }
          const tmp = await this.#upload(s, conn, key, data, name);
          countRequest("sftp", "rename");
          try {
            renameSent = true;
            await call((cb) => s.rename(tmp, path, cb));
            return "created";
          } catch (e) {
            if (conn.dead) throw new ConnectionLost("connection lost during rename");
            await unlink(s, tmp);
            if (await stat(s, path)) return "exists";
            throw this.#wrap(e, "create", key);
          }
        }),
      carries: (nonce) =>
        this.#with(false, async (s, conn) => {
          if (!renameSent) return false;
          const tmp = this.#tempPath(conn, key, `create-${nonce}`);
          if (!await stat(s, tmp)) return await stat(s, this.#path(conn, key));
          await unlink(s, tmp);
          return false;
        }),
    }, {
      policy: { attempts: 3, baseDelayMs: 100, maxDelayMs: 1_000 },
      classify: sftpKind,
    });
  }

  async list(prefix: string, startAfter?: string): Promise<ListEntry[]> {
    const slash = prefix.lastIndexOf("/");
    const dirKey = slash < 0 ? "" : prefix.slice(0, slash);
    if (dirKey) assertKey(dirKey);
    const out: ListEntry[] = [];
    // Directories read at once: one per ref would otherwise all be requested together.
    const io = limiter(16);
    const walk = async (rel: string): Promise<void> => {
      const names = await io(() =>
        this.#with(true, async (s, conn) => {
          await this.#checkRoot(s, conn);
          const dir = rel ? this.#path(conn, rel) : this.#base(conn);
          countRequest("sftp", "readdir");
          try {
            return await call<{ filename: string; attrs: Attrs }[]>((cb) => s.readdir(dir, cb));
          } catch (e) {
            if (sftpCode(e) === NO_SUCH_FILE) return [];
            throw this.#wrap(e, "list", rel || "/");
          }
        })
      );
      const subdirs: Promise<void>[] = [];
      for (const ent of names) {
        const name = ent.filename;
        if (name === "." || name === ".." || name.startsWith(TEMP_PREFIX)) continue;
        const key = rel ? `${rel}/${name}` : name;
        if (isDir(ent.attrs)) {
          if (
            prefix.startsWith(key + "/") || key.startsWith(prefix) || (key + "/").startsWith(prefix)
          ) subdirs.push(walk(key));
          continue;
        }
        if (!key.startsWith(prefix)) continue;
        if (startAfter !== undefined && compareKeys(key, startAfter) <= 0) continue;
        out.push({ key, size: ent.attrs.size, modified: new Date(ent.attrs.mtime * 1000) });
      }
      await Promise.all(subdirs);
    };
    await walk(dirKey);
    return out.sort((a, b) => compareKeys(a.key, b.key));
  }

  async delete(key: string): Promise<void> {
    assertKey(key);
    await this.#with(true, async (s, conn) => {
      const path = this.#path(conn, key);
      try {
        await this.#assertInside(s, conn, path.slice(0, path.lastIndexOf("/")));
        countRequest("sftp", "unlink");
        await call((cb) => s.unlink(path, cb));
      } catch (e) {
        if (e instanceof StoreError) throw e;
        if (sftpCode(e) !== NO_SUCH_FILE) throw this.#wrap(e, "delete", key);
      }
    });
  }

  /**
   * Remove temp files of writers that died mid-upload, older than `olderThanMs` so an
   * upload in progress is never touched. For GC; returns how many were removed.
   */
  async sweepStale(olderThanMs: number): Promise<number> {
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    const walk = async (rel: string): Promise<void> => {
      const ents = await this.#with(true, async (s, conn) => {
        const dir = rel ? this.#path(conn, rel) : this.#base(conn);
        return await call<{ filename: string; attrs: Attrs }[]>((cb) => s.readdir(dir, cb))
          .catch(() => []);
      });
      const subdirs: Promise<void>[] = [];
      for (const ent of ents) {
        if (ent.filename === "." || ent.filename === "..") continue;
        const key = rel ? `${rel}/${ent.filename}` : ent.filename;
        if (isDir(ent.attrs)) subdirs.push(walk(key));
        else if (ent.filename.startsWith(TEMP_PREFIX) && ent.attrs.mtime * 1000 < cutoff) {
          await this.#with(
            true,
            (s, conn) =>
              call((cb) => s.unlink(this.#path(conn, key), cb)).then(() => removed++, () => {}),
          );
        }
      }
      await Promise.all(subdirs);
    };
    await walk("");
    return removed;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const conn = await this.#conn?.catch(() => undefined);
    this.#conn = undefined;
    conn?.client.end();
  }

  /** One line naming what failed and what to do; never a password or passphrase. */
  #wrap(e: unknown, op: string, what: string): Error {
    if (e instanceof StoreError) return e;
    const c = this.#cfg;
    scrubCauses(e, c.secrets);
    const msg = scrubSecrets(e instanceof Error ? e.message : String(e), c.secrets);
    const level = (e as { level?: string } | null)?.level;
    const code = sftpCode(e) ?? (e as { code?: unknown } | null)?.code;
    const host = this.#hostName();
    if (level === "client-authentication") {
      return new StoreError(
        `sftp: authentication failed for ${c.user}@${host} (tried: ${
          c.authTried.join(", ") || "nothing: no key, agent or password"
        }); pass --key-file, --password, or load a key into ssh-agent`,
        "access-denied",
        { cause: e },
      );
    }
    if (level === "client-timeout" || /Timed out while waiting for handshake/i.test(msg)) {
      return new StoreError(`sftp: ${host} did not answer in time (${msg})`, "unreachable", {
        cause: e,
      });
    }
    if (level === "client-socket" || typeof code === "string") {
      return new StoreError(
        `sftp: cannot reach ${host} (${code ?? msg}); check the host, port and network`,
        "unreachable",
        { cause: e },
      );
    }
    if (code === PERMISSION_DENIED) {
      return new StoreError(
        `sftp: permission denied to ${op} ${what} on ${host} as ${c.user}; check the directory's owner and mode`,
        "access-denied",
        { cause: e },
      );
    }
    if (code === NO_SUCH_FILE) {
      return new StoreError(`sftp: ${what} does not exist on ${host} (${op})`, "io", { cause: e });
    }
    return new StoreError(`sftp: ${op} ${what} on ${host} failed: ${msg}`, "io", { cause: e });
  }
}

const processEnv: Env = (name) => Deno.env.get(name);

/** `sftp://user@host[:port]/path` (or `/~/path` in the login's home). */
export function openSftp(url: URL, settings: Settings): Promise<Store> {
  return openSftpWith(url, settings);
}

/** `openSftp` with the environment injectable (tests). */
export function openSftpWith(
  url: URL,
  settings: Settings,
  env: Env = processEnv,
  opts: SftpOptions = {},
): Promise<Store> {
  return Promise.resolve(new SftpStore(resolveSftpConfig(url, settings, env), opts));
}
