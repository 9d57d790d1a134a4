/**
 * Which storages a trunk URL stands for: the named storages saved in the local
 * database (`trunks storage add [--mirror]`), merged with the storage map kept inside
 * the trunk (`storages/<seq>`), so a plain `git clone trunks::<url>` still pushes to
 * every mirror and reads can fail over. Local settings win by name; the map only adds.
 */
import type { LocalDb } from "./db.ts";
import { listStorages, resolveSettings, type StorageRow } from "./storages.ts";
import { CountingStore } from "../storage/counting.ts";
import { withDeadline } from "../storage/deadline.ts";
import { backendSpec, openStore, redactUrl, type Settings } from "../storage/registry.ts";
import { type Store, StoreError } from "../storage/store.ts";
import type { TrunkCache } from "../trunk/cache.ts";
import { isUnavailable, type Member, type Role } from "../trunk/mirrors.ts";
import {
  credentialEnvNames,
  type MapEntry,
  publicSettings,
  readLatestMap,
  type StorageMap,
} from "../trunk/storage_map.ts";

/** One storage as resolved here: what the map would say about it, and how to open it. */
export interface Planned extends MapEntry {
  /** Settings with credentials, for opening only (never written anywhere). */
  open: Settings;
  /** Saved in the local database (else known only from the trunk's map). */
  local: boolean;
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
}

/** URLs compare after URL normalisation (query order kept: it is how they were saved). */
export function sameUrl(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return new URL(a).toString() === new URL(b).toString();
  } catch {
    return false;
  }
}

function scheme(url: string): string {
  try {
    return new URL(url).protocol.replace(/:$/, "");
  } catch {
    return "";
  }
}

function settingKeys(backend: string): string[] {
  return backendSpec(backend)?.settings.map((s) => s.key) ?? [];
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

/**
 * Rows `trunks clone` saved from the trunk's map are marked: the map stays their
 * authority (a mirror removed from it is dropped here too), they only stand in for it
 * when it cannot be read.
 */
export const FROM_MAP = "from-map";

function isFromMap(r: StorageRow): boolean {
  return r.settings[FROM_MAP] === "true";
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
  };
}

/** Saved rows (if the URL is one of them), else the URL alone as the primary. */
function localPlan(url: string, rows: StorageRow[]): { planned: Planned[]; localMatch: boolean } {
  const own = rows.filter((r) => !isFromMap(r));
  if (own.some((r) => sameUrl(r.url, url))) {
    return { localMatch: true, planned: own.map((r) => rowPlan(r, true)) };
  }
  const known = rows.find((r) => sameUrl(r.url, url));
  return {
    localMatch: false,
    planned: [
      known ? { ...rowPlan(known, false), url } : {
        name: "primary",
        role: "primary",
        url,
        backend: scheme(url),
        settings: {},
        open: {},
        local: false,
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

/** Add what the map knows that the local plan does not. */
function mergeMap(planned: Planned[], map: StorageMap, localMatch: boolean): Planned[] {
  const out = [...planned];
  if (!localMatch) {
    // The URL alone: take its name and role from the map.
    const self = map.storages.find((s) => sameUrl(s.url, out[0].url));
    if (self) {
      out[0] = {
        ...self,
        url: out[0].url,
        open: resolveSettings({ name: self.name, settings: self.settings, secrets: {} }, [
          ...settingKeys(self.backend),
        ]),
        local: false,
      };
    }
  }
  const hasPrimary = out.some((p) => p.role === "primary");
  for (const s of map.storages) {
    if (out.some((p) => sameUrl(p.url, s.url) || p.name === s.name)) continue;
    if (s.role === "primary" && hasPrimary) continue;
    out.push({
      ...s,
      open: resolveSettings(
        { name: s.name, settings: s.settings, secrets: {} },
        settingKeys(s.backend),
      ),
      local: false,
    });
  }
  // Primary first, then mirrors in the order they were found.
  return [...out.filter((p) => p.role === "primary"), ...out.filter((p) => p.role !== "primary")];
}

/** A storage that could not even be opened: every operation says why. */
class BrokenStore implements Store {
  readonly capabilities = {
    atomicCreate: true,
    rangeReads: true,
    maxObjectSize: Infinity,
    parallelism: 4,
  };
  constructor(readonly location: string, readonly why: string) {}
  #fail(): Promise<never> {
    return Promise.reject(new StoreError(this.why, "unreachable"));
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
    const why = e instanceof Error ? e.message.split("\n")[0] : String(e);
    store = new BrokenStore(redactUrl(p.url), why);
  }
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
  opts: { freshMap: boolean; settings?: Settings },
): Promise<Resolved> {
  const rows = db ? listStorages(db) : [];
  const { planned, localMatch } = localPlan(url, rows);
  // Settings handed in for this URL (the library's `settings`) win over saved ones.
  if (opts.settings) {
    const self = planned.find((p) => sameUrl(p.url, url))!;
    self.open = { ...self.open, ...opts.settings };
  }
  const self = await openMember(planned.find((p) => sameUrl(p.url, url))!);
  const cacheKey = `${url}${MAP_CACHE_SUFFIX}`;
  const cached = parseCachedMap(cache.getMeta(cacheKey));
  let map = cached?.map ?? null;
  // Fetches keep the one-list cost: the map (or its absence) is re-read at most hourly.
  const stale = !cached || Date.now() - cached.at > MAP_REFRESH_MS;
  if (opts.freshMap || stale) {
    try {
      map = (await readLatestMap(self.store))?.map ?? null;
      cache.putMeta(cacheKey, JSON.stringify({ at: Date.now(), map }));
    } catch (e) {
      // Unreachable: go on with what is cached; the real read will report it.
      if (!isUnavailable(e)) throw e;
    }
  }
  const removed = map ? removedByOthers(planned, rows, map) : [];
  const kept = planned.filter((p) => !removed.includes(p.name));
  const fallback = map ?? rowsAsMap(rows);
  const all = fallback ? mergeMap(kept, fallback, localMatch) : kept;
  const members = await Promise.all(
    all.map((p) =>
      sameUrl(p.url, url) ? Promise.resolve({ ...self, name: p.name, role: p.role }) : openMember(p)
    ),
  );
  return { members, planned: all, localMatch, map, removed };
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
