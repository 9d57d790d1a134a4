/**
 * From the URL git hands the helper to an open trunk: the store, its settings and
 * credentials (from the local database when `trunks init` saved them), and the cache.
 */
import { LocalDb } from "../local/db.ts";
import { locateLocalDb } from "../local/paths.ts";
import { storeTimeoutMs } from "../storage/deadline.ts";
import {
  canonicalStoreUrl,
  parseStoreUrl,
  preloadBackend,
  redactUrl,
  secretInUrlProblem,
} from "../storage/registry.ts";
import { isNamedUrl } from "../local/named_scheme.ts";
import type { NamedTarget } from "../local/named_url.ts";
import type { Store } from "../storage/store.ts";
import { isTrunkUrl, trunkNameOf } from "../storage/trunk_url.ts";
import type { TrunkCache } from "../trunk/cache.ts";
import { TrunkError } from "../trunk/errors.ts";
import { fetchedRefDetails } from "../trunk/ref_listing.ts";
import type { Trunk } from "../trunk/trunk.ts";
import type { Member, StorageFailure } from "../trunk/mirrors.ts";
import { mirrorsPolicyFromEnv } from "../trunk/mirrors_policy.ts";
import { say } from "./io.ts";
import type { OnProgress } from "../trunk/progress.ts";
import type { EarlyPlanListings } from "../trunk/plan_listing.ts";
import { type RefsListing, type Resolved, resolveStorages } from "../local/trunk_storages.ts";
import { namesMirror } from "../trunk/storage_map.ts";

export interface RemoteContext {
  url: string;
  /** Null outside a repository (`git ls-remote`): then only `list` works. */
  gitDir: string | null;
  cache: TrunkCache;
  store: Store;
  /** The trunk, which must exist. */
  trunk(): Promise<Trunk>;
  /** The trunk, or null when nothing was pushed there yet. */
  trunkIfExists(): Promise<Trunk | null>;
  /** The trunk, created on first push; every mirror checked and caught up first. */
  trunkForWrite(): Promise<Trunk>;
  /**
   * For `list for-push`: the trunk read from the primary only (null if new), with every
   * mirror reachable and caught up, so a push refused for a mirror moves nothing.
   */
  trunkForPush(): Promise<Trunk | null>;
  /** The storages behind the URL (primary first), as resolved. */
  storages: Resolved;
  /**
   * The listing of `refs/` made as soon as the store was open, beside the storage map's
   * (`list` and `list for-push`, one storage), and when it started; given once.
   */
  takeRefsListing(): RefsListing | undefined;
  /**
   * Instead of that listing, on a fresh clone from local disk: starts it (resolveStorages
   * `refsLater`), to be called once the clone's prefetch is under way; given once.
   */
  takeRefsLater(): (() => RefsListing) | undefined;
  /** A fresh clone's plan listings, sent with the first ones (plan_listing.ts); given once. */
  takePlanListings(): Promise<EarlyPlanListings | undefined> | undefined;
  /**
   * `mirrors=skip` for this push: writes go to the primary alone. Returns the mirrors
   * left out (empty without mirrors); a refusal `list for-push` held back is dropped.
   */
  skipMirrors(): Member[];
  close(): Promise<void>;
}

/** The repository's git dir; fetch and push need one. */
export function requireGitDir(ctx: RemoteContext): string {
  if (!ctx.gitDir) {
    throw new TrunkError("this needs a git repository (run it inside one)", "bad-input");
  }
  return ctx.gitDir;
}

export function writerName(): string {
  const user = Deno.env.get("USER") ?? Deno.env.get("USERNAME") ?? "unknown";
  let host = "unknown";
  try {
    host = Deno.hostname();
  } catch {
    // no permission or no hostname: keep "unknown"
  }
  return `${user}@${host}`;
}

/**
 * A git remote URL is saved in git config and shown in process lists, so a secret in
 * it is refused with the places where it belongs instead.
 */
function refuseSecretsInUrl(url: string): void {
  const problem = secretInUrlProblem(url);
  if (problem) throw new TrunkError(problem, "bad-input");
}

/**
 * The backend URL git's URL stands for: `trunks://NAME/REPO` through this repository's
 * storage NAME or the per-user config (with that storage's settings), an alias such as
 * `minio://` rewritten; anything else as it is.
 */
async function backendUrl(url: string, dbPath: string | null): Promise<NamedTarget | string> {
  if (!isNamedUrl(url)) return canonicalStoreUrl(url);
  // Loaded only for such a URL: it reads the per-user config (and node:path with it).
  const { resolveNamedUrl } = await import("../local/named_url.ts");
  const db = dbPath ? new LocalDb(dbPath) : null;
  try {
    return resolveNamedUrl(url, db);
  } catch (e) {
    throw new TrunkError((e as Error).message, "bad-input");
  } finally {
    db?.close();
  }
}

export async function resolveRemote(
  given: string,
  _remoteName: string,
  opts: {
    forPush?: boolean;
    onProgress?: OnProgress;
    /** `locateLocalDb()` already under way (a `git rev-parse` it needs started early). */
    located?: Promise<{ gitDir: string; path: string }>;
    /** Called once the first requests are out (resolveStorages `whileListing`). */
    whileListing?: () => void;
  } = {},
): Promise<RemoteContext> {
  preloadBackend(given);
  // `git ls-remote` may run outside any repository: then nothing is cached.
  const local = await (opts.located ?? locateLocalDb()).catch(() => null);
  const dir = local?.gitDir ?? null;
  const target = await backendUrl(given, local?.path ?? null);
  const named = typeof target === "string" ? null : target;
  const url = named?.url ?? target as string;
  parseStoreUrl(url);
  // A bad TRUNKS_STORE_TIMEOUT is reported before anything is opened.
  storeTimeoutMs();
  if (!isTrunkUrl(url)) {
    throw new TrunkError(
      `${
        redactUrl(url)
      } is not a trunk URL: it must end in /<name>.trunk (e.g. local:///srv/store/trunks/app.trunk), or run trunks storage add`,
      "bad-input",
    );
  }
  refuseSecretsInUrl(url);
  try {
    trunkNameOf(url);
  } catch (e) {
    throw new TrunkError(`${redactUrl(url)}: ${(e as Error).message}`, "bad-input");
  }
  const db = local ? new LocalDb(local.path) : null;
  // Outside a repository only (`git ls-remote`): the trunk's code loads cache.ts later.
  const cache = db ?? new (await import("../trunk/cache.ts")).MemoryCache();
  const policy = mirrorsPolicyFromEnv();
  const storages = await resolveStorages(url, db, cache, {
    freshMap: opts.forPush ?? false,
    settings: named?.open,
    named: named?.name,
    // git's first command is `list`: its listing starts as soon as the store is open. A
    // fetch's reads the details of the keys it needs only (ref_listing.ts); a push's, all.
    listRefs: opts.forPush ? {} : { details: fetchedRefDetails },
    whileListing: opts.whileListing,
    // Sent only into a repository holding no object: a first fetch into a clone of another
    // remote (a GitHub mirror) plans later, and would list the segments twice.
    planListings: opts.forPush || !dir ? undefined : async () => {
      const { holdsNoObjects, objectsGitDir } = await import("../git/repo.ts");
      return await holdsNoObjects(objectsGitDir(dir));
    },
  });
  let refsListing = storages.refsListing;
  let refsLater = storages.refsLater;
  let planListings = storages.planListings;
  // A push says what it leaves out; a fetch only what changed since it was approved.
  for (const u of storages.unapproved) {
    if (opts.forPush || u.verdict.state === "changed") say(`trunks: ${u.line}`);
  }
  // One storage: used as is. Several: one Store that writes everywhere, reads with failover
  // (its code loaded only then: a fetch from one storage never runs it).
  const mirrors = () => import("../trunk/mirrors.ts");
  const set = storages.members.length > 1
    ? new (await mirrors()).MirroredStore(storages.members, { notice: say })
    : null;
  if (set && policy === "skip") set.skipMirrors();
  // git sends push options (`-o mirrors=skip`) only after `list for-push`, so a mirror
  // refusal found while listing is held back until the push decides.
  let heldBack: StorageFailure | undefined;
  const holdBack = async <T>(p: Promise<T>, fallback: () => Promise<T>): Promise<T> => {
    try {
      return await p;
    } catch (e) {
      if (!(e instanceof (await mirrors()).StorageFailure) || e.member.role !== "mirror") throw e;
      heldBack = e;
      return await fallback();
    }
  };
  const store: Store = set ?? storages.members[0].store;
  const writer = writerName();
  let trunk: Trunk | null = null;
  let prepared: Promise<void> | undefined;
  // The trunk's code loads once the listing is under way: the LIST waits on no more code
  // than opening the store takes.
  const trunkCode = () => import("../trunk/trunk.ts");
  // The map read for this push (or cached, for a fetch): its automatic maintenance counts
  // no pruning on a trunk the map gives mirrors, even those not used here.
  const known = (t: Trunk) => {
    t.mapNamesMirrors = namesMirror(storages.map);
    return t;
  };
  // trunk.json as read beside the listings (a fresh clone), taken by the first open only.
  let early = storages.metaRead;
  // That read found no trunk.json (this very store, a moment ago): creating the trunk does
  // not read it again first.
  let absent = false;
  const open = async () => {
    if (trunk) return trunk;
    const given = early;
    early = undefined;
    try {
      return trunk ??= known(
        await (await trunkCode()).Trunk.open(store, cache, writer, { early: given }),
      );
    } catch (e) {
      absent = given !== undefined && e instanceof TrunkError && e.code === "not-a-trunk";
      throw e;
    }
  };
  const ifExists = async () => {
    try {
      return await open();
    } catch (e) {
      if (e instanceof TrunkError && e.code === "not-a-trunk") return null;
      throw e;
    }
  };
  // Mirror checks (and the sync code under them) load only for a push: a fetch never runs them.
  const mirrorPush = () => import("./mirror_push.ts");
  const prepare = (t: Trunk) =>
    prepared ??= mirrorPush().then((m) => m.prepareMirrorsForPush(t, storages, opts.onProgress));
  return {
    url,
    gitDir: dir,
    cache,
    store,
    storages,
    trunk: open,
    trunkIfExists: ifExists,
    async trunkForPush() {
      if (set) {
        set.forWrite = true;
        const { requireReachable } = await mirrorPush();
        const reachable = await holdBack(
          requireReachable(set, storages).then(() => true),
          () => Promise.resolve(false),
        );
        if (!reachable) return await ifExists();
      }
      const t = await ifExists();
      if (t) await holdBack(prepare(t), () => Promise.resolve());
      return t;
    },
    takeRefsListing() {
      const l = refsListing;
      refsListing = undefined;
      return l;
    },
    takeRefsLater() {
      const l = refsLater;
      refsLater = undefined;
      return l;
    },
    takePlanListings() {
      const l = planListings;
      planListings = undefined;
      return l;
    },
    skipMirrors() {
      if (!set) return [];
      heldBack = undefined;
      prepared = undefined;
      return set.skipMirrors();
    },
    async trunkForWrite() {
      if (heldBack) throw heldBack;
      if (set) {
        set.forWrite = true;
        if (!trunk) await (await mirrorPush()).requireReachable(set, storages);
      }
      const [{ Trunk }, { objectFormat }] = await Promise.all([
        trunkCode(),
        import("../git/repo.ts"),
      ]);
      const format = await objectFormat(dir ?? undefined);
      // A test holds a trunk's creation here (a slow store's probe, deterministically).
      if (!trunk) await (await import("../trunk/faults.ts")).faultDelay("push:before-create");
      trunk ??= known(await Trunk.openOrCreate(store, cache, writer, format, { absent }));
      absent = false;
      // `list for-push` opened it already: openOrCreate, which checks the format, was not run.
      trunk.requireFormat(format);
      await prepare(trunk);
      return trunk;
    },
    async close() {
      await store.close();
      db?.close();
    },
  };
}
