/**
 * The library API: read and write a trunk from a program, with no git binary. Reads go
 * straight to the stored segments (index, then one range read per object); commits are
 * built in memory and pushed as one self-contained segment plus one compare-and-swap
 * ref entry per branch, exactly the protocol `git push` through the helper uses, so
 * git and the library read each other's work.
 */
import { LocalDb } from "../local/db.ts";
import { openStore, type Settings } from "../storage/registry.ts";
import type { Store } from "../storage/store.ts";
import { resolveStorages } from "../local/trunk_storages.ts";
import { MirroredStore, StorageFailure } from "../trunk/mirrors.ts";
import { namesMirror, readLatestMap } from "../trunk/storage_map.ts";
import { MemoryCache, type TrunkCache } from "../trunk/cache.ts";
import { TrunkError } from "../trunk/errors.ts";
import { isDeleted, type RefEntry, type RefState } from "../trunk/refs.ts";
import { autoStepAfterPush, autoStepFailed, runStep } from "../trunk/maintenance.ts";
import { type MovedOnPrimaryOnly, Trunk as CoreTrunk } from "../trunk/trunk.ts";
import type { OnProgress } from "../trunk/progress.ts";
import {
  CLEANED_MEANWHILE,
  landed,
  OUTLIVED_LEASE,
  push as enginePush,
  type PushReport,
  type PushSource,
} from "../trunk/push.ts";
import { largeBlobThreshold } from "../trunk/large_blobs.ts";
import { type ContentSource, LargeContents, type Staged } from "../trunk/large_content.ts";
import { ObjectReader, type ReadStats } from "./object_reader.ts";
import {
  checkReads,
  databaseAt,
  defaultWriter,
  envGet,
  namedTarget,
  openDatabase,
  type OpenOptions,
  trunkUrlOf,
} from "./open.ts";
import { isNamedUrl } from "../local/named_url.ts";
import { branchRef, shortRef } from "./ref_names.ts";
import {
  type Commit,
  encodeCommit,
  type GitObject,
  type ObjectFormat,
  objectId,
  parseCommit,
  parseTag,
  parseTree,
  type Signature,
  type TreeEntry,
} from "../pack/objects.ts";
import { buildSegment } from "../pack/pack_format.ts";
import { RefView } from "./ref_view.ts";
import { applyChanges, type Change, normalizePath, stageChange, type TreeIo } from "./tree_edit.ts";

/** One live ref of the trunk, with who moved it last (from the ref log). */
export interface RefInfo {
  /** Full name: `refs/heads/main`, `refs/tags/v1`. */
  name: string;
  /** The object it points at (a tag object for annotated tags). */
  oid: string;
  /** The writer of its latest ref entry. */
  writer: string;
  /** When that entry was written (ISO 8601). */
  time: string;
  /** The entry's sequence number: how many times the ref has moved. */
  seq: number;
}

/** One entry of a directory listing. */
export interface ListEntry {
  /** Path from the repository root. */
  path: string;
  /** The last path component. */
  name: string;
  /** What the entry is. */
  type: "file" | "dir" | "symlink" | "submodule";
  /** Git's octal mode: `100644`, `100755`, `120000`, `40000`, `160000`. */
  mode: string;
  /** The blob, tree or (submodule) commit id. */
  oid: string;
}

/** What `commit()` records. */
export interface CommitOptions {
  /** The commit message. */
  message: string;
  /** Branch to commit to (short or full name); default the trunk's HEAD branch. */
  branch?: string;
  /** Where a new branch starts (ref or commit id); default the HEAD branch. */
  from?: string;
  /** Author and committer of this commit (default the `author` given to `open`). */
  author?: { name: string; email: string };
  /** Commit even when the staged changes leave the tree as it was. */
  allowEmpty?: boolean;
}

/** A local commit just made. */
export interface CommitResult {
  /** The new commit's id (it changes if `pull()` rebases it). */
  oid: string;
  /** Full branch name. */
  branch: string;
  /** Its parent (none for the first commit of an empty trunk). */
  parents: string[];
}

/** How `write()` and `writeFile()` stage a file. */
export interface WriteOptions {
  /** Mode 100755. */
  executable?: boolean;
  /** A symbolic link whose target is the content (`write()` only). */
  symlink?: boolean;
}

/** How `writeFile()` stages a file. */
export interface WriteFileOptions {
  /** Mode 100755. */
  executable?: boolean;
  /**
   * A stream's length in bytes, when known: its id is then computed while it is
   * spooled (one pass), and a stream of another length is an error.
   */
  size?: number;
}

/** What `writeFile()` staged. */
export interface StagedFile {
  /** The file's git blob id. */
  oid: string;
  size: number;
  /**
   * True when the file is above the large-blob threshold: it is not held in memory and
   * `push()` stores it as compressed content-defined chunks, as `git push` does.
   */
  large: boolean;
}

/** A branch `push()` moved. */
export interface PushResult {
  /** Short branch name. */
  branch: string;
  /** The commit the branch now points at. */
  oid: string;
  /** The segment written (absent when nothing new had to be uploaded). */
  segment?: string;
}

/** Another writer moved the branch first; `pull()` rebases local commits, then `push()` again. */
/** Options of {@link Trunk.push}. */
export interface PushOptions {
  /** Told of the upload's bytes as they move (many calls: throttle what you draw). */
  onProgress?: OnProgress;
}

export class ConflictError extends TrunkError {
  /**
   * `branches`: the short names of the branches that were not pushed. The message quotes
   * what another writer recorded (its name, time, paths), escaped as every TrunkError's is.
   */
  constructor(message: string, readonly branches: string[]) {
    super(message, "conflict");
    this.name = "ConflictError";
  }
}

interface LocalCommit {
  oid: string;
  changes: Map<string, Change>;
  message: string;
  author: Signature;
  committer: Signature;
}

interface Pending {
  /** The ref entry the first local commit was made on (null: the branch did not exist). */
  base: RefEntry | null;
  /** The commit the first local commit builds on (null: a root commit). */
  baseOid: string | null;
  commits: LocalCommit[];
}

export type { OpenOptions };

const enc = new TextEncoder();
const dec = new TextDecoder();
const HEX_RE = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/**
 * A trunk opened by a program. Open with {@link Trunk.open}; close with `close()` or
 * `await using`.
 *
 * @example Read a file, commit a change, publish it
 * ```ts
 * import { Trunk } from "./mod.ts";
 * await using trunk = await Trunk.open({ backend: "s3://company-code", name: "lazy-lms" });
 * await trunk.pull();
 * const readme = await trunk.readText("README.md");
 * trunk.write("notes/todo.md", "ship it\n");
 * await trunk.commit({ message: "agent: notes", branch: "agent/42" });
 * await trunk.push();
 * ```
 */
export class Trunk {
  #core: CoreTrunk;
  #reader: ObjectReader;
  #refs: RefView;
  #staged = new Map<string, Change>();
  #pending = new Map<string, Pending>();
  #db: LocalDb | null;
  #ownsStore: boolean;
  #author?: { name: string; email: string };
  #closed = false;
  #largeContents: LargeContents | null = null;
  #tempDir?: string;
  /** The automatic maintenance step running in this process, if any. */
  #maintenance: Promise<void> | null = null;
  /** The last of the calls that change local commits, queued (`#exclusive`). */
  #serial: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | null = null;
  /** Calls under way (`#call`), and close() waiting for the last to end. */
  #calls = 0;
  #idle: (() => void) | null = null;

  private constructor(
    core: CoreTrunk,
    reader: ObjectReader,
    db: LocalDb | null,
    ownsStore: boolean,
    author?: { name: string; email: string },
    tempDir?: string,
  ) {
    this.#core = core;
    this.#tempDir = tempDir;
    this.#reader = reader;
    this.#refs = new RefView(core.store, core.cache, core.meta);
    reader.relist = async () => reader.setSegments(await core.segments());
    this.#db = db;
    this.#ownsStore = ownsStore;
    this.#author = author;
  }

  /**
   * Open a trunk by URL (`url`), or by storage root and name (`backend` + `name`), or an
   * open `store`. Costs one read of trunk.json, with a `cacheDir` too: the store is the
   * truth, so a trunk deleted and re-created at the same URL opens as the new one.
   */
  static async open(opts: OpenOptions): Promise<Trunk> {
    checkReads(opts.reads);
    let store = opts.store;
    const owns = !store;
    // Read from the trunk's map when this opens the storages (a given store: not known).
    let mapNamesMirrors: boolean | undefined;
    let db: LocalDb | null = null;
    let settings = opts.settings ?? {};
    let url = opts.url;
    const byName = !store && url !== undefined && isNamedUrl(url);
    if (byName && opts.storage) {
      throw new TrunkError(
        "Trunk.open: `storage` picks a storage of `database`; a trunks://NAME/REPO URL names its own",
        "bad-input",
      );
    }
    if (opts.database && byName) db = await databaseAt(opts.database);
    else if (opts.database) {
      const found = await openDatabase(opts.database, opts.storage);
      db = found.db;
      url ??= found.url;
      settings = { ...found.settings, ...settings };
    }
    if (!store) {
      try {
        const named = byName ? namedTarget(url!, db) : null;
        if (named) {
          url = named.url;
          settings = { ...named.open, ...settings };
        }
        ({ store, mapNamesMirrors } = await openMirrored(
          trunkUrlOf(opts, url),
          settings,
          db,
          opts.trustMirrors ?? [],
          { named: named?.name },
        ));
      } catch (e) {
        db?.close();
        throw e;
      }
    }
    try {
      if (opts.cacheDir && !db) {
        await Deno.mkdir(opts.cacheDir, { recursive: true });
        db = new LocalDb(`${opts.cacheDir}/cache.sqlite`);
      }
      const cache: TrunkCache = db ?? new MemoryCache();
      const writer = opts.writer ?? defaultWriter();
      // trunk.json from the store even when cached: `id` and `objectFormat` are shown and
      // used at once, before any listing could vouch for a cached copy.
      const core = opts.create
        ? await CoreTrunk.openOrCreate(store, cache, writer, opts.objectFormat ?? "sha1", {
          leaseSeconds: opts.leaseSeconds,
          fromStore: true,
        })
        : await CoreTrunk.open(store, cache, writer, { fromStore: true });
      core.mapNamesMirrors = mapNamesMirrors;
      const reader = new ObjectReader(store, core.objectFormat, core.id, {
        ...opts.reads,
        cacheDir: opts.cacheDir ? `${opts.cacheDir}/segments` : undefined,
      });
      return new Trunk(core, reader, db, owns, opts.author, opts.tempDir);
    } catch (e) {
      db?.close();
      if (owns) await store.close();
      throw e;
    }
  }

  /** Where the trunk is (no secrets). */
  get location(): string {
    return this.#core.location;
  }

  /** The trunk's id (from trunk.json). */
  get id(): string {
    return this.#core.id;
  }

  /** `sha1` or `sha256`: the object ids this trunk holds. */
  get objectFormat(): ObjectFormat {
    return this.#core.objectFormat;
  }

  /** What object reads downloaded so far (indexes, packs, ranges, large blobs). */
  get stats(): ReadStats {
    return { ...this.#reader.stats };
  }

  #open(): void {
    if (this.#closed) throw new TrunkError("this Trunk is closed", "bad-input");
  }

  /**
   * A call that reads the store or the cache, under way until disposed (`using`): close()
   * waits for it, or a read it overtook failed on the closed cache ("database is not open").
   */
  #call(): Disposable {
    this.#open();
    this.#calls++;
    return {
      [Symbol.dispose]: () => {
        if (--this.#calls === 0) this.#idle?.();
      },
    };
  }

  /**
   * Calls that change local commits (`commit`, `push`, `pull`) run one at a time, in call
   * order, as a program sharing one Trunk between tasks makes them: a commit() made while
   * a push uploads would be marked published with it and never pushed (the push reporting
   * its id), and a pull() could rebase the commits a push is packing. Reads run beside them.
   */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.#open();
    const run = this.#serial.then(async () => {
      using _call = this.#call();
      return await fn();
    });
    this.#serial = run.catch(() => {});
    return run;
  }

  /**
   * See what moved: one list of refs and one of segments (entries are fetched when a
   * call needs them). Local commits on a branch another writer moved are rebased onto
   * it; a rebase that would overwrite a path the other writer also changed throws
   * {@link ConflictError} and changes nothing.
   */
  pull(): Promise<{ rebased: string[] }> {
    return this.#exclusive(() => this.#pull());
  }

  async #pull(): Promise<{ rebased: string[] }> {
    // Both lists at once. A ref whose segment the segment list missed (it raced a
    // push) is still read correctly: an object in no listed segment re-lists them.
    const [, segments] = await Promise.all([this.#refs.refresh(), this.#core.segments()]);
    this.#reader.setSegments(segments);
    const rebased: string[] = [];
    const plans: [string, Pending][] = [];
    // Every branch is rebased before any is replaced: a conflict changes nothing.
    for (const [ref, p] of this.#pending) {
      const now = await this.#refs.entry(ref);
      if ((now?.seq ?? 0) === (p.base?.seq ?? 0)) continue;
      plans.push([ref, await this.#rebase(ref, p, now)]);
    }
    for (const [ref, p] of plans) {
      this.#pending.set(ref, p);
      rebased.push(shortRef(ref));
    }
    return { rebased };
  }

  async #listed(): Promise<RefView> {
    // Inside a commit or push: `pull()` would queue behind the very call waiting here. Before
    // the first listing there is nothing to rebase, so a read racing a push is harmless.
    if (!this.#refs.listed) await this.#pull();
    return this.#refs;
  }

  /** Live refs (branches, tags, others), sorted by name; HEAD is `head()`. */
  async refs(): Promise<RefInfo[]> {
    using _call = this.#call();
    const all = await (await this.#listed()).all();
    return [...all.values()].filter((e) => e.ref !== "HEAD" && !isDeleted(e))
      .map((e) => ({ name: e.ref, oid: e.new, writer: e.writer, time: e.time, seq: e.seq }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Branch names (without `refs/heads/`), local unpushed branches included. */
  async branches(): Promise<string[]> {
    using _call = this.#call();
    const names = new Set(
      (await this.refs()).filter((r) => r.name.startsWith("refs/heads/"))
        .map((r) => shortRef(r.name)),
    );
    for (const ref of this.#pending.keys()) names.add(shortRef(ref));
    return [...names].sort();
  }

  /** Tag names (without `refs/tags/`). */
  async tags(): Promise<string[]> {
    using _call = this.#call();
    return (await this.refs()).filter((r) => r.name.startsWith("refs/tags/"))
      .map((r) => shortRef(r.name));
  }

  /** The branch HEAD names (short), as `git clone` would check out; null in an empty trunk. */
  async head(): Promise<string | null> {
    using _call = this.#call();
    const refs = await this.#listed();
    // The likely answers are fetched together: one round trip, not three.
    const [head] = await Promise.all(
      ["HEAD", "refs/heads/main", "refs/heads/master"].map((r) => refs.entry(r)),
    );
    const named = head?.symref;
    if (named && (await refs.live(named))) return shortRef(named);
    for (const c of ["refs/heads/main", "refs/heads/master"]) {
      if (await refs.live(c)) return shortRef(c);
    }
    const all = await refs.all();
    const first = [...all.values()].filter((e) => e.ref.startsWith("refs/heads/") && !isDeleted(e))
      .map((e) => e.ref).sort()[0];
    if (first) return shortRef(first);
    const local = [...this.#pending.keys()].sort()[0];
    return local ? shortRef(local) : null;
  }

  /** Full ref name and value of a branch/tag/ref name, local commits first; null if none. */
  async #findRef(rev: string): Promise<{ ref: string; oid: string; entry?: RefEntry } | null> {
    const refs = await this.#listed();
    const names = rev === "HEAD"
      ? [branchRef((await this.head()) ?? "main")]
      : rev.startsWith("refs/")
      ? [rev]
      : [`refs/heads/${rev}`, `refs/tags/${rev}`, `refs/${rev}`];
    for (const ref of names) {
      const p = this.#pending.get(ref);
      if (p) return { ref, oid: p.commits[p.commits.length - 1].oid };
      const e = await refs.live(ref);
      if (e) return { ref, oid: e.new, entry: e };
    }
    return null;
  }

  /**
   * The commit id a revision names: a branch, tag or full ref name, `HEAD`, or a commit
   * id. Annotated tags are peeled.
   */
  async resolve(rev = "HEAD"): Promise<string> {
    using _call = this.#call();
    const found = await this.#findRef(rev);
    let oid: string;
    let hint: string[] = [];
    if (found) {
      oid = found.oid;
      hint = found.entry?.segments ?? [];
    } else if (HEX_RE.test(rev)) oid = rev;
    else {
      const branches = await this.branches();
      throw new TrunkError(
        `no branch, tag or ref named ${JSON.stringify(rev)} in ${this.location}${
          branches.length ? ` (branches: ${branches.slice(0, 10).join(", ")})` : " (it is empty)"
        }`,
        "not-found",
      );
    }
    for (let i = 0; i < 10; i++) {
      const obj = await this.#reader.read(oid, hint);
      if (obj.type === "commit") return oid;
      if (obj.type !== "tag") {
        throw new TrunkError(`${rev} names a ${obj.type}, not a commit`, "bad-input");
      }
      oid = parseTag(oid, obj.data).object;
    }
    throw new TrunkError(`${rev}: tag chain too long`, "corrupt");
  }

  async #object(oid: string, want: GitObject["type"], sequential = false): Promise<GitObject> {
    const obj = await this.#reader.read(oid, [], sequential);
    if (obj.type !== want) {
      throw new TrunkError(`object ${oid} is a ${obj.type}, expected a ${want}`, "corrupt");
    }
    return obj;
  }

  /** A commit by revision (default HEAD). */
  async readCommit(rev = "HEAD"): Promise<Commit> {
    using _call = this.#call();
    const oid = await this.resolve(rev);
    return parseCommit(oid, (await this.#object(oid, "commit")).data);
  }

  async #tree(oid: string, sequential = false): Promise<TreeEntry[]> {
    return parseTree(oid, (await this.#object(oid, "tree", sequential)).data, this.objectFormat);
  }

  /** The tree entry at `path` of commit `commitOid`'s tree; null when absent. */
  async #entryAt(treeOid: string, path: string): Promise<TreeEntry | null> {
    if (path === "") return { mode: "40000", name: "", oid: treeOid, type: "tree" };
    let cur: TreeEntry = { mode: "40000", name: "", oid: treeOid, type: "tree" };
    for (const part of path.split("/")) {
      if (cur.type !== "tree") return null;
      const next = (await this.#tree(cur.oid)).find((e) => e.name === part);
      if (!next) return null;
      cur = next;
    }
    return cur;
  }

  /** A file's bytes at a revision (default HEAD). Large blobs are reassembled and verified. */
  async read(path: string, opts: { ref?: string } = {}): Promise<Uint8Array> {
    using _call = this.#call();
    const p = normalizePath(path);
    const commit = await this.readCommit(opts.ref);
    const e = await this.#entryAt(commit.tree, p);
    const at = `${opts.ref ?? "HEAD"} (${commit.oid.slice(0, 12)})`;
    if (!e) throw new TrunkError(`${p} does not exist at ${at}`, "not-found");
    if (e.type !== "blob") {
      throw new TrunkError(
        `${p} is a ${e.type === "tree" ? "directory" : "submodule"} at ${at}; use list()`,
        "bad-input",
      );
    }
    const staged = this.#largeContents?.get(e.oid);
    if (staged) return await readWhole(staged.open(), staged.size);
    return (await this.#object(e.oid, "blob")).data;
  }

  /**
   * A file as a stream, for files too large to hold in memory: a large blob is
   * streamed chunk by chunk (each verified before it is delivered; the whole blob's id
   * is checked at the end, erroring the stream on a mismatch).
   */
  async readStream(path: string, opts: { ref?: string } = {}): Promise<ReadableStream<Uint8Array>> {
    using _call = this.#call();
    const p = normalizePath(path);
    const commit = await this.readCommit(opts.ref);
    const e = await this.#entryAt(commit.tree, p);
    const at = `${opts.ref ?? "HEAD"} (${commit.oid.slice(0, 12)})`;
    if (!e) throw new TrunkError(`${p} does not exist at ${at}`, "not-found");
    if (e.type !== "blob") throw new TrunkError(`${p} is not a file at ${at}`, "bad-input");
    const staged = this.#largeContents?.get(e.oid);
    if (staged) return staged.open();
    return await this.#reader.stream(e.oid);
  }

  /** A file as UTF-8 text. */
  async readText(path: string, opts: { ref?: string } = {}): Promise<string> {
    using _call = this.#call();
    return dec.decode(await this.read(path, opts));
  }

  /** True when `path` is a file or directory at the revision. */
  async exists(path: string, opts: { ref?: string } = {}): Promise<boolean> {
    using _call = this.#call();
    const commit = await this.readCommit(opts.ref);
    return (await this.#entryAt(commit.tree, normalizePath(path, true))) !== null;
  }

  /** Entries of a directory (default the root) at a revision; `recursive` lists files below. */
  async list(dir = "", opts: { ref?: string; recursive?: boolean } = {}): Promise<ListEntry[]> {
    using _call = this.#call();
    const p = normalizePath(dir, true);
    const commit = await this.readCommit(opts.ref);
    const e = await this.#entryAt(commit.tree, p);
    if (!e) throw new TrunkError(`${p} does not exist at ${opts.ref ?? "HEAD"}`, "not-found");
    if (e.type !== "tree") throw new TrunkError(`${p} is not a directory`, "bad-input");
    const out: ListEntry[] = [];
    const walk = async (treeOid: string, prefix: string) => {
      for (const te of await this.#tree(treeOid, opts.recursive)) {
        const path = prefix ? `${prefix}/${te.name}` : te.name;
        const type = te.type === "tree"
          ? "dir"
          : te.type === "commit"
          ? "submodule"
          : te.mode === "120000"
          ? "symlink"
          : "file";
        if (opts.recursive && te.type === "tree") await walk(te.oid, path);
        else out.push({ path, name: te.name, type, mode: te.mode, oid: te.oid });
      }
    };
    await walk(e.oid, p);
    return out;
  }

  /**
   * Commits reachable from a revision, newest first (by committer time, as `git log`).
   * With `path`, only commits that changed it, with git's default history
   * simplification: a commit identical at `path` to one of its parents is skipped and
   * only that parent is followed.
   */
  async log(opts: { ref?: string; limit?: number; path?: string } = {}): Promise<Commit[]> {
    using _call = this.#call();
    const limit = opts.limit ?? 50;
    const path = opts.path !== undefined ? normalizePath(opts.path) : undefined;
    const commitOf = async (oid: string) =>
      parseCommit(oid, (await this.#object(oid, "commit", true)).data);
    const at = async (c: Commit) =>
      path === undefined ? undefined : (await this.#entryAt(c.tree, path))?.oid;
    const start = await this.readCommit(opts.ref);
    const queue: Commit[] = [start];
    const seen = new Set([start.oid]);
    const out: Commit[] = [];
    while (queue.length && out.length < limit) {
      queue.sort((a, b) => b.committer.timestamp - a.committer.timestamp);
      const c = queue.shift()!;
      let follow = await Promise.all(c.parents.map(commitOf));
      let show = true;
      if (path !== undefined) {
        const mine = await at(c);
        let same: Commit | undefined;
        for (const p of follow) {
          if ((await at(p)) === mine) {
            same = p;
            break;
          }
        }
        if (same) {
          show = false;
          follow = [same];
        } else if (follow.length === 0 && mine === undefined) show = false;
      }
      for (const p of follow) {
        if (!seen.has(p.oid)) {
          seen.add(p.oid);
          queue.push(p);
        }
      }
      if (show) out.push(c);
    }
    return out;
  }

  /**
   * Stage a file for the next commit (text is written as UTF-8). Content above the
   * large-blob threshold (`TRUNKS_LARGE_BLOB_THRESHOLD`, default 4 MiB) is pushed as
   * compressed content-defined chunks, as `git push` stores it; for content that should
   * not be held in memory at all, use {@link Trunk.writeFile}.
   *
   * The later of two staged changes wins, as in git: writing a file where a directory
   * is (committed or staged) replaces the directory and all below it; writing below a
   * path that is a file replaces the file with a directory.
   */
  write(path: string, content: string | Uint8Array, opts: WriteOptions = {}): void {
    this.#open();
    const p = normalizePath(path);
    const data = typeof content === "string" ? enc.encode(content) : content;
    const mode = opts.symlink ? "120000" : opts.executable ? "100755" : "100644";
    const staged = mode === "120000" ? { bytes: data } : this.#large().bytes(data);
    this.#stage(p, staged, mode);
    void this.#sweepLarge();
  }

  /**
   * Stage a file from content too large for memory: a local file (path or `file:` URL),
   * a `Blob`, or a `ReadableStream<Uint8Array>`. Content above the large-blob threshold
   * is never held whole: its git blob id is computed in one streaming pass and `push()`
   * streams it into content-defined chunks (compressed when that pays) and a manifest,
   * the same code and layout `git push` uses, so plain git clones it and identical
   * content pushed either way is stored once.
   *
   * - A file is read where it is, at staging (for its id) and again by `push()`: change
   *   it in between and the push fails naming it (nothing is stored); write it again.
   * - A stream's size is only known at its end, and git's id needs it first: past the
   *   threshold the stream is spooled to a temporary file (in `tempDir` given to `open`,
   *   else the system's), then hashed from there; pass `size` when known to hash while
   *   spooling. Temporary files go when the change is pushed, discarded or replaced, and
   *   on `close()`.
   * - A stream that errors, yields chunks that are not `Uint8Array`, or does not match
   *   its `size` rejects, staging nothing.
   * - A path conflicting with another staged one: the later wins, as in {@link Trunk.write}.
   *
   * Smaller content is read into memory and staged as `write()` stages it.
   */
  async writeFile(
    path: string,
    source: ContentSource,
    opts: WriteFileOptions = {},
  ): Promise<StagedFile> {
    // Not waited for by close(): it reads only its source, which may never end; close()
    // removes what it spooled and it fails (below).
    this.#open();
    const p = normalizePath(path);
    const staged = await this.#large().stage(source, opts.size, p);
    if (this.#closed) {
      await this.#largeContents?.close();
      throw new TrunkError("this Trunk was closed while the file was being staged", "bad-input");
    }
    const mode = opts.executable ? "100755" : "100644";
    this.#stage(p, staged, mode);
    await this.#sweepLarge();
    return "large" in staged ? { oid: staged.large.oid, size: staged.large.size, large: true } : {
      oid: objectId(this.objectFormat, "blob", staged.bytes),
      size: staged.bytes.byteLength,
      large: false,
    };
  }

  #stage(path: string, staged: Staged, mode: "100644" | "100755" | "120000"): void {
    if (!("large" in staged)) return stageChange(this.#staged, path, { data: staged.bytes, mode });
    stageChange(this.#staged, path, { oid: staged.large.oid, mode });
    this.#largeContents!.settle(staged.large.oid);
  }

  /** The large-content stager; the threshold is read at first use (a bad setting throws). */
  #large(): LargeContents {
    this.#largeContents ??= new LargeContents(
      this.objectFormat,
      largeBlobThreshold(),
      this.#tempDir,
    );
    return this.#largeContents;
  }

  /** Large blobs the staged changes and local commits refer to. */
  #liveLarge(): Set<string> {
    const out = largeOf([...this.#pending.values()].flatMap((p) => p.commits));
    for (const c of this.#staged.values()) if (c && "oid" in c) out.add(c.oid);
    return out;
  }

  /** Forget large contents (and their temporary files) nothing refers to any more. */
  async #sweepLarge(): Promise<void> {
    await this.#largeContents?.keepOnly(this.#liveLarge());
  }

  /** Stage the removal of a file (or of a directory and everything below it). */
  remove(path: string): void {
    this.#open();
    stageChange(this.#staged, normalizePath(path), null);
    void this.#sweepLarge();
  }

  /** Staged paths: `write` or `remove`, not yet committed. */
  staged(): { path: string; action: "write" | "remove" }[] {
    return [...this.#staged].map(([path, c]) => ({ path, action: c ? "write" : "remove" }));
  }

  /** Pending commits per branch, not yet pushed. */
  unpushed(): { branch: string; commits: string[] }[] {
    return [...this.#pending].map(([ref, p]) => ({
      branch: shortRef(ref),
      commits: p.commits.map((c) => c.oid),
    }));
  }

  #treeIo(): TreeIo {
    return {
      format: this.objectFormat,
      readTree: (oid) => this.#tree(oid),
      store: (obj) => {
        const oid = objectId(this.objectFormat, obj.type, obj.data);
        this.#reader.local.set(oid, obj);
        return oid;
      },
    };
  }

  /** Expand a removal of a directory into removals of the paths below it. */
  async #expand(
    treeOid: string | null,
    changes: Map<string, Change>,
  ): Promise<Map<string, Change>> {
    const out = new Map<string, Change>();
    for (const [path, c] of changes) {
      const e = c === null && treeOid ? await this.#entryAt(treeOid, path) : null;
      if (e?.type === "tree") {
        const walk = async (oid: string, prefix: string) => {
          for (const te of await this.#tree(oid)) {
            if (te.type === "tree") await walk(te.oid, `${prefix}/${te.name}`);
            else out.set(`${prefix}/${te.name}`, null);
          }
        };
        await walk(e.oid, path);
      } else out.set(path, c);
    }
    return out;
  }

  #signature(who?: { name: string; email: string }): Signature {
    const w = who ?? this.#author ?? {
      name: envGet("GIT_AUTHOR_NAME") ?? "trunks",
      email: envGet("GIT_AUTHOR_EMAIL") ?? this.#core.writer.replace(/ \(sdk\)$/, ""),
    };
    return {
      name: w.name.replace(/[<>\n]/g, ""),
      email: w.email.replace(/[<>\n]/g, ""),
      timestamp: Math.floor(Date.now() / 1000),
      timezoneOffset: -new Date().getTimezoneOffset(),
    };
  }

  async #makeCommit(
    parent: string | null,
    changes: Map<string, Change>,
    message: string,
    author: Signature,
    committer: Signature,
  ): Promise<{ oid: string; tree: string; parentTree: string | null }> {
    const parentTree = parent ? (await this.readCommit(parent)).tree : null;
    const tree = (await applyChanges(this.#treeIo(), parentTree, changes))!;
    const data = encodeCommit({
      tree,
      parents: parent ? [parent] : [],
      author,
      committer,
      message,
    });
    const oid = this.#treeIo().store({ type: "commit", data });
    return { oid, tree, parentTree };
  }

  /**
   * Commit the staged changes to a branch, locally: `push()` publishes. A branch that
   * does not exist yet starts at `from` (default the HEAD branch; a root commit in an
   * empty trunk).
   */
  commit(opts: CommitOptions): Promise<CommitResult> {
    // What is staged at this call: a write() made while the commit waits for a push or
    // reads trees stays staged for the next one, neither taken nor dropped.
    const staged = new Map(this.#staged);
    return this.#exclusive(() => this.#commit(opts, staged));
  }

  async #commit(opts: CommitOptions, staged: Map<string, Change>): Promise<CommitResult> {
    if (!opts.message?.trim()) throw new TrunkError("commit needs a message", "bad-input");
    const ref = branchRef(opts.branch ?? (await this.head()) ?? "main");
    if (staged.size === 0 && !opts.allowEmpty) {
      throw new TrunkError("nothing to commit: write() or remove() something first", "bad-input");
    }
    let pending = this.#pending.get(ref);
    let parent: string | null;
    if (pending) parent = pending.commits[pending.commits.length - 1].oid;
    else {
      const entry = await (await this.#listed()).entry(ref);
      if (entry && !isDeleted(entry)) parent = entry.new;
      else if (opts.from) parent = await this.resolve(opts.from);
      else parent = (await this.head()) ? await this.resolve("HEAD") : null;
      pending = { base: entry, baseOid: parent, commits: [] };
    }
    const changes = await this.#expand(
      parent ? (await this.readCommit(parent)).tree : null,
      staged,
    );
    const author = this.#signature(opts.author);
    const committer = this.#signature(opts.author);
    const made = await this.#makeCommit(parent, changes, opts.message, author, committer);
    if (made.tree === made.parentTree && !opts.allowEmpty) {
      throw new TrunkError("nothing to commit: the staged changes match the branch", "bad-input");
    }
    pending.commits.push({ oid: made.oid, changes, message: opts.message, author, committer });
    this.#pending.set(ref, pending);
    for (const [path, c] of staged) if (this.#staged.get(path) === c) this.#staged.delete(path);
    return { oid: made.oid, branch: ref, parents: parent ? [parent] : [] };
  }

  /** Drop unpushed commits of a branch (all branches when omitted) and staged changes. */
  discard(branch?: string): void {
    if (branch === undefined) this.#pending.clear();
    else this.#pending.delete(branchRef(branch));
    this.#staged.clear();
    void this.#sweepLarge();
  }

  /** Re-apply a branch's local commits on top of its new remote value. */
  async #rebase(ref: string, p: Pending, now: RefEntry | null): Promise<Pending> {
    const tip = now && !isDeleted(now) ? now.new : null;
    // Unchanged, or deleted meanwhile: the local commits stand as they are (and a push
    // re-creates the branch).
    if (tip === p.baseOid || tip === null) return { ...p, base: now };
    const touched = new Set<string>();
    for (const c of p.commits) for (const path of c.changes.keys()) touched.add(path);
    if (tip) {
      const oldTree = p.baseOid ? (await this.readCommit(p.baseOid)).tree : null;
      const newTree = (await this.readCommit(tip)).tree;
      const clashes: string[] = [];
      for (const path of touched) {
        const before = oldTree ? (await this.#entryAt(oldTree, path))?.oid : undefined;
        const after = (await this.#entryAt(newTree, path))?.oid;
        if (before !== after) clashes.push(path);
      }
      if (clashes.length) {
        throw new ConflictError(
          `cannot rebase ${shortRef(ref)}: ${now!.writer} also changed ${
            clashes.slice(0, 5).join(", ")
          }${clashes.length > 5 ? ", ..." : ""}; discard("${
            shortRef(ref)
          }") and redo the change on the new tip`,
          [shortRef(ref)],
        );
      }
    }
    let parent = tip;
    const commits: LocalCommit[] = [];
    for (const c of p.commits) {
      const made = await this.#makeCommit(parent, c.changes, c.message, c.author, c.committer);
      commits.push({ ...c, oid: made.oid });
      parent = made.oid;
    }
    return { base: now, baseOid: tip, commits };
  }

  /** Local objects a pending commit needs, in pack order (commits, trees, blobs). */
  #collect(tip: string, into: Map<string, GitObject>): void {
    const local = this.#reader.local;
    const visit = (oid: string) => {
      const obj = local.get(oid);
      if (!obj || into.has(oid)) return;
      into.set(oid, obj);
      if (obj.type === "commit") {
        const c = parseCommit(oid, obj.data);
        visit(c.tree);
        for (const parent of c.parents) visit(parent);
      } else if (obj.type === "tree") {
        for (const e of parseTree(oid, obj.data, this.objectFormat)) visit(e.oid);
      }
    };
    visit(tip);
  }

  /**
   * Publish local commits: one segment with every new object, then one compare-and-swap
   * ref entry per branch, as `git push` does. A branch another writer moved meanwhile
   * is not touched and throws {@link ConflictError} (after the other branches are
   * pushed); `pull()` rebases, then `push()` again. A push the primary took and a mirror
   * refused is published (clones read the primary) and recorded so, then throws the
   * mirror's `StorageFailure`: `trunks storage sync` brings the mirror level. Silent unless
   * `onProgress` is given: it is told the segment's bytes as the store takes them.
   */
  push(opts: PushOptions = {}): Promise<PushResult[]> {
    return this.#exclusive(() => this.#push(opts));
  }

  async #push(opts: PushOptions): Promise<PushResult[]> {
    if (this.#pending.size === 0) return [];
    const refs = await this.#listed();
    // What this push publishes is fixed here: a discard() while it uploads changes what the
    // next push sends, never the objects this one packs for the tips it names (a ref entry
    // pointing at a commit whose objects were left out breaks every reader of the trunk).
    const pending: Pushing[] = [...this.#pending].map(([ref, p]) => ({
      ref,
      p,
      tip: p.commits[p.commits.length - 1].oid,
    }));
    const report = await enginePush(
      this.#core,
      this.#source(pending),
      pending.map(({ ref, tip }) => ({ src: tip, dst: ref, force: false })),
      { onProgress: opts.onProgress },
    );
    try {
      return await this.#published(report, pending, refs);
    } finally {
      // What was pushed is in the trunk now: its large contents' temporary files go.
      await this.#sweepLarge();
    }
  }

  /** The outcome of a push, per branch: local state follows what the trunk took. */
  async #published(
    report: PushReport,
    pending: Pushing[],
    refs: RefView,
  ): Promise<PushResult[]> {
    const segment = report.segment;
    const results: PushResult[] = [];
    const conflicts: string[] = [];
    let failure: { e: unknown } | undefined;
    for (const { ref, p, tip } of pending) {
      const r = report.refs.find((x) => x.ref === ref)!;
      const now = r.entry ?? r.winner ?? report.state.latest.get(ref);
      if (now) refs.wrote(now);
      // Moved on the primary only (a mirror refused it) is published: clones read the primary.
      if (landed(r)) {
        // Unless discarded meanwhile (and perhaps committed to again).
        if (this.#pending.get(ref) === p) this.#pending.delete(ref);
        results.push({ branch: shortRef(ref), oid: tip, segment: segment?.id });
        continue;
      }
      if (r.failure !== undefined) {
        // The store failed on this ref's entry: thrown after the others are recorded.
        failure ??= { e: r.failure };
        continue;
      }
      const w = now && !isDeleted(now) ? now : null;
      conflicts.push(
        r.error === CLEANED_MEANWHILE || r.error === OUTLIVED_LEASE
          ? `${shortRef(ref)} (${r.error})`
          : `${shortRef(ref)} (now ${
            w ? `${w.new.slice(0, 12)} by ${w.writer} at ${w.time}` : "moved"
          })`,
      );
    }
    const head = report.state.latest.get("HEAD");
    if (head) refs.wrote(head);
    if (segment && segment.idx instanceof Uint8Array && this.#pending.size === 0) {
      // Everything is published: reads find these objects in the segment from now on.
      this.#reader.addSegment({
        id: segment.id,
        packSize: segment.bytes,
        idxSize: segment.idx.byteLength,
        modified: new Date(),
      }, segment.idx);
      this.#reader.local.clear();
    }
    await this.#afterPush(report.state, results.length);
    // Refs whose entry the store failed stay pending: push() again retries them.
    if (failure) throw failure.e;
    const behind = report.primaryOnly && mirrorBehind(report.primaryOnly);
    if (conflicts.length) {
      throw new ConflictError(
        `push rejected, another writer moved ${
          conflicts.join(", ")
        } first; call pull() to rebase your commits onto it, then push() again${
          behind ? `; and ${behind.message}` : ""
        }`,
        conflicts.map((c) => c.split(" ")[0]),
      );
    }
    if (behind) throw behind;
    return results;
  }

  /**
   * Automatic maintenance, by the rule the helper follows (src/trunk/maintenance.ts): a
   * step in this process, not awaited unless TRUNKS_AUTO_MAINTENANCE=wait, one at a time;
   * `close()` waits for it. A process that exits meanwhile leaves a valid trunk (each
   * part of a step is crash-safe) and a later step finishes the job. Never fails the push.
   */
  async #afterPush(state: RefState, written: number): Promise<void> {
    let mode;
    try {
      mode = autoStepAfterPush(this.#core, state, written);
    } catch (e) {
      console.error(autoStepFailed(e, false));
      return;
    }
    if (mode === null || this.#maintenance) return;
    const step = runStep(this.#core).then(
      () => {},
      (e) => console.error(autoStepFailed(e, true)),
    ).finally(() => {
      this.#maintenance = null;
    });
    this.#maintenance = step;
    if (mode === "wait") await step;
  }

  /** The library's side of a push of `pending`: objects built in memory, no git. */
  #source(pending: Pushing[]): PushSource {
    const local = this.#reader.local;
    const bases = new Set(pending.flatMap(({ p }) => p.baseOid ? [p.baseOid] : []));
    const format = this.objectFormat;
    const large = this.#large();
    return {
      keepsPushedObjects: false,
      resolve: (src) => Promise.resolve(src),
      // What a pending commit builds on, and what was made here.
      has: (oids) => Promise.resolve(new Set(oids.filter((o) => local.has(o) || bases.has(o)))),
      isAncestor: (ancestor, descendant) => {
        for (let at: string | undefined = descendant; at;) {
          if (at === ancestor) return Promise.resolve(true);
          const obj = local.get(at);
          if (obj?.type !== "commit") break;
          at = parseCommit(at, obj.data).parents[0];
        }
        return Promise.resolve(false);
      },
      localHead: () => Promise.resolve(null),
      pack: (tips) => {
        const objects = new Map<string, GitObject>();
        for (const tip of tips) this.#collect(tip, objects);
        // Every large blob the pushed commits staged: uploadLargeBlobs skips those the trunk
        // already has a manifest for. One discarded meanwhile fails the push (readBlobs).
        const largeBlobs = [...largeOf(pending.flatMap(({ p }) => p.commits))];
        if (objects.size === 0) return Promise.resolve({ segment: null, largeBlobs });
        const built = buildSegment([...objects.values()], format);
        return Promise.resolve({
          segment: {
            id: built.id,
            pack: built.pack,
            idx: built.idx,
            objects: objects.size,
            bytes: built.pack.byteLength,
          },
          largeBlobs,
        });
      },
      readBlobs: async function* (oids) {
        for (const oid of oids) {
          const c = large.get(oid);
          if (!c) throw new TrunkError(`large blob ${oid} is no longer staged`, "bad-input");
          yield { oid, size: c.size, content: c.open() };
        }
      },
    };
  }

  /**
   * Release the store's connections and the cache database, once the calls under way have
   * ended (a push is never cut off between its upload and its ref entries, a read never
   * fails on the closed cache). Unpushed work is dropped.
   */
  close(): Promise<void> {
    return this.#closing ??= this.#close();
  }

  async #close(): Promise<void> {
    // The calls under way (and queued) end first, with the calls they make in turn (a read of
    // HEAD asks head()): a push released mid-way would fail on the closed cache after its
    // ref entries were created, saying it failed; a read would fail on it too.
    for (;;) {
      const serial = this.#serial;
      await serial;
      if (this.#calls > 0) await new Promise<void>((r) => this.#idle = r);
      this.#idle = null;
      if (serial === this.#serial && this.#calls === 0) break;
    }
    this.#closed = true;
    this.#staged.clear();
    this.#pending.clear();
    await this.#largeContents?.close();
    // A running maintenance step uses the store and the cache: it is bounded, let it end.
    await this.#maintenance;
    this.#db?.close();
    if (this.#ownsStore) await this.#core.store.close();
  }

  /** For `await using`: the same as `close()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** A branch as one push publishes it: its pending commits and their tip, fixed at its start. */
interface Pushing {
  ref: string;
  p: Pending;
  tip: string;
}

/** The large blobs `commits` refer to. */
function largeOf(commits: LocalCommit[]): Set<string> {
  const out = new Set<string>();
  for (const c of commits) {
    for (const ch of c.changes.values()) if (ch && "oid" in ch) out.add(ch.oid);
  }
  return out;
}

/**
 * A push whose entries the primary took and a mirror refused (HEAD's included) is published,
 * as clones read the primary; the mirror is behind, and the library does not catch mirrors
 * up (docs/mirrors.md), so the caller hears it once everything is recorded.
 */
function mirrorBehind(e: MovedOnPrimaryOnly): StorageFailure {
  return new StorageFailure(
    e.member,
    e.kind,
    `push() published on the primary, but ${e.message}; run trunks storage sync to bring the mirror level`,
    { cause: e },
  );
}

/** A stream of `size` bytes, read whole. */
async function readWhole(stream: ReadableStream<Uint8Array>, size: number): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let at = 0;
  for await (const part of stream) {
    if (at + part.byteLength > size) throw new TrunkError("a staged file grew", "bad-input");
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/**
 * The trunk's storages as one Store: with mirrors (saved in `database`, or named by the
 * trunk's storage map) writes go to every storage and reads fail over, as in git pushes.
 */
async function openMirrored(
  url: string,
  settings: Settings,
  db: LocalDb | null,
  trust: string[],
  { named }: { named?: string } = {},
): Promise<{ store: Store; mapNamesMirrors: boolean | undefined }> {
  if (!db) {
    // Settings given here are for this URL; the map (if any) adds the mirrors.
    const plain = await openStore(url, settings);
    const map = await readLatestMap(plain).catch(() => null);
    if (!map || map.map.storages.length < 2) {
      // No map, or an unreadable one (null): not known; maintenance reads it before a delete.
      return { store: plain, mapNamesMirrors: map ? namesMirror(map.map) : undefined };
    }
    await plain.close();
  }
  const resolved = await resolveStorages(url, db, db ?? new MemoryCache(), {
    freshMap: true,
    settings,
    trust,
    named,
  });
  for (const u of resolved.unapproved) console.error(`trunks: ${u.line}`);
  const mapNamesMirrors = namesMirror(resolved.map);
  if (resolved.members.length < 2) return { store: resolved.members[0].store, mapNamesMirrors };
  return {
    store: new MirroredStore(resolved.members, { notice: (m) => console.error(m) }),
    mapNamesMirrors,
  };
}
