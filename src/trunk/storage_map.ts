/**
 * The storage map `storages/<seq>`: which storages hold this trunk (names, roles, URLs,
 * non-secret settings), kept inside the trunk on every storage so a fresh machine needs
 * only one URL. Created exclusively; the highest seq is the current map. Never a secret:
 * settings are filtered against the backend's declared non-secret options, and a URL
 * carrying a password or secret-looking parameter is refused.
 */
import { backendSpec, redactUrl, secretKeys, secretsInUrl } from "../storage/registry.ts";
import type { Store } from "../storage/store.ts";
import { escapeUnsafe, hasUnsafe } from "../storage/plain_text.ts";
import { getSmall } from "./small_objects.ts";
import { dotSegmentIn, isTrunkUrl } from "../storage/trunk_url.ts";
import { TrunkError } from "./errors.ts";
import { STORAGES_PREFIX, storagesKey } from "./layout.ts";
import type { Role } from "./mirrors.ts";

export interface MapEntry {
  name: string;
  role: Role;
  url: string;
  backend: string;
  /** Non-secret settings only (endpoint, region, ...). */
  settings: Record<string, string>;
}

export interface StorageMap {
  seq: number;
  time: string;
  writer: string;
  storages: MapEntry[];
}

/** Only options the backend declares non-secret survive; everything else stays local. */
export function publicSettings(
  backend: string,
  settings: Record<string, string | undefined>,
): Record<string, string> {
  const spec = backendSpec(backend);
  const allowed = new Set(spec?.settings.filter((s) => !s.secret).map((s) => s.key) ?? []);
  const secret = secretKeys();
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(settings).sort(([a], [b]) => a < b ? -1 : 1)) {
    if (v !== undefined && allowed.has(k) && !secret.has(k)) out[k] = v;
  }
  return out;
}

function assertNoSecret(e: MapEntry): void {
  let u: URL;
  try {
    u = new URL(e.url);
  } catch {
    throw new TrunkError(
      `storage "${e.name}" has a malformed URL ${redactUrl(e.url)}`,
      "bad-input",
    );
  }
  if (secretsInUrl(u).length) {
    throw new TrunkError(
      `storage "${e.name}" has a URL with a password or secret parameter; secrets never go into the trunk's storage map: move it into a setting (trunks storage add --help)`,
      "bad-input",
    );
  }
  const secret = secretKeys();
  for (const k of Object.keys(e.settings)) {
    if (secret.has(k)) {
      throw new TrunkError(
        `refusing to write secret setting ${k} into the storage map`,
        "bad-input",
      );
    }
  }
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function encodeMap(m: StorageMap): Uint8Array {
  const primaries = m.storages.filter((s) => s.role === "primary").length;
  if (primaries !== 1) {
    throw new TrunkError(`a storage map needs exactly one primary, not ${primaries}`, "bad-input");
  }
  for (const s of m.storages) assertNoSecret(s);
  return new TextEncoder().encode(JSON.stringify({ v: 1, ...m }, null, 2) + "\n");
}

/** Bounds on a map: a real one is a few hundred bytes with a handful of storages. */
const MAP_MAX_BYTES = 256 * 1024;
const MAP_MAX_STORAGES = 64;
const SETTING_MAX = 1024;

/**
 * Why a map entry must not be used, or null. The map is written by whoever can write the
 * store: its URLs and settings are checked as any other input before anything opens them.
 */
function badEntry(s: MapEntry): string | null {
  const spec = backendSpec(s.backend);
  if (!spec) return `unknown backend ${JSON.stringify(s.backend.slice(0, 40))}`;
  // What a terminal acts on (plain_text.ts), not only C0 controls: a URL or setting is shown
  // (trunks status, storage show and approve, the line naming a changed approval), and no
  // real one holds a C1 control, a bidirectional override or a line separator.
  if (s.url.length > SETTING_MAX || hasUnsafe(s.url)) return "a malformed URL";
  let u: URL;
  try {
    u = new URL(s.url);
  } catch {
    return "a malformed URL";
  }
  if (!spec.schemes.includes(u.protocol.replace(/:$/, ""))) {
    return `a URL whose scheme is not ${s.backend}'s`;
  }
  if (!isTrunkUrl(s.url) || dotSegmentIn(s.url) !== null) {
    return "a URL that is not <root>/trunks/<name>.trunk";
  }
  if (secretsInUrl(u).length) return "a URL carrying a secret";
  const allowed = publicSettings(s.backend, s.settings);
  for (const [k, v] of Object.entries(s.settings)) {
    if (allowed[k] !== v) return `a setting ${JSON.stringify(k.slice(0, 40))} it may not carry`;
    if (v.length > SETTING_MAX || hasUnsafe(v)) return `a malformed setting ${k}`;
  }
  return null;
}

export function decodeMap(bytes: Uint8Array, key: string): StorageMap {
  const bad = (why: string) =>
    new TrunkError(`${key} is not a valid storage map (${why}); run trunks check`, "corrupt");
  if (bytes.byteLength > MAP_MAX_BYTES) throw bad(`${bytes.byteLength} bytes`);
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw bad("not JSON");
  }
  if (o?.v !== 1) throw bad(`unknown version ${JSON.stringify(o?.v)}`);
  if (!Array.isArray(o.storages)) throw bad("no storages");
  if (o.storages.length > MAP_MAX_STORAGES) throw bad(`${o.storages.length} storages`);
  const storages = (o.storages as Record<string, unknown>[]).map((s) => {
    if (
      typeof s?.name !== "string" || !NAME_RE.test(s.name) ||
      (s.role !== "primary" && s.role !== "mirror") || typeof s.url !== "string" ||
      typeof s.backend !== "string" || typeof s.settings !== "object" || s.settings === null
    ) throw bad("bad storage entry");
    return {
      name: s.name,
      role: s.role,
      url: s.url,
      backend: s.backend,
      settings: Object.fromEntries(
        Object.entries(s.settings as Record<string, unknown>).filter(([, v]) =>
          typeof v === "string"
        ),
      ) as Record<string, string>,
    } satisfies MapEntry;
  }).filter((s) => {
    const why = badEntry(s);
    if (!why) return true;
    if (s.role === "primary") throw bad(`its primary "${s.name}" has ${why}`);
    // One bad mirror does not make the others unusable: it is left out, and said so.
    // `why` quotes the entry's backend or a setting's name (JSON.stringify leaves C1
    // controls, bidirectional overrides and line separators as they are).
    console.error(escapeUnsafe(`trunks: ${key}: storage "${s.name}" has ${why}; it is ignored`));
    return false;
  });
  if (storages.filter((s) => s.role === "primary").length !== 1) throw bad("not one primary");
  if (new Set(storages.map((s) => s.name.toLowerCase())).size !== storages.length) {
    throw bad("two storages with one name");
  }
  return {
    seq: Number(o.seq),
    time: String(o.time ?? "").slice(0, 64),
    writer: String(o.writer ?? "").slice(0, 256),
    storages,
  };
}

/** Keys of every map version on a store, oldest first. */
export async function listMapKeys(store: Store): Promise<{ key: string; seq: number }[]> {
  return (await store.list(STORAGES_PREFIX)).flatMap((e) => {
    const m = /^storages\/(\d{12})$/.exec(e.key);
    return m ? [{ key: e.key, seq: Number(m[1]) }] : [];
  });
}

/** A map version's bytes (null: there is none); one past its bound is a "corrupt" error, unread. */
export function readMapBytes(store: Store, key: string): Promise<Uint8Array | null> {
  // No more is read than decodeMap accepts.
  return getSmall(store, key, MAP_MAX_BYTES, "storage map");
}

/** The current map (highest seq) with its raw bytes, or null when the trunk has none. */
export async function readLatestMap(
  store: Store,
): Promise<{ map: StorageMap; bytes: Uint8Array; key: string } | null> {
  const keys = await listMapKeys(store);
  const last = keys.at(-1);
  if (!last) return null;
  const bytes = await readMapBytes(store, last.key);
  if (!bytes) return null;
  const map = decodeMap(bytes, last.key);
  map.seq = last.seq;
  return { map, bytes, key: last.key };
}

/** Whether `map` names a mirror: maintenance then prunes and deletes nothing (maintenance.ts). */
export function namesMirror(map: StorageMap | null | undefined): boolean {
  return map?.storages.some((s) => s.role === "mirror") ?? false;
}

/** Same storages, roles, URLs and settings (order of mirrors does not matter). */
export function sameStorages(a: MapEntry[], b: MapEntry[]): boolean {
  const norm = (l: MapEntry[]) =>
    JSON.stringify(
      [...l].sort((x, y) => x.name < y.name ? -1 : x.name > y.name ? 1 : 0).map((e) => [
        e.name,
        e.role,
        e.url,
        e.backend,
        Object.entries(e.settings).sort(([x], [y]) => x < y ? -1 : 1),
      ]),
    );
  return norm(a) === norm(b);
}

/**
 * Write a new map version after `prev` (exclusive create through `store`, which for a
 * mirrored trunk decides on the primary and repeats on every mirror). A lost race
 * re-reads and retries on top of the winner.
 */
export async function writeMap(
  store: Store,
  storages: MapEntry[],
  writer: string,
  prevSeq: number,
): Promise<StorageMap> {
  let seq = prevSeq + 1;
  for (let attempt = 0; attempt < 5; attempt++) {
    const map: StorageMap = { seq, time: new Date().toISOString(), writer, storages };
    if (await store.create(storagesKey(seq), encodeMap(map))) return map;
    const latest = await readLatestMap(store);
    if (latest && sameStorages(latest.map.storages, storages)) return latest.map;
    seq = (latest?.map.seq ?? seq) + 1;
  }
  throw new TrunkError(
    `the storage map kept changing under this writer; retry (storages/${seq})`,
    "conflict",
  );
}

/** `TRUNKS_STORAGE_<NAME>_<KEY>`: where a credential for a named storage is read from. */
export function credentialEnvName(storage: string, key: string): string {
  return `TRUNKS_STORAGE_${storage}_${key}`.toUpperCase().replace(/[^A-Z0-9]/g, "_");
}

/** Env var names that can hold the secrets this storage's backend takes. */
export function credentialEnvNames(e: Pick<MapEntry, "name" | "backend">): string[] {
  return (backendSpec(e.backend)?.settings ?? []).filter((s) => s.secret).map((s) =>
    credentialEnvName(e.name, s.key)
  );
}
