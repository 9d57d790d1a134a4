/**
 * Which storages a trunk URL stands for: the named storages saved in the local
 * database (`trunks storage add [--mirror]`), merged with the storage map kept inside
 * the trunk (`storages/<seq>`), so a plain `git clone trunks::<url>` still pushes to
 * every mirror and reads can fail over. Local settings win by name; the map only adds,
 * and only storages this machine approved (src/trunk/mirror_trust.ts): the rest are
 * reported, never opened, so nothing and no credential reaches them.
 */
import type { LocalDb } from "./db.ts";
import { listStorages, resolveSettings, type StorageRow } from "./storages.ts";
import { withAccessAdvice } from "../storage/advised.ts";
import { CountingStore } from "../storage/counting.ts";
import { credentialAdvice, schemeOf } from "../trunk/credential_hint.ts";
import { withDeadline } from "../storage/deadline.ts";
import { loopTurn } from "../storage/timer.ts";
import { openStore, redactUrl, type Settings } from "../storage/registry.ts";
import {
  isUnavailable,
  type ListEntry,
  type ListOptions,
  type Store,
  StoreError,
} from "../storage/store.ts";
import type { TrunkCache } from "../trunk/cache.ts";
import type { Member, Role } from "../trunk/mirrors.ts";
import { REFS_PREFIX } from "../trunk/layout.ts";
import { readTrunkJson } from "../trunk/meta.ts";
import { type EarlyPlanListings, startPlanListings } from "../trunk/plan_listing.ts";
import {
  FROM_MAP,
  isFromMap,
  type Planned,
  sameUrl,
  settingKeys,
  type Unapproved,
} from "./storage_plan.ts";
import {
  credentialEnvNames,
  type MapEntry,
  publicSettings,
  readLatestMap,
  type StorageMap,
} from "../trunk/storage_map.ts";
import { describeError } from "../trunk/describe_error.ts";

/** A listing of `refs/`: `at`, the wall clock when sent; `mono`, `performance.now()` then. */
export interface RefsListing {
  at: number;
  mono: number;
  entries: Promise<ListEntry[]>;
}

export interface Resolved {
  members: Member[];
  planned: Planned[];
  /** The URL git was given is one of the locally saved storages. */
  localMatch: boolean;
  /** The map read from the trunk (or cached), if any. */
  map: StorageMap | null;
  /** Mirrors saved here that the trunk's map dropped after they were saved. */
  removed: string[];
  /** Storages the map names that are not used here: never approved, or changed since. */
  unapproved: Unapproved[];
  /**
   * With `listRefs`: the listing of `refs/` on the URL's own storage, made beside the map's
   * (one round trip for both), when that storage is the only one.
   */
  refsListing?: RefsListing;
  /**
   * Instead of `refsListing` (a fresh clone from a store that answers within the call):
   * starts it, for the caller to call once its plan's pack is being indexed.
   */
  refsLater?: () => RefsListing;
  /**
   * With `listRefs`, on a first read of the trunk (nothing of it cached for this URL, neither
   * trunk.json nor the storage map: a fresh clone): trunk.json's bytes (null: none), read
   * beside the listings, when that storage is the only one. Unchecked: `Trunk.open` checks
   * them as its own read's.
   */
  metaRead?: Promise<Uint8Array | null>;
  /**
   * With `planListings`, on such a first read: the fetch plan's listings, sent beside the
   * others (plan_listing.ts), on a store whose requests wait on the network, once the check
   * said yes (undefined: not sent).
   */
  planListings?: Promise<EarlyPlanListings | undefined>;
}

function scheme(url: string): string {
  try {
    return new URL(url).protocol.replace(/:$/, "");
  } catch {
    return "";
  }
}

const MAP_CACHE_SUFFIX = "#storages";
const MAP_REFRESH_MS = 60 * 60 * 1000;

function parseCachedMap(json: string | undefined): { at: number; map: StorageMap | null } | null {
  if (!json) return null;
  try {
    const o = JSON.parse(json);
    return typeof o?.at === "number" ? { at: o.at, map: o.map ?? null } : null;
  } catch {
    return null;
  }
}

function rowPlan(r: StorageRow, local: boolean): Planned {
  return {
    name: r.name,
    role: r.role,
    url: r.url,
    backend: r.backend,
    settings: publicSettings(r.backend, r.settings),
    open: resolveSettings(r, settingKeys(r.backend)),
    local,
    envName: r.name,
  };
}

/**
 * Saved rows (if the URL is one of them), else the URL alone as the primary (named
 * `named`, the storage a `trunks://NAME/...` URL was resolved through, if any).
 */
function localPlan(
  url: string,
  rows: StorageRow[],
  named?: string,
): { planned: Planned[]; localMatch: boolean } {
  const own = rows.filter((r) => !isFromMap(r));
  if (own.some((r) => sameUrl(r.url, url))) {
    return { localMatch: true, planned: own.map((r) => rowPlan(r, true)) };
  }
  const known = rows.find((r) => sameUrl(r.url, url));
  return {
    localMatch: false,
    planned: [
      known ? { ...rowPlan(known, false), url } : {
        name: named ?? "primary",
        role: "primary",
        url,
        backend: scheme(url),
        settings: {},
        open: {},
        local: false,
        envName: named ?? null,
      },
    ],
  };
}

/** What the saved rows say, as a map: used only when the trunk's own map is unreadable. */
function rowsAsMap(rows: StorageRow[]): StorageMap | null {
  if (!rows.some((r) => r.role === "primary")) return null;
  return {
    seq: 0,
    time: "",
    writer: "",
    storages: rows.map((r) => ({ ...rowPlan(r, false), open: undefined })),
  };
}

/** A storage that could not even be opened: every operation says why. */
class BrokenStore implements Store {
  readonly capabilities = {
    atomicCreate: true,
    rangeReads: true,
    maxObjectSize: Infinity,
    parallelism: 4,
  };
  constructor(
    readonly location: string,
    readonly why: string,
    readonly code: StoreError["code"] = "unreachable",
  ) {}
  #fail(): Promise<never> {
    return Promise.reject(new StoreError(this.why, this.code));
  }
  get() {
    return this.#fail();
  }
  put() {
    return this.#fail();
  }
  create() {
    return this.#fail();
  }
  list() {
    return this.#fail();
  }
  delete() {
    return this.#fail();
  }
  close() {
    return Promise.resolve();
  }
}

async function openMember(p: Planned): Promise<Member> {
  let store: Store;
  try {
    // Bounded by TRUNKS_STORE_TIMEOUT: a storage that never answers fails (or fails over).
    store = new CountingStore(withDeadline(await openStore(p.url, p.open)));
  } catch (e) {
    const why = describeError(e);
    // A refusal found while opening (no keys at all) stays a refusal, not an outage.
    const denied = e instanceof StoreError && e.code === "access-denied";
    store = new BrokenStore(redactUrl(p.url), why, denied ? "access-denied" : "unreachable");
  }
  store = withAccessAdvice(
    store,
    credentialAdvice({ envName: p.envName, backend: p.backend || schemeOf(p.url) }),
  );
  return { name: p.name, role: p.role, url: p.url, store };
}

/**
 * Resolve the storages behind `url`. The map is read from the URL's own storage when
 * `freshMap` (pushes) or when none is cached; if that storage does not answer, the
 * cached map still names the mirrors to fail over to.
 */
export async function resolveStorages(
  url: string,
  db: LocalDb | null,
  cache: TrunkCache,
  opts: {
    freshMap: boolean;
    settings?: Settings;
    /** Names approved for this run (`--trust-mirrors`, the library's `trustMirrors`). */
    trust?: string[];
    /** The storage name a `trunks://NAME/...` URL was resolved through. */
    named?: string;
    /**
     * List `refs/` on the URL's storage beside the map (git's `list`), with these options
     * (a fetch's: details only of the keys it reads).
     */
    listRefs?: ListOptions;
    /**
     * Called once the listings are on their sockets (`refs/`, the map's): the helper loads
     * a push's code then, while the store answers, rather than before the requests leave.
     */
    whileListing?: () => void;
    /**
     * A fetch: its plan's listings go out with the first ones on a fresh clone, when this
     * says so (a repository holding no object yet: only a clone plans from them).
     */
    planListings?: () => Promise<boolean>;
  },
): Promise<Resolved> {
  const rows = db ? listStorages(db) : [];
  const { planned, localMatch } = localPlan(url, rows, opts.named);
  // Settings handed in for this URL (the library's `settings`) win over saved ones.
  if (opts.settings) {
    const self = planned.find((p) => sameUrl(p.url, url))!;
    self.open = { ...self.open, ...opts.settings };
  }
  const self = await openMember(planned.find((p) => sameUrl(p.url, url))!);
  const cacheKey = `${url}${MAP_CACHE_SUFFIX}`;
  const cached = parseCachedMap(cache.getMeta(cacheKey));
  // Nothing of the trunk is cached for this URL, neither the map nor trunk.json: through a
  // mirror's URL trunk.json is cached under the set's location, and a read of it beside
  // the listings would be made, and dropped, on every fetch.
  const firstRead = !!opts.listRefs && !cached &&
    cache.getMeta(self.store.location) === undefined;
  // Local disk answers within the call, in this thread: a fresh clone there lists its
  // plan's segments first and its refs once the prefetch's index-pack runs (the caller
  // starts them: `refsLater`), which a listing of thousands of entries held back ~7 ms.
  // The check is a readdir.
  const later = firstRead && opts.planListings && self.store.copyToFile &&
    await opts.planListings().catch(() => false);
  const listRefs = (): RefsListing => {
    const l = {
      at: Date.now(),
      mono: performance.now(),
      entries: self.store.list(REFS_PREFIX, undefined, opts.listRefs),
    };
    // Consumed (or dropped) by the caller; a failure is the caller's to report.
    l.entries.catch(() => {});
    return l;
  };
  const plannedFirst = later ? Promise.resolve(startPlanListings(self.store)) : undefined;
  const refsListing = opts.listRefs && !later ? listRefs() : undefined;
  // A fresh clone reads trunk.json next: in the same round trip as the listings, not one
  // after the map's (a corpus clone at 50 ms a request: 4 rounds, 3 with it).
  const metaRead = firstRead ? readTrunkJson(self.store) : undefined;
  metaRead?.catch(() => {});
  // On a store whose requests wait on the network the check holds no listing back, and
  // they still leave in the first round trip.
  const planListings = plannedFirst ??
    (metaRead && opts.planListings && !self.store.copyToFile
      ? opts.planListings().then(
        (go) => go ? startPlanListings(self.store) : undefined,
        () => undefined,
      )
      : undefined);
  let map = cached?.map ?? null;
  // Fetches keep the one-list cost: the map (or its absence) is re-read at most hourly.
  const stale = !cached || Date.now() - cached.at > MAP_REFRESH_MS;
  const mapRead = opts.freshMap || stale ? readLatestMap(self.store) : undefined;
  mapRead?.catch(() => {}); // awaited below
  // The listings reach their sockets only when the loop polls: what follows (the map's
  // merge, the caller's code loading) held git's listing back 5-15 ms before that. A new
  // connection takes more than one poll: with 1 ms the LIST still waited for the trunk's
  // code in 10 of 16 up-to-date fetches on S3 (load ~9), with 3 ms in 3 of 16.
  // Not past the listing's answer: a local store's comes in well under 1 ms.
  if (refsListing) await Promise.race([loopTurn(3), refsListing.entries.catch(() => {})]);
  // The map's merge and the approvals load now, while the listings are out.
  const trustCode = import("./map_trust.ts");
  // Every listing is out: what the caller does meanwhile delays none of them.
  opts.whileListing?.();
  if (mapRead) {
    try {
      map = (await mapRead)?.map ?? null;
      cache.putMeta(cacheKey, JSON.stringify({ at: Date.now(), map }));
    } catch (e) {
      // Unreachable: go on with what is cached; the real read will report it.
      if (!isUnavailable(e)) throw e;
    }
  }
  const { mergeMap, readOnlyMirror, trustFor } = await trustCode;
  const removed = map ? removedByOthers(planned, rows, map) : [];
  const kept = planned.filter((p) => !removed.includes(p.name));
  const fallback = map ?? rowsAsMap(rows);
  const merged = fallback
    ? mergeMap(kept, fallback, localMatch, trustFor(db, opts.trust ?? []))
    : { planned: kept, unapproved: [] };
  let all = merged.planned;
  if (!all.some((p) => p.role === "primary")) {
    // The URL is a mirror whose primary is not approved here: read it alone.
    const me = all.find((p) => sameUrl(p.url, url))!;
    all = [me];
    self.store = readOnlyMirror(
      self.store,
      url,
      me.name,
      merged.unapproved.find((u) => u.entry.role === "primary"),
    );
  }
  const members = await Promise.all(
    all.map((p) =>
      sameUrl(p.url, url) ? Promise.resolve({ ...self, name: p.name, role: p.role }) : openMember(p)
    ),
  );
  return {
    members,
    planned: all,
    localMatch,
    map,
    removed,
    unapproved: merged.unapproved,
    // Good for the trunk's own read only when its reads go to this storage alone.
    ...(members.length === 1 && members[0].store === self.store
      ? { refsListing, refsLater: later ? listRefs : undefined, metaRead, planListings }
      : {}),
  };
}

/**
 * Mirrors saved here before the current map was written that the map no longer lists:
 * someone ran `trunks storage remove` for them. They are left out (pushes stop going
 * there for everyone) rather than silently put back into the map.
 */
function removedByOthers(planned: Planned[], rows: StorageRow[], map: StorageMap): string[] {
  const mapTime = Date.parse(map.time);
  if (!Number.isFinite(mapTime)) return [];
  return planned.filter((p) => {
    if (!p.local || p.role !== "mirror") return false;
    if (map.storages.some((s) => s.name.toLowerCase() === p.name.toLowerCase())) return false;
    const row = rows.find((r) => r.name === p.name);
    return !!row && Date.parse(row.added) < mapTime;
  }).map((p) => p.name);
}

/** "set TRUNKS_STORAGE_BACKUP_ACCESS_KEY, ..." for a storage known only from the map. */
export function credentialHint(p: Pick<MapEntry, "name" | "backend">): string {
  const names = credentialEnvNames(p);
  return names.length
    ? `to give "${p.name}" credentials here, set ${
      names.length > 1 ? `${names.slice(0, -1).join(", ")} or ${names.at(-1)}` : names[0]
    }, or the provider's own variables`
    : "";
}

export type { Role };
export { FROM_MAP, type Planned, sameUrl, type Unapproved };
