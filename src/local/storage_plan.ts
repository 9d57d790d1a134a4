/**
 * What resolving a trunk URL's storages speaks of (trunk_storages.ts, and map_trust.ts,
 * which it loads once the refs listing is out): a storage as planned, one the map names
 * that is left alone, and how URLs, settings and saved rows are compared.
 */
import type { StorageRow } from "./storages.ts";
import { backendSpec, type Settings } from "../storage/registry.ts";
import type { Verdict } from "../trunk/mirror_trust.ts";
import type { MapEntry } from "../trunk/storage_map.ts";

/** One storage as resolved here: what the map would say about it, and how to open it. */
export interface Planned extends MapEntry {
  /** Settings with credentials, for opening only (never written anywhere). */
  open: Settings;
  /** Saved in the local database (else known only from the trunk's map). */
  local: boolean;
  /** Whose `TRUNKS_STORAGE_<NAME>_*` were read into `open`; null for a URL used as given. */
  envName: string | null;
}

export interface Unapproved {
  entry: MapEntry;
  verdict: Exclude<Verdict, { state: "approved" }>;
  /** One line naming it, why it is left alone, and how to approve it. */
  line: string;
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

export function settingKeys(backend: string): string[] {
  return backendSpec(backend)?.settings.map((s) => s.key) ?? [];
}

/**
 * Rows `trunks clone` saved from the trunk's map are marked: the map stays their
 * authority (a mirror removed from it is dropped here too), they only stand in for it
 * when it cannot be read.
 */
export const FROM_MAP = "from-map";

export function isFromMap(r: StorageRow): boolean {
  return r.settings[FROM_MAP] === "true";
}
