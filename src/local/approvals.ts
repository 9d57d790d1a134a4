/**
 * Which storages named only by a trunk's storage map this machine approved, and for
 * exactly which name, role, backend, URL and settings (src/trunk/mirror_trust.ts).
 * Kept in the local database beside the storages the user saved.
 */
import type { LocalDb } from "./db.ts";
import type { Approved } from "../trunk/mirror_trust.ts";
import { parseTrustList } from "../trunk/mirror_trust.ts";

export function getApproval(db: LocalDb, name: string): Approved | null {
  const row = db.db.prepare(`SELECT entry FROM approved_storages WHERE name = ?`).get(
    name.toLowerCase(),
  ) as { entry: string } | undefined;
  if (!row) return null;
  try {
    const e = JSON.parse(row.entry);
    return { name: e.name, role: e.role, backend: e.backend, url: e.url, settings: e.settings };
  } catch {
    return null;
  }
}

export function recordApproval(db: LocalDb, e: Approved): void {
  const entry: Approved = {
    name: e.name,
    role: e.role,
    backend: e.backend,
    url: e.url,
    settings: e.settings,
  };
  db.db.prepare(
    `INSERT OR REPLACE INTO approved_storages (name, entry, approved) VALUES (?, ?, ?)`,
  ).run(e.name.toLowerCase(), JSON.stringify(entry), new Date().toISOString());
}

export function forgetApproval(db: LocalDb, name: string): void {
  db.db.prepare(`DELETE FROM approved_storages WHERE name = ?`).run(name.toLowerCase());
}

/** `TRUNKS_TRUST_MIRRORS=nas,backup`: names approved for this run. */
export function trustFromEnv(): string[] {
  try {
    return parseTrustList(Deno.env.get("TRUNKS_TRUST_MIRRORS"));
  } catch {
    return []; // no --allow-env (the library): only its trustMirrors option
  }
}
