/**
 * What of a trunk's storage map this machine uses (trunk_storages.ts): the entries it
 * approved join the local plan, the others are reported and never opened
 * (src/trunk/mirror_trust.ts). Loaded once the refs listing is out: a fetch's LIST leaves
 * without this code and the approvals' (~1-2 ms of a fresh process).
 */
import type { LocalDb } from "./db.ts";
import { resolveSettings, type StorageRow } from "./storages.ts";
import { getApproval, recordApproval, trustFromEnv } from "./approvals.ts";
import { redactUrl } from "../storage/registry.ts";
import type { Store } from "../storage/store.ts";
import {
  describeUnapproved,
  fingerprint,
  judge,
  ReadOnlyStore,
  type Verdict,
} from "../trunk/mirror_trust.ts";
import { type MapEntry, publicSettings, type StorageMap } from "../trunk/storage_map.ts";
import {
  FROM_MAP,
  isFromMap,
  type Planned,
  sameUrl,
  settingKeys,
  type Unapproved,
} from "./storage_plan.ts";

/** Who may approve what in one resolution: the database's records and this run's names. */
interface Trust {
  db: LocalDb | null;
  names: Set<string>;
}

/** The database's records, and the names approved for this run (`trust`, the env's). */
export function trustFor(db: LocalDb | null, trust: string[]): Trust {
  return { db, names: new Set([...trustFromEnv(), ...trust.map((n) => n.toLowerCase())]) };
}

/**
 * A saved row this machine may open: one the user saved, or one taken from the trunk's
 * map that is approved exactly as saved (rows saved before approvals existed are not).
 */
export function usableRow(db: LocalDb, r: StorageRow): boolean {
  if (!isFromMap(r)) return true;
  const a = getApproval(db, r.name);
  const { [FROM_MAP]: _, ...settings } = r.settings;
  return !!a &&
    fingerprint(a) === fingerprint({ ...r, settings: publicSettings(r.backend, settings) });
}

/** The map's verdict on one entry, recording a fresh approval (`trust` names) when it can. */
function verdictOf(e: MapEntry, trust: Trust): Verdict {
  const v = judge(
    e,
    trust.db ? getApproval(trust.db, e.name) : null,
    trust.names.has(e.name.toLowerCase()),
  );
  if (v.state === "approved" && v.record && trust.db) recordApproval(trust.db, e);
  return v;
}

/** Add what the map knows that the local plan does not, if this machine approved it. */
export function mergeMap(
  planned: Planned[],
  map: StorageMap,
  localMatch: boolean,
  trust: Trust,
): { planned: Planned[]; unapproved: Unapproved[] } {
  const out = [...planned];
  const unapproved: Unapproved[] = [];
  if (!localMatch) {
    // The URL alone: take its name and role from the map. Its store was opened from
    // what the user gave (URL, env, settings), never from the map's settings.
    const self = map.storages.find((s) => sameUrl(s.url, out[0].url));
    if (self) {
      out[0] = {
        ...self,
        url: out[0].url,
        open: out[0].open,
        local: false,
        envName: out[0].envName,
      };
    }
  }
  const hasPrimary = out.some((p) => p.role === "primary");
  for (const s of map.storages) {
    if (out.some((p) => sameUrl(p.url, s.url) || p.name === s.name)) continue;
    if (s.role === "primary" && hasPrimary) continue;
    const v = verdictOf(s, trust);
    if (v.state !== "approved") {
      unapproved.push({ entry: s, verdict: v, line: describeUnapproved(s, v) });
      continue;
    }
    out.push({
      ...s,
      open: resolveSettings(
        { name: s.name, settings: s.settings, secrets: {} },
        settingKeys(s.backend),
      ),
      local: false,
      envName: s.name,
    });
  }
  // Primary first, then mirrors in the order they were found.
  return {
    planned: [
      ...out.filter((p) => p.role === "primary"),
      ...out.filter((p) => p.role !== "primary"),
    ],
    unapproved,
  };
}

/**
 * The URL's own store when it is a mirror whose primary is not approved here: read alone;
 * a write there alone would fork the trunk, so writes say how to approve the primary.
 */
export function readOnlyMirror(
  store: Store,
  url: string,
  name: string,
  primary: Unapproved | undefined,
): Store {
  return new ReadOnlyStore(
    store,
    `${redactUrl(url)} is mirror "${name}" of a trunk whose primary ${
      primary ? `"${primary.entry.name}" ` : ""
    }is not approved here, and a write to a mirror alone would fork the trunk; ${
      primary
        ? `approve it with: trunks storage approve ${primary.entry.name}`
        : "push to the primary"
    }`,
  );
}
