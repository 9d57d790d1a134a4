/**
 * Local disk and file shares (NFS/SMB). `create` writes a temp file and `link()`s it
 * to the final name: link fails if the name exists, atomically, on every POSIX file
 * system including NFS, and readers never see a partial file.
 */
import {
  assertKey,
  type Capabilities,
  compareKeys,
  type CreatedStamp,
  type ListEntry,
  type ListOptions,
  type PutData,
  type Range,
  type Store,
  StoreError,
  withoutDetails,
} from "./store.ts";
import { limitSize } from "./bytes.ts";
import { limiter } from "./limit.ts";

/** Synchronous file-system calls a listing makes between two turns of the event loop. */
const LIST_BATCH = 256;

/**
 * A turn of the event loop (timers and I/O run) without a timer's delay: `setTimeout(0)`
 * costs ~2.5 ms a turn here, 0.4 s of a 20,000-ref listing's 0.8 s. node:timers'
 * setImmediate turns cheapest (~0.04 ms), but its load costs ~6 ms of CPU (9-30 ms under
 * load): a process's first CHEAP_TURNS turns wait on an async lstat instead (its answer
 * comes on the loop's next poll, ~0.1-0.3 ms, nothing loaded), so a listing of up to a
 * couple of thousand keys (a clone or fetch of the corpus: one turn) never loads it.
 * A seam: tests wrap `immediate` to count the turns that go through node:timers.
 */
const CHEAP_TURNS = 8;
let cheapTurns = CHEAP_TURNS;
let timers: Promise<typeof import("node:timers")> | undefined;
export const loopYield = {
  async immediate(): Promise<void> {
    const { setImmediate } = await (timers ??= import("node:timers"));
    await new Promise<void>((r) => setImmediate(r));
  },
};
const yieldToLoop = async () => {
  if (cheapTurns > 0) {
    cheapTurns--;
    await Deno.lstat("/").catch(() => {});
    return;
  }
  await loopYield.immediate();
};

/**
 * fsync of a directory, so the names made in it (a link, a rename, a new subdirectory)
 * survive a power loss (at most SYNCS_AT_ONCE with files' syncs). A seam: tests wrap `run`
 * to count the syncs; nothing else may.
 */
export const dirSync = {
  async run(dir: string): Promise<void> {
    const f = Deno.openSync(dir, { read: true });
    try {
      await f.sync();
    } finally {
      f.close();
    }
  },
};

/**
 * fsyncs (of files and directories) this process runs at once. Each holds a system thread
 * while the disk writes. A journaling file system commits the fsyncs that wait together in
 * one journal commit: on ext4 with its journal (the default), a push of 20,000 refs took
 * 2.5-3.0 s with 128 at once and 512 creates in flight, 2.9-3.4 s with 32 and 128 (git: 0.8
 * s), for 191-197 MiB of peak RSS, not 177-182 (issue 19 allows 256); on ext4 without a
 * journal the two were level. More creates than this may be in flight
 * (`createParallelism`): the others hold a written temp file open until their turn, or
 * wait on a directory sync they share; neither holds one.
 */
export const SYNCS_AT_ONCE = 128;
const syncSlot = limiter(SYNCS_AT_ONCE);

/**
 * Temp files this process holds open at once, written and waiting for a sync slot: each
 * is a file descriptor, and two pushes in one process (the library pushing two trunks)
 * with `createParallelism` creates in flight each would pass `ulimit -n 1024`. The rest
 * wait before opening theirs, holding nothing.
 */
export const TEMPS_AT_ONCE = 3 * SYNCS_AT_ONCE;
const tempSlot = limiter(TEMPS_AT_ONCE);

/**
 * fsync of a written temp file (at most SYNCS_AT_ONCE with directories' syncs). A seam:
 * tests wrap `run` to watch the syncs; nothing else may.
 */
export const fileSync = {
  run(file: Deno.FsFile): Promise<void> {
    return file.sync();
  },
};

/**
 * The directory syncs one write waits for. The sync of a directory's parent starts as soon
 * as the directory is made, so another write racing into the new directory can wait for it
 * too (see `LocalStore.#fresh`).
 */
class DirSyncs {
  #waits: Promise<void>[] = [];
  constructor(readonly sync: (dir: string) => Promise<void>) {}

  /** A sync of `dir` that starts after this call (shared with others: `#syncDir`). */
  start(dir: string): Promise<void> {
    const p = this.sync(dir);
    this.join(p);
    return p;
  }

  /** Also waits for `p`, a sync another write started. */
  join(p: Promise<void>): void {
    // Awaited in `all`; a write that fails first leaves no rejection unhandled.
    p.catch(() => {});
    this.#waits.push(p);
  }

  all(): Promise<unknown> {
    return Promise.all(this.#waits);
  }
}

/**
 * A directory a write finds already made is trusted to have a durable name once it is this
 * old; a write into a younger one syncs its parent too. Another process may have made it
 * and not yet synced its name (or died first), and nothing in this process can wait for
 * that. Its maker syncs the parent right after mkdir, and Linux writes dirty metadata back
 * within ~35 s even with no sync at all (ext4 commits every 5 s, xfs and btrfs every 30 s,
 * dirty inodes expire after 30 s): twice that leaves room for a slow sync, a coarse
 * timestamp and a small clock step. Always syncing the parent is correct too, but costs
 * every push into an existing ref one more fsync, for nothing once the name is old.
 * A seam: tests set `ms` to see directories as old.
 */
export const youngDir = { ms: 60_000 };

/**
 * True unless `st` was made at least `youngDir.ms` before `now`. Its birth time when known;
 * else its last change, never earlier than its birth, so the error is an extra sync. A time
 * after `now` (the clock stepped back) is young.
 */
function young(st: Deno.FileInfo, now: number): boolean {
  const made = st.birthtime ?? st.ctime ?? st.mtime;
  return !made || now - made.getTime() < youngDir.ms;
}

/** `path`'s lstat, or null when it cannot be had (missing). */
function lstatOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch {
    return null;
  }
}

/** `dir`'s lstat when it is a directory (not a symlink to one), else undefined. */
function plainDir(dir: string): Deno.FileInfo | undefined {
  try {
    const st = Deno.lstatSync(dir);
    return st.isDirectory ? st : undefined;
  } catch {
    return undefined; // missing, or unreadable: mkdir says which
  }
}

/** Temp files start with this; they are never listed and are swept by GC. */
export const TEMP_PREFIX = ".tmp-";

/**
 * Objects up to this size, asked for whole, are read in one call into one buffer of their
 * size (ref entries, indexes, trunk.json, a snapshot): a file stream costs several times the
 * read itself, and a clone of 20,000 refs reads a 9 MB snapshot, whose 1 MiB pieces and their
 * copy into one array (`readAll`) cost ~8 ms more (and held it twice). Larger ones
 * (segments) stream in pieces, so a copy of one never holds it whole.
 */
const WHOLE_READ_MAX = 16 << 20;

/** Young directories a store remembers having synced the names of (`LocalStore.#named`). */
const NAMED_MAX = 1024;

/**
 * Anyone who can write to the store can plant a key that is not a regular file: `/dev/zero`
 * lists as 0 bytes and reads forever, a pipe never answers, and a symlink (to anything)
 * would hand this machine's own files (~/.ssh/id_ed25519) to the reader as store content.
 */
function notAFile(key: string): StoreError {
  return new StoreError(
    `local store: ${key} is not a regular file (a symlink, directory, device or pipe); ` +
      `nothing was read from it: remove it from the store`,
    "corrupt",
  );
}

/**
 * The file's bytes in one read when the caller takes all of it (no range, or one from its
 * start that reaches past its end) and it holds at most WHOLE_READ_MAX; else null (read in
 * pieces instead). Its lstat decides, so a caller that stops reading past a limit asks for
 * a range one byte longer (`getAtMost`), and a file larger than that never comes in one
 * piece. A key that is not a regular file is refused (`notAFile`).
 */
async function readSmall(path: string, key: string, range?: Range): Promise<Uint8Array | null> {
  const st = await Deno.lstat(path);
  if (!st.isFile) throw notAFile(key);
  if (st.size > WHOLE_READ_MAX) return null;
  if (!range) return await Deno.readFile(path);
  const length = range.length ?? Infinity;
  if (range.offset !== 0 || length < st.size) return null;
  const bytes = await Deno.readFile(path);
  // Grown since its lstat: still no more than was asked.
  return bytes.byteLength > length ? bytes.subarray(0, length) : bytes;
}

function oneChunk(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(c) {
      if (bytes.byteLength) c.enqueue(bytes);
      c.close();
    },
  });
}

export class LocalStore implements Store {
  readonly capabilities: Capabilities = {
    atomicCreate: true,
    rangeReads: true,
    maxObjectSize: Infinity,
    // Each request in flight holds at most two files open (ulimit -n 1024 is fine, and
    // for the creates below too).
    parallelism: 32,
    // A create waits on the disk only in its fsyncs (SYNCS_AT_ONCE at a time): its temp
    // file's and its directory's, shared by every create waiting when it starts. With 128 in
    // flight, not 32, more names share each sync of refs/: a push of 20,000 refs made ~600
    // directory syncs, not ~1,400, and took a quarter to a third less CPU and 10-35% less
    // wall time (ext4 without a journal, a shared machine at load 4-10). Four times
    // SYNCS_AT_ONCE keeps every sync slot busy while the main thread writes the next temps.
    createParallelism: 4 * SYNCS_AT_ONCE,
  };

  /**
   * @param base directory holding the keys (created on first write)
   * @param root directory that must already exist: a typo in a URL never creates a
   *   stray tree somewhere on disk.
   */
  constructor(readonly base: string, readonly root: string, readonly location: string) {}

  #realBase?: string;
  /** Directory fsyncs per directory: the one running and the one that will run next. */
  #dirSyncs = new Map<string, { running?: Promise<void>; next?: Promise<void> }>();
  /**
   * Directories this store made whose names are not yet synced, each with the sync of its
   * parent: a write into one that another write just made (a racing create of the same new
   * ref, or a new trunk's first writes) returns only once that name is durable too.
   */
  #fresh = new Map<string, Promise<void>>();
  /**
   * Young directories this store found made and synced the names of since, with their
   * birth times, newest last: a write into one syncs its parent once, not every time.
   * Capped: one dropped from it costs one more sync.
   */
  #named = new Map<string, number>();
  /** The base directory's identity when first resolved (see `#ensureDir`). */
  #baseId?: { dev: number; ino: number | null };

  /**
   * Anyone who can write the store could swap a directory of the trunk for a symlink to
   * elsewhere on this machine; writes and deletes never follow one out of the trunk.
   */
  #assertInside(dir: string, doing = "write or delete"): void {
    this.#realBase ??= Deno.realPathSync(this.base);
    const real = Deno.realPathSync(dir);
    if (real !== this.#realBase && !real.startsWith(`${this.#realBase}/`)) {
      throw new StoreError(
        `local store: ${dir} leads outside ${this.base} (a symlink in the store?); ` +
          `refusing to ${doing} there: remove the link and retry`,
        "invalid-key",
      );
    }
  }

  /**
   * A listing walks only real directories below the one its prefix names (a symlink in
   * them is listed as a key, not followed), but that one and those above it up to the base
   * are opened by path: one of them swapped for a symlink out of the trunk (refs/ -> ~)
   * would list this machine's files as keys, which reads would then take as the store's.
   * An lstat a level; resolved in full only when one is a link.
   */
  #assertListedInside(dirKey: string): void {
    for (let rel = dirKey; rel; rel = rel.slice(0, Math.max(0, rel.lastIndexOf("/")))) {
      const st = lstatOrNull(`${this.base}/${rel}`);
      if (!st?.isSymlink) continue;
      try {
        return this.#assertInside(`${this.base}/${dirKey}`, "list");
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return; // a dangling link: nothing to list
        throw this.#wrap(e, dirKey);
      }
    }
  }

  /**
   * The directory a write goes into exists (made when missing) and lies inside the trunk.
   * A push writes thousands of entries, each in its ref's directory, and resolving every
   * component of each path (`#assertInside`) was a third of its system calls. The same
   * rule in fewer: no component between the base and `dir` is a symlink (one made by this
   * call is not), and the base is the very directory it was when first resolved; anything
   * else is resolved in full, as before.
   */
  #ensureDir(dir: string, syncs: DirSyncs): void {
    // Most writes go into a directory that exists (format 2 keeps every entry in refs/):
    // an lstat says so, where a mkdir failing with EEXIST cost the same call and an error
    // object besides (~45 µs: 0.9 s of a 20,000-ref push's main thread).
    const existing = plainDir(dir);
    let made = false;
    if (!existing) {
      try {
        Deno.mkdirSync(dir);
        made = true;
        this.#markFresh(dir, syncs.start(dir.slice(0, dir.lastIndexOf("/"))));
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) {
          // The parent is missing too (a new trunk, or a typo in the URL: then say so).
          this.#checkRoot();
          try {
            Deno.mkdirSync(dir, { recursive: true });
          } catch (e) {
            throw this.#wrap(e, dir);
          }
          // Which levels were made is not known: every one below the root may be new.
          const root = this.root.replace(/\/+$/, "");
          for (let p = dir; p.length > root.length && p.startsWith(`${root}/`);) {
            const parent = p.slice(0, p.lastIndexOf("/"));
            this.#markFresh(p, syncs.start(parent));
            p = parent;
          }
          this.#assertInside(dir);
          return this.#joinFresh(dir, syncs);
        }
        if (!(e instanceof Deno.errors.AlreadyExists)) throw this.#wrap(e, dir);
      }
    }
    const found: [string, Deno.FileInfo][] = [];
    if (!this.#plainInside(dir, made, found, existing)) {
      this.#assertInside(dir);
      if (!made) found.push([dir, Deno.statSync(dir)]);
    }
    this.#joinFresh(dir, syncs);
    this.#syncYoung(found, syncs);
  }

  /**
   * A write into a directory another process may have just made returns only once that
   * directory's name is durable too (see `youngDir`): `found` holds the directories it
   * went through, made before this call, with their lstat. A young base also has its own
   * levels above it checked, up to the root.
   */
  #syncYoung(found: [string, Deno.FileInfo][], syncs: DirSyncs): void {
    const now = Date.now();
    for (const [dir, st] of found) {
      if (!this.#syncName(dir, st, now, syncs) || dir !== this.base) continue;
      const root = this.root.replace(/\/+$/, "");
      for (let p = dir.slice(0, dir.lastIndexOf("/")); p.startsWith(`${root}/`);) {
        if (!this.#syncName(p, Deno.statSync(p), now, syncs)) break;
        p = p.slice(0, p.lastIndexOf("/"));
      }
    }
  }

  /** Syncs `dir`'s parent when `dir` is young and not known named; true when it does. */
  #syncName(dir: string, st: Deno.FileInfo, now: number, syncs: DirSyncs): boolean {
    if (this.#fresh.has(dir) || !young(st, now)) return false;
    // The same path made again (pruned, then made anew) has another birth time.
    const birth = st.birthtime?.getTime();
    if (birth !== undefined && this.#named.get(dir) === birth) return false;
    const sync = syncs.start(dir.slice(0, dir.lastIndexOf("/")));
    if (birth !== undefined) {
      sync.then(() => {
        this.#named.delete(dir);
        this.#named.set(dir, birth);
        if (this.#named.size > NAMED_MAX) this.#named.delete(this.#named.keys().next().value!);
      }, () => {});
    }
    return true;
  }

  #markFresh(dir: string, parentSync: Promise<void>): void {
    this.#fresh.set(dir, parentSync);
    parentSync.catch(() => {}).finally(() => {
      if (this.#fresh.get(dir) === parentSync) this.#fresh.delete(dir);
    });
  }

  /** The write also waits for the syncs naming `dir` and its parents, if still running. */
  #joinFresh(dir: string, syncs: DirSyncs): void {
    if (!this.#fresh.size) return;
    for (let p = dir; p.length > 1; p = p.slice(0, p.lastIndexOf("/"))) {
      const sync = this.#fresh.get(p);
      if (sync) syncs.join(sync);
    }
  }

  /**
   * True when `dir` is inside the base through real directories only (see `#ensureDir`).
   * `found` gets the directories it looked at, with their lstat (for `#syncYoung`).
   */
  #plainInside(
    dir: string,
    made: boolean,
    found: [string, Deno.FileInfo][],
    /** `dir`'s lstat, when just taken. */
    dirStat?: Deno.FileInfo,
  ): boolean {
    if (dir !== this.base && !dir.startsWith(`${this.base}/`)) return false;
    let p = made ? dir.slice(0, dir.lastIndexOf("/")) : dir;
    while (p.length > this.base.length) {
      const st = p === dir && dirStat ? dirStat : Deno.lstatSync(p);
      if (st.isSymlink || !st.isDirectory) return false;
      found.push([p, st]);
      p = p.slice(0, p.lastIndexOf("/"));
    }
    const st = Deno.statSync(this.base);
    if (dir !== this.base || !made) found.push([this.base, st]);
    if (!this.#baseId) {
      this.#assertInside(this.base);
      this.#baseId = { dev: st.dev, ino: st.ino };
      return true;
    }
    if (st.ino === null) return false;
    if (st.dev === this.#baseId.dev && st.ino === this.#baseId.ino) return true;
    // The base was made anew since: a delete that left it empty pruned it (a new trunk's
    // store probe does, just before its first writes). The first call's check again, and
    // its new identity is the one to compare with; without this, every later write
    // resolved its whole path (20,000 realpath calls in a push of 20,000 refs).
    if (Deno.realPathSync(this.base) !== this.#realBase) return false;
    this.#baseId = { dev: st.dev, ino: st.ino };
    return true;
  }

  #path(key: string): string {
    assertKey(key);
    return `${this.base}/${key}`;
  }

  async get(key: string, range?: Range): Promise<ReadableStream<Uint8Array> | null> {
    const path = this.#path(key);
    let file: Deno.FsFile;
    try {
      const whole = await readSmall(path, key, range);
      if (whole) return oneChunk(whole);
      file = await Deno.open(path, { read: true });
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw this.#wrap(e, key);
      // Say so when the whole root is missing (a typo in the URL), not just this key.
      this.#checkRoot();
      return null;
    }
    // Read in pieces of 1 MiB, a large file as a range: `file.readable`'s pieces of 64 KiB
    // cost a clone of 20,000 refs 15-35 ms of CPU more on its 9 MB snapshot (143 reads).
    if (range) await file.seek(range.offset, Deno.SeekMode.Start);
    let left = range?.length ?? Infinity;
    const bufSize = 1 << 20;
    return new ReadableStream<Uint8Array>({
      async pull(c) {
        if (left <= 0) {
          file.close();
          c.close();
          return;
        }
        const buf = new Uint8Array(Math.min(bufSize, left));
        let n: number | null;
        try {
          n = await file.read(buf);
        } catch (e) {
          file.close();
          throw e;
        }
        if (n === null) {
          file.close();
          c.close();
          return;
        }
        left -= n;
        c.enqueue(buf.subarray(0, n));
      },
      cancel() {
        file.close();
      },
    });
  }

  /**
   * The kernel copies (copy_file_range; a reflink where the file system shares extents):
   * a segment's bytes never come up into this process. `dest` may be left partly
   * written when this fails; the caller removes it.
   */
  async copyToFile(key: string, dest: string, limit = Infinity): Promise<number | null> {
    const path = this.#path(key);
    // Deno.copyFile gives the copy its source's mode, and a store anyone may write to can
    // make that setuid or world-writable: a pack git then reads could be rewritten after it
    // was verified. So `dest` must be in a directory only this user can enter (the contract;
    // checked here), and the copy then gets the mode a new file of this process gets: read
    // from `dest` made empty first, not from Deno.umask(), which sets it for every thread.
    // Windows keeps no such modes (nor uids): there the copy is made as it is.
    // The small calls around the copy are synchronous: each async one costs a turn of the
    // event loop (a clone's segments are copied on its way to index-pack); the copy itself,
    // as long as the segment is large, stays async.
    // A symlink is followed by the copy (and a pipe never answers): refused as `get` does.
    const st = lstatOrNull(path);
    if (st && !st.isFile) throw notAFile(key);
    // Larger than the caller will take (the listed size): not copied, not even in part.
    if (st && st.size > limit) return st.size;
    const unix = Deno.build.os !== "windows";
    let mode: number | undefined;
    if (unix) {
      const slash = dest.lastIndexOf("/");
      const parent = Deno.statSync(slash > 0 ? dest.slice(0, slash) : slash === 0 ? "/" : ".");
      if (parent.uid !== Deno.uid() || (parent.mode! & 0o077) !== 0) {
        throw new StoreError(
          `local: cannot copy ${key} to ${dest}: its directory must be this user's alone (mode 0700)`,
          "invalid-key",
        );
      }
      using made = Deno.openSync(dest, { write: true, createNew: true });
      mode = made.statSync().mode! & 0o777;
    }
    try {
      await Deno.copyFile(path, dest);
    } catch (e) {
      const gone = e instanceof Deno.errors.NotFound && !lstatOrNull(path);
      if (!gone) throw this.#wrap(e, key);
      try {
        Deno.removeSync(dest);
      } catch {
        // never made, or already gone
      }
      this.#checkRoot();
      return null;
    }
    if (mode !== undefined) Deno.chmodSync(dest, mode);
    return Deno.statSync(dest).size;
  }

  async put(key: string, data: PutData): Promise<void> {
    const path = this.#path(key);
    data = limitSize(data, this.capabilities.maxObjectSize, `local: ${key}`);
    const syncs = new DirSyncs((d) => this.#syncDir(d));
    const { tmp } = await this.#writeTemp(path, data, syncs);
    try {
      await Deno.rename(tmp, path);
    } catch (e) {
      await Deno.remove(tmp).catch(() => {});
      throw this.#wrap(e, key, true);
    }
    syncs.start(path.slice(0, path.lastIndexOf("/")));
    await this.#syncDirs(syncs, key);
  }

  async create(key: string, data: Uint8Array): Promise<boolean> {
    return (await this.createStamped(key, data)) !== null;
  }

  async createStamped(key: string, data: Uint8Array): Promise<CreatedStamp | null> {
    const path = this.#path(key);
    limitSize(data, this.capabilities.maxObjectSize, `local: ${key}`);
    const syncs = new DirSyncs((d) => this.#syncDir(d));
    // The temp file is the created file (a link shares its inode): its modified time is
    // what a listing will show, read from the open file (no path walk) before the name
    // exists, so it cannot be another's.
    const { tmp, modified } = await this.#writeTemp(path, data, syncs, true);
    // A push creates one entry per ref: the calls around the fsync are synchronous (an
    // async op costs several times the call itself, and there are tens of thousands).
    let stamp: CreatedStamp | null;
    try {
      Deno.linkSync(tmp, path);
      stamp = modified ? { modified } : {};
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw this.#wrap(e, key, true);
      // Lost the race; a directory this call made is still synced (the winner may not
      // have made it, and then waits for this sync only when in this process).
      stamp = null;
    } finally {
      try {
        Deno.removeSync(tmp);
      } catch {
        // already swept; nothing to undo
      }
    }
    if (stamp) syncs.start(path.slice(0, path.lastIndexOf("/")));
    await this.#syncDirs(syncs, key);
    return stamp;
  }

  /**
   * The new names a write made are on disk (a push git calls done must survive a power
   * loss), each directory synced once. Concurrent writes into one directory share a sync: a
   * caller joins the one waiting to start, or queues one behind the one running (which
   * may have started before its name existed).
   */
  async #syncDirs(syncs: DirSyncs, key: string): Promise<void> {
    try {
      await syncs.all();
    } catch (e) {
      throw this.#wrap(e, key);
    }
  }

  #syncDir(dir: string): Promise<void> {
    let s = this.#dirSyncs.get(dir);
    if (!s) this.#dirSyncs.set(dir, s = {});
    if (s.next) return s.next;
    const state = s;
    const next: Promise<void> = (state.running ?? Promise.resolve()).catch(() => {}).then(
      () => {
        state.running = next;
        state.next = undefined;
        return syncSlot(() => dirSync.run(dir)).catch((e) => {
          // Some network file systems refuse fsync on a directory; their names are as
          // durable as the server makes them.
          if ((e as { code?: string })?.code !== "EINVAL") throw e;
        });
      },
    ).finally(() => {
      if (state.running === next) state.running = undefined;
      if (!state.running && !state.next) this.#dirSyncs.delete(dir);
    });
    state.next = next;
    return next;
  }

  async list(prefix: string, startAfter?: string, opts?: ListOptions): Promise<ListEntry[]> {
    // Walk only the directory the prefix names, then filter by the full prefix.
    const slash = prefix.lastIndexOf("/");
    const dirKey = slash < 0 ? "" : prefix.slice(0, slash);
    const found: string[] = [];
    this.#checkRoot();
    this.#assertListedInside(dirKey);
    // Depth first with synchronous calls: a trunk holds one directory per ref, and an
    // async op per directory and per file cost ~8x the CPU of the calls themselves
    // (20,000 refs: seconds). One directory is open at a time (never EMFILE); the event
    // loop gets a turn every LIST_BATCH calls.
    const pending = [dirKey];
    let calls = 0;
    while (pending.length) {
      const rel = pending.pop()!;
      const dir = rel ? `${this.base}/${rel}` : this.base;
      if (++calls % LIST_BATCH === 0) await yieldToLoop();
      let entries: Deno.DirEntry[];
      try {
        entries = [...Deno.readDirSync(dir)];
      } catch (e) {
        if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) continue;
        throw this.#wrap(e, rel || ".");
      }
      // Every name in a directory the prefix ends in (`segments/`) starts with the prefix:
      // a listing of thousands of segments tests none of them (~1 ms cold).
      const inPrefix = prefix === (rel ? `${rel}/` : "");
      const keyStart = rel ? `${rel}/` : "";
      for (let i = 0; i < entries.length; i++) {
        const ent = entries[i];
        if (ent.name.startsWith(TEMP_PREFIX)) continue;
        const key = keyStart + ent.name;
        if (ent.isDirectory) {
          if (
            prefix.startsWith(key + "/") || key.startsWith(prefix) || (key + "/").startsWith(prefix)
          ) {
            pending.push(key);
          }
          continue;
        }
        if (!inPrefix && !key.startsWith(prefix)) continue;
        if (startAfter !== undefined && compareKeys(key, startAfter) <= 0) continue;
        found.push(key);
      }
    }
    // The built-in sort's order (UTF-16 code units) is compareKeys', without a
    // comparator called from JavaScript (4,120 keys: 2-6 ms -> ~1 ms, cold as a helper is).
    found.sort();
    // A stat costs more than the directory's read (~7 µs a file): only where asked.
    const wanted = opts?.details?.(found);
    const out: ListEntry[] = [];
    const at = `${this.base}/`;
    for (let i = 0; i < found.length; i++) {
      const key = found[i];
      if (wanted && !wanted.has(key)) {
        out.push(withoutDetails(key));
        continue;
      }
      if (++calls % LIST_BATCH === 0) await yieldToLoop();
      let st: Deno.FileInfo;
      try {
        // The key itself, not what a symlink planted there points at: it is listed as it
        // is, and a read of it is refused in one line (`notAFile`), where leaving it out
        // would hide a ref's newest entry (its older one then read as the ref's value).
        st = Deno.lstatSync(at + key);
      } catch (e) {
        // Deleted between readDir and stat (GC): it is simply not there.
        if (e instanceof Deno.errors.NotFound) continue;
        throw this.#wrap(e, key);
      }
      out.push({ key, size: st.size, modified: st.mtime ?? new Date(0) });
    }
    return out;
  }

  async delete(key: string): Promise<void> {
    const path = this.#path(key);
    try {
      this.#assertInside(path.slice(0, path.lastIndexOf("/")));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    try {
      await Deno.remove(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw this.#wrap(e, key);
    }
    await this.#pruneEmptyDirs(key);
  }

  /**
   * Remove directories the delete left empty, up to (not including) the root, so a
   * probe or GC leaves no empty trees behind. Removing a non-empty directory fails,
   * which ends the walk; a writer racing into a pruned directory re-creates it. A symlink
   * ends it too: removing one unlinks it whatever it holds (a user's trunk directory linked
   * to another disk would vanish from its URL with everything in it).
   */
  async #pruneEmptyDirs(key: string): Promise<void> {
    const root = this.root.replace(/\/+$/, "");
    if (!root) return;
    let dir = this.#path(key);
    for (;;) {
      dir = dir.slice(0, dir.lastIndexOf("/"));
      if (!dir.startsWith(root + "/") || dir.length <= root.length) return;
      if (!lstatOrNull(dir)?.isDirectory) return;
      try {
        await Deno.remove(dir);
      } catch {
        return; // not empty, already gone, or not ours to remove
      }
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Stale temp files (crashed writers), for GC: key-like paths with their age. */
  async listTemp(): Promise<{ path: string; modified: Date }[]> {
    const out: { path: string; modified: Date }[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries: Deno.DirEntry[];
      try {
        entries = await Array.fromAsync(Deno.readDir(dir));
      } catch {
        return;
      }
      for (const ent of entries) {
        const p = `${dir}/${ent.name}`;
        if (ent.isDirectory) await walk(p);
        else if (ent.name.startsWith(TEMP_PREFIX)) {
          const st = await Deno.stat(p).catch(() => null);
          if (st) out.push({ path: p, modified: st.mtime ?? new Date(0) });
        }
      }
    };
    await walk(this.base);
    return out;
  }

  #checkRoot(): void {
    try {
      const st = Deno.statSync(this.root);
      if (!st.isDirectory) {
        throw new StoreError(`store path ${this.root} is not a directory`, "not-found-root");
      }
    } catch (e) {
      if (e instanceof StoreError) throw e;
      if (e instanceof Deno.errors.NotFound) {
        throw new StoreError(
          `store path ${this.root} does not exist; create it or fix the URL`,
          "not-found-root",
        );
      }
      throw this.#wrap(e, this.root);
    }
  }

  /**
   * `syncs` gets the syncs of the directories whose entries this made (awaited by the
   * caller). `stat`: also the file's modified time once written.
   */
  async #writeTemp(
    path: string,
    data: PutData,
    syncs: DirSyncs,
    stat = false,
  ): Promise<{ tmp: string; modified?: Date | null }> {
    const dir = path.slice(0, path.lastIndexOf("/"));
    this.#ensureDir(dir, syncs);
    return await tempSlot(() => this.#writeTempFile(dir, path, data, syncs, stat));
  }

  async #writeTempFile(
    dir: string,
    path: string,
    data: PutData,
    syncs: DirSyncs,
    stat: boolean,
  ): Promise<{ tmp: string; modified?: Date | null }> {
    const tmp = `${dir}/${TEMP_PREFIX}${crypto.randomUUID()}`;
    let file: Deno.FsFile | undefined;
    try {
      try {
        file = Deno.openSync(tmp, { write: true, createNew: true });
      } catch (e) {
        // A delete pruned the directory between our mkdir and open: make it again.
        if (!(e instanceof Deno.errors.NotFound)) throw e;
        this.#ensureDir(dir, syncs);
        file = Deno.openSync(tmp, { write: true, createNew: true });
      }
      if (data instanceof Uint8Array) {
        let at = 0;
        while (at < data.byteLength) at += file.writeSync(data.subarray(at));
      } else {
        for await (const chunk of data) {
          let at = 0;
          while (at < chunk.byteLength) at += await file.write(chunk.subarray(at));
        }
      }
      // Durable before visible: a crash after the rename/link must not leave an empty
      // object. The one call that waits on the disk stays async, so creates overlap.
      await syncSlot(() => fileSync.run(file!));
      const modified = stat ? file.statSync().mtime : undefined;
      file.close();
      file = undefined;
      return { tmp, modified };
    } catch (e) {
      file?.close();
      await Deno.remove(tmp).catch(() => {});
      throw this.#wrap(e, path);
    }
  }

  /** `publishing`: the error came from moving a finished temp file into place. */
  #wrap(e: unknown, what: string, publishing = false): Error {
    if (e instanceof StoreError) return e;
    if (publishing && e instanceof Deno.errors.NotFound) {
      // The temp file was written moments ago in the key's own directory: only another
      // process (a sweep of stale uploads after a long stall) removes it. Nothing is stored.
      return new StoreError(
        `local store: the upload of ${what} was removed by another process before it was stored ` +
          `(a clean sweeping stale uploads?); nothing was written, run the command again`,
        "io",
        { cause: e },
      );
    }
    if (e instanceof Deno.errors.PermissionDenied) {
      return new StoreError(
        `permission denied on ${what}: check the store path's permissions`,
        "access-denied",
        { cause: e },
      );
    }
    const msg = e instanceof Error ? e.message : String(e);
    return new StoreError(`local store: ${msg}`, "io", { cause: e });
  }
}
