/**
 * Named storages saved by `trunks storage add`, and the credential lookup order:
 * `TRUNKS_STORAGE_<NAME>_<KEY>`, then the inline value saved locally, then (inside
 * each backend) the provider's own variables.
 */
import { backendSpec, secretInUrlProblem, type Settings } from "../storage/registry.ts";
import type { LocalDb } from "./db.ts";

export interface StorageRow {
  name: string;
  role: "primary" | "mirror";
  url: string;
  backend: string;
  settings: Settings;
  secrets: Settings;
  added: string;
}

export function listStorages(db: LocalDb): StorageRow[] {
  const rows = db.db.prepare(
    `SELECT name, role, url, backend, settings, secrets, added FROM storages ORDER BY role = 'mirror', added`,
  ).all() as Record<string, string>[];
  return rows.map((r) => ({
    name: r.name,
    role: r.role as "primary" | "mirror",
    url: r.url,
    backend: r.backend,
    settings: JSON.parse(r.settings),
    secrets: JSON.parse(r.secrets),
    added: r.added,
  }));
}

/** `TRUNKS_STORAGE_<NAME>_<KEY>`: upper case, every other character `_`. */
export function envKey(name: string, key: string): string {
  return `TRUNKS_STORAGE_${name}_${key}`.toUpperCase().replace(/[^A-Z0-9]/g, "_");
}

/** Settings for one named storage: env over inline values. */
export function resolveSettings(
  row: Pick<StorageRow, "name" | "settings" | "secrets">,
  keys: string[] = [],
): Settings {
  const merged: Settings = { ...row.settings, ...row.secrets };
  for (const k of new Set([...Object.keys(merged), ...keys])) {
    const v = Deno.env.get(envKey(row.name, k));
    if (v !== undefined) merged[k] = v;
  }
  return merged;
}

/** Settings for the storage whose trunk URL is `url`, if one was saved. */
export function storageSettings(db: LocalDb, url: string): Settings {
  const row = listStorages(db).find((r) => r.url === url);
  if (!row) return {};
  return resolveSettings(row, backendSpec(row.backend)?.settings.map((s) => s.key));
}

/** Storage names become env var parts, so they stay short and plain. */
const NAME_RE = /^[A-Za-z][A-Za-z0-9_-]{0,39}$/;

export function validStorageName(name: string): boolean {
  return NAME_RE.test(name);
}

/** One storage by name (case-insensitive: names map to upper-case env variables). */
export function getStorage(db: LocalDb, name: string): StorageRow | undefined {
  return listStorages(db).find((r) => r.name.toLowerCase() === name.toLowerCase());
}

/** `getStorage`, or a one-line error naming the storages there are. */
export function requireStorage(db: LocalDb, name: string, hint = ""): StorageRow {
  const row = getStorage(db, name);
  if (row) return row;
  const names = listStorages(db).map((r) => r.name);
  throw new Error(
    `no storage named ${JSON.stringify(name)}; ${
      names.length ? `this repository has: ${names.join(", ")}` : "none added yet"
    }${hint}`,
  );
}

export function primaryStorage(db: LocalDb): StorageRow | undefined {
  return listStorages(db).find((r) => r.role === "primary");
}

/** Save a storage; the caller has checked the name is free and the role allowed. */
export function insertStorage(db: LocalDb, row: Omit<StorageRow, "added">): StorageRow {
  // Every saved row passes here, whichever command found its URL (a git remote that
  // `trunks init` adopts included): a secret stays in `secrets`, never in the URL.
  const problem = secretInUrlProblem(row.url);
  if (problem) throw new Error(problem);
  const added = new Date().toISOString();
  db.db.prepare(
    `INSERT INTO storages (name, role, url, backend, settings, secrets, added) VALUES (?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    row.name,
    row.role,
    row.url,
    row.backend,
    JSON.stringify(row.settings),
    JSON.stringify(row.secrets),
    added,
  );
  return { ...row, added };
}

export function deleteStorage(db: LocalDb, name: string): void {
  db.db.prepare(`DELETE FROM storages WHERE name = ?`).run(name);
}

/** Which `TRUNKS_STORAGE_<NAME>_*` variables are set for this storage (names, not values). */
export function envOverrides(name: string, keys: string[]): string[] {
  return keys.map((k) => envKey(name, k)).filter((v) => Deno.env.get(v) !== undefined);
}
