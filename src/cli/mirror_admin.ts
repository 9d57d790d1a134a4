/**
 * Mirrors from the command line: open the repository's trunk over its primary and
 * mirrors (saved here, plus those the trunk's storage map names), compare or catch up
 * each mirror, and keep the storage map in step when storages are added or removed.
 * Shared by `storage sync`, `storage add --mirror`, `storage remove`, `status`, `clone`.
 */
import { withDeadline } from "../storage/deadline.ts";
import { writerName } from "../helper/resolve.ts";
import {
  credentialHint,
  FROM_MAP,
  type Resolved,
  resolveStorages,
  sameUrl,
  type Unapproved,
} from "../local/trunk_storages.ts";
import { mapEntries, updateStorageMap } from "../helper/mirror_push.ts";
import type { LocalDb } from "../local/db.ts";
import { getApproval, recordApproval, trustFromEnv } from "../local/approvals.ts";
import { judge } from "../trunk/mirror_trust.ts";
import {
  deleteStorage,
  insertStorage,
  listStorages,
  primaryStorage,
  resolveSettings,
  type StorageRow,
  validStorageName,
} from "../local/storages.ts";
import type { Store } from "../storage/store.ts";
import { TrunkError } from "../trunk/errors.ts";
import { TRUNK_JSON } from "../trunk/layout.ts";
import { memberError, MirroredStore } from "../trunk/mirrors.ts";
import {
  credentialEnvNames,
  type MapEntry,
  publicSettings,
  readLatestMap,
  sameStorages,
  type StorageMap,
  writeMap,
} from "../trunk/storage_map.ts";
import { backendSpec, openStore } from "../storage/registry.ts";
import { type PingRecord, pingUrl } from "./storage_state.ts";
import { describeReport, type MirrorReport, syncMirrors } from "../trunk/sync.ts";
import { Trunk } from "../trunk/trunk.ts";
import type { OnProgress } from "../trunk/progress.ts";
import { terminalProgress } from "./progress.ts";
import { stderrLine } from "../trunk/stderr_line.ts";
import { describeError } from "../trunk/describe_error.ts";

export interface TrunkSet {
  resolved: Resolved;
  set: MirroredStore | null;
  store: Store;
  /** Null before the first push. */
  trunk: Trunk | null;
  close(): Promise<void>;
}

/** The repository's trunk over all its storages, reading only from the primary. */
export async function openTrunkSet(db: LocalDb, exclude?: string): Promise<TrunkSet> {
  const primary = primaryStorage(db);
  if (!primary) {
    throw new Error(
      "no primary storage here; add one: trunks storage add --name primary --backend local --path <dir>",
    );
  }
  const resolved = await resolveStorages(primary.url, db, db, { freshMap: true });
  if (exclude) {
    const keep = (n: string) => n.toLowerCase() !== exclude.toLowerCase();
    resolved.planned = resolved.planned.filter((p) => keep(p.name));
    resolved.members = resolved.members.filter((m) => keep(m.name));
    resolved.unapproved = resolved.unapproved.filter((u) => keep(u.entry.name));
  }
  const set = resolved.members.length > 1
    ? new MirroredStore(resolved.members, { forWrite: true, notice: (m) => stderrLine.message(m) })
    : null;
  const store: Store = set ?? resolved.members[0].store;
  const p = resolved.members[0];
  try {
    await p.store.list(TRUNK_JSON);
  } catch (e) {
    await store.close();
    throw memberError(p, e, "reading the trunk");
  }
  let trunk: Trunk | null = null;
  try {
    trunk = await Trunk.open(store, db, writerName());
  } catch (e) {
    if (!(e instanceof TrunkError && e.code === "not-a-trunk")) {
      await store.close();
      throw e;
    }
  }
  return { resolved, set, store, trunk, close: () => store.close() };
}

export interface MirrorsResult {
  trunkExists: boolean;
  reports: MirrorReport[];
  /** A new storage map was written (storages changed). */
  mapWritten: boolean;
}

/**
 * Compare (write=false) or catch up (write=true) every mirror, or the one named. With
 * write and every mirror healthy, the storage map is brought up to date too.
 */
export async function checkMirrors(
  db: LocalDb,
  opts: {
    write: boolean;
    only?: string;
    progress?: (line: string) => void;
    onProgress?: OnProgress;
  },
): Promise<MirrorsResult> {
  const ts = await openTrunkSet(db);
  try {
    let mirrors = ts.set?.mirrors ?? [];
    if (opts.only) {
      const want = opts.only.toLowerCase();
      mirrors = mirrors.filter((m) => m.name.toLowerCase() === want);
      if (mirrors.length === 0) {
        const names = (ts.set?.mirrors ?? []).map((m) => m.name);
        throw new Error(
          `no mirror named ${JSON.stringify(opts.only)}; ${
            names.length ? `this trunk's mirrors: ${names.join(", ")}` : "this trunk has no mirrors"
          }`,
        );
      }
    }
    if (!ts.trunk) return { trunkExists: false, reports: [], mapWritten: false };
    const reports = await syncMirrors(ts.resolved.members[0], mirrors, db, ts.trunk.meta, {
      write: opts.write,
      progress: opts.progress,
      onProgress: opts.onProgress,
      thorough: true,
      alternates: ts.set?.mirrors,
    });
    for (const r of reports) {
      if (r.state !== "unreachable") continue;
      const p = ts.resolved.planned.find((x) => x.name === r.name);
      const hint = p && !p.local ? credentialHint(p) : "";
      if (hint) r.detail = `${r.detail} (${hint})`;
    }
    let mapWritten = false;
    const healthy = reports.every((r) => r.state === "in-sync" || r.state === "caught-up");
    if (opts.write && healthy && !opts.only) {
      mapWritten = await updateStorageMap(ts.trunk, ts.resolved);
    }
    return { trunkExists: true, reports, mapWritten };
  } finally {
    await ts.close();
  }
}

/**
 * A mirror removed here leaves the trunk's storage map too (else pushes would still go
 * to it). Written on the primary and the remaining mirrors; the removed mirror keeps
 * its data. Throws, before anything is removed, when the map cannot be written.
 */
export async function dropFromMap(db: LocalDb, row: StorageRow): Promise<boolean> {
  if (row.role !== "mirror") return false;
  const ts = await openTrunkSet(db, row.name);
  try {
    const latest = await readLatestMap(ts.store);
    if (!ts.trunk || !latest) return false;
    if (!latest.map.storages.some((s) => s.name.toLowerCase() === row.name.toLowerCase())) {
      return false;
    }
    const keep = mapEntries(ts.resolved);
    if (sameStorages(keep, latest.map.storages)) return false;
    await writeMap(ts.store, keep, writerName(), latest.map.seq);
    return true;
  } finally {
    await ts.close();
  }
}

/**
 * Right after `storage add --mirror`: when the primary already holds the trunk, copy it
 * to the new mirror and write the storage map. A failure here keeps the mirror saved
 * and says how to finish (the next push refuses until it is in step).
 */
export async function catchUpNewMirror(
  db: LocalDb,
  name: string,
  quiet: boolean,
): Promise<{ state: string; line: string; report?: MirrorReport } | null> {
  try {
    const res = await checkMirrors(db, {
      write: true,
      only: name,
      progress: quiet ? undefined : (l) => stderrLine.message(`trunks: ${l}`),
      onProgress: quiet ? undefined : terminalProgress(),
    });
    if (!res.trunkExists) return null;
    const r = res.reports[0];
    if (r.state !== "in-sync" && r.state !== "caught-up") {
      return {
        state: r.state,
        line: `${describeReport(r)}; fix it, then: trunks storage sync`,
        report: r,
      };
    }
    let mapped = "recorded in the trunk's storage map";
    try {
      const ts = await openTrunkSet(db);
      try {
        if (ts.trunk) await updateStorageMap(ts.trunk, ts.resolved);
      } finally {
        await ts.close();
      }
    } catch (e) {
      mapped = `the storage map is written by the next push or trunks storage sync (${
        describeError(e)
      })`;
    }
    return {
      state: r.state,
      line: `copied the trunk here: ${describeReport(r)}; ${mapped}`,
      report: r,
    };
  } catch (e) {
    const msg = describeError(e);
    return { state: "failed", line: `not copied yet (${msg}); run: trunks storage sync` };
  }
}

export { describeReport };

export interface DiscoveredStorage {
  name: string;
  role: "primary" | "mirror";
  url: string;
  /** Approved here (`--trust-mirrors`, `TRUNKS_TRUST_MIRRORS`): only then is it used. */
  approved: boolean;
  /** It answered from here with the credentials available (null: not approved, not tried). */
  reachable: boolean | null;
  /** Env variables that can give it credentials here (when it did not answer). */
  needs: string[];
  error: string | null;
  /** The command that approves it (null when approved). */
  approve: string | null;
}

/**
 * `trunks clone`: the storages the trunk's map names beside the one cloned from. Those
 * approved here (`trust`) are saved (settings only: secrets never travel), recorded as
 * approved and checked; the others are only reported: nothing is sent to them, not even
 * a connection. Returns the URL the `trunks` remote should use (the map's primary when
 * approved) and one record per storage.
 */
export async function registerFromMap(
  db: LocalDb,
  map: StorageMap,
  given: { url: string; name: string; row: Omit<StorageRow, "added" | "name" | "role"> },
  trust: string[],
): Promise<{ remoteUrl: string; storages: DiscoveredStorage[] }> {
  const self = map.storages.find((s) => sameUrl(s.url, given.url));
  const out: DiscoveredStorage[] = [];
  let remoteUrl = given.url;
  const taken = new Set<string>();
  const selfName = self?.name ?? given.name;
  const trusted = new Set([...trust.map((n) => n.toLowerCase()), ...trustFromEnv()]);
  const unknown = trust.filter((n) => !map.storages.some((s) => s.name.toLowerCase() === n));
  if (unknown.length) {
    console.error(
      `trunks: --trust-mirrors names ${
        unknown.join(", ")
      }, which the trunk's storage map does not list (it lists: ${
        map.storages.map((s) => s.name).join(", ")
      })`,
    );
  }
  insertStorage(db, { ...given.row, name: selfName, role: self?.role ?? "primary" });
  taken.add(selfName.toLowerCase());
  for (const s of map.storages) {
    if (s === self || taken.has(s.name.toLowerCase())) continue;
    if (s.role === "primary" && self?.role !== "mirror") continue; // the given URL is primary
    if (!validStorageName(s.name)) continue;
    taken.add(s.name.toLowerCase());
    const v = judge(s, getApproval(db, s.name), trusted.has(s.name.toLowerCase()));
    if (v.state !== "approved") {
      out.push({
        name: s.name,
        role: s.role,
        url: s.url,
        approved: false,
        reachable: null,
        needs: [],
        error: null,
        approve: `trunks storage approve ${s.name}`,
      });
      continue;
    }
    recordApproval(db, s);
    saveFromMap(db, s);
    if (s.role === "primary") remoteUrl = s.url;
    out.push(await reach(s));
  }
  return { remoteUrl, storages: out };
}

/** Save (or update) the row of an approved storage known from the trunk's map. */
export function saveFromMap(db: LocalDb, s: MapEntry): void {
  const old = listStorages(db).find((r) => r.name.toLowerCase() === s.name.toLowerCase());
  if (old) deleteStorage(db, old.name);
  insertStorage(db, {
    name: s.name,
    role: s.role,
    url: s.url,
    backend: s.backend,
    settings: { ...s.settings, [FROM_MAP]: "true" },
    secrets: {},
  });
}

async function reach(s: MapEntry): Promise<DiscoveredStorage> {
  const rec: DiscoveredStorage = {
    name: s.name,
    role: s.role,
    url: s.url,
    approved: true,
    reachable: false,
    needs: [],
    error: null,
    approve: null,
  };
  const keys = backendSpec(s.backend)?.settings.map((x) => x.key) ?? [];
  let store: Store | undefined;
  try {
    store = withDeadline(
      await openStore(
        s.url,
        resolveSettings({ name: s.name, settings: s.settings, secrets: {} }, keys),
      ),
    );
    await store.list(TRUNK_JSON);
    rec.reachable = true;
  } catch (e) {
    rec.error = describeError(e);
    rec.needs = credentialEnvNames(s);
  } finally {
    await store?.close().catch(() => {});
  }
  return rec;
}

/** How a mirror stands against the primary, for `status` (null for the primary). */
export interface MirrorStatus {
  state: "in-sync" | "behind" | "diverged" | "unreachable" | "unknown";
  /** Ref entries the mirror lacks. */
  behind: number | null;
  detail: string | null;
}

/** `status`: each storage record gains `mirror` (how it stands), read-only. */
export async function withMirrorStates<T extends { name: string; role: string }>(
  db: LocalDb,
  storages: T[],
): Promise<(T & { mirror: MirrorStatus | null })[]> {
  if (!storages.some((s) => s.role === "mirror")) {
    return storages.map((s) => ({ ...s, mirror: null }));
  }
  let reports: MirrorReport[] = [];
  let why: string | null = null;
  try {
    reports = (await checkMirrors(db, { write: false })).reports;
  } catch (e) {
    why = describeError(e);
  }
  return storages.map((s) => {
    if (s.role !== "mirror") return { ...s, mirror: null };
    const r = reports.find((x) => x.name.toLowerCase() === s.name.toLowerCase());
    if (!r) return { ...s, mirror: { state: "unknown", behind: null, detail: why } };
    const state = r.state === "caught-up" ? "in-sync" : r.state;
    return {
      ...s,
      mirror: { state, behind: r.state === "behind" ? r.behind : 0, detail: r.detail ?? null },
    };
  });
}

export function describeMirrorState(m: MirrorStatus): string {
  switch (m.state) {
    case "in-sync":
      return "in sync";
    case "behind":
      return `behind by ${m.behind} entr${m.behind === 1 ? "y" : "ies"} (trunks storage sync)`;
    case "diverged":
      return "DIVERGED from the primary (trunks storage sync shows where)";
    case "unreachable":
      return "unreachable";
    case "unknown":
      return `state unknown (${m.detail})`;
  }
}

/**
 * `storage ping`: the storages the trunk's map names that are not saved here, checked
 * with the credentials this machine has for them (env). Nothing when the map is
 * unreadable or adds nothing.
 */
export async function pingMapOnly(db: LocalDb): Promise<PingRecord[]> {
  const primary = primaryStorage(db);
  if (!primary) return [];
  let resolved: Resolved;
  try {
    resolved = await resolveStorages(primary.url, db, db, { freshMap: true });
  } catch {
    return [];
  }
  try {
    const saved = listStorages(db);
    const extra = resolved.planned.filter((p) =>
      !saved.some((r) => sameUrl(r.url, p.url) || r.name.toLowerCase() === p.name.toLowerCase())
    );
    return await Promise.all(
      extra.map((p) =>
        pingUrl(p.url, p.open, {
          name: p.name,
          role: p.role,
          singleWriter: p.settings["single-writer"] === "true",
        })
      ),
    );
  } finally {
    await Promise.allSettled(resolved.members.map((m) => m.store.close()));
  }
}

/** The storages the trunk's map names that this repository does not use (for `status`). */
export async function pendingApprovals(db: LocalDb): Promise<Unapproved[]> {
  const primary = primaryStorage(db);
  if (!primary) return [];
  const resolved = await resolveStorages(primary.url, db, db, { freshMap: true });
  await Promise.allSettled(resolved.members.map((m) => m.store.close()));
  return resolved.unapproved;
}

export interface ApprovalResult {
  name: string;
  role: "primary" | "mirror";
  backend: string;
  url: string;
  /** The settings the approval binds (endpoint, region, ...): never a secret. */
  settings: Record<string, string>;
  /** How it stood before: never approved, changed since approved, or approved already. */
  was: "new" | "changed" | "approved";
}

/**
 * `trunks storage approve NAME...`: approve storages exactly as the trunk's map lists
 * them now. Every name is checked before anything is recorded.
 */
export async function approveFromMap(db: LocalDb, names: string[]): Promise<ApprovalResult[]> {
  // A clone of a mirror whose primary is not approved yet has only that mirror saved.
  const primary = primaryStorage(db) ??
    listStorages(db).find((r) => r.settings[FROM_MAP] !== "true");
  if (!primary) {
    throw new Error(
      "no primary storage here; add one first: trunks storage add --name primary ...",
    );
  }
  const resolved = await resolveStorages(primary.url, db, db, { freshMap: true });
  await Promise.allSettled(resolved.members.map((m) => m.store.close()));
  if (!resolved.map) {
    throw new Error(
      "the trunk has no storage map (or it cannot be read now), so there is nothing to approve",
    );
  }
  const listed = resolved.map.storages.map((s) => s.name);
  const todo = names.map((name) => {
    const lower = name.toLowerCase();
    const u = resolved.unapproved.find((x) => x.entry.name.toLowerCase() === lower);
    if (u) return { entry: u.entry, was: u.verdict.state };
    const p = resolved.planned.find((x) => x.name.toLowerCase() === lower);
    if (p?.local || (p && !resolved.map!.storages.some((s) => s.name === p.name))) {
      throw new Error(
        `${p.name} is a storage saved here (trunks storage add), not one taken from the trunk's map: nothing to approve`,
      );
    }
    if (p) return { entry: p, was: "approved" as const };
    throw new Error(
      `the trunk's storage map lists no storage ${JSON.stringify(name)}; it lists: ${
        listed.join(", ")
      }`,
    );
  });
  return todo.map(({ entry, was }) => {
    recordApproval(db, entry);
    if (entry.role === "mirror") saveFromMap(db, entry);
    // Only what the backend declares non-secret is shown (the map holds nothing else).
    const settings = publicSettings(entry.backend, entry.settings);
    return {
      name: entry.name,
      role: entry.role,
      backend: entry.backend,
      url: entry.url,
      settings,
      was,
    };
  });
}
