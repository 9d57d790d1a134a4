/**
 * `trunks://NAME/REPO`: a trunk named by storage name instead of by backend URL. NAME is
 * looked up in this repository's storages first (they outrank the per-user ones), then in
 * the per-user config (`trunks storage add --global`); the trunk is
 * `<that storage's root>/trunks/REPO.trunk`.
 *
 * Such a URL means something only where NAME is configured, like an ssh host alias. On a
 * machine without NAME it fails with one line naming NAME and the command that adds it,
 * never guessing a backend (nothing falls back to AWS). To hand a repository to another
 * machine, hand over the backend URL (`trunks storage list --global`, or the remote a
 * `trunks clone trunks://NAME/REPO` saved), or add the same NAME there.
 */
import { backendSpec, redactUrl, type Settings } from "../storage/registry.ts";
import { badRepoName, splitTrunkPath, trunkUrl } from "../storage/trunk_url.ts";
import type { LocalDb } from "./db.ts";
import { getStorage, resolveSettings, type StorageRow, validStorageName } from "./storages.ts";
import { FROM_MAP } from "./trunk_storages.ts";
import { findGlobal, readUserConfig, type UserConfig } from "./user_config.ts";

export interface NamedTarget {
  /** The storage name as configured. */
  name: string;
  /** The trunk's name (REPO). */
  repo: string;
  backend: string;
  /** `<root>/trunks/REPO.trunk` in the backend's own form: what is opened. */
  url: string;
  /** Non-secret settings that are not in the URL (saved by `trunks clone`). */
  settings: Settings;
  /** What the store is opened with: settings, secrets saved here, TRUNKS_STORAGE_<NAME>_*. */
  open: Settings;
  /** Which configuration applied. */
  source: "repository" | "per-user config";
}

export { isNamedUrl } from "./named_scheme.ts";

/** NAME and REPO of `trunks://NAME/REPO[.trunk]`, or a one-line error saying what is wrong. */
export function parseNamedUrl(url: string): { name: string; repo: string } {
  // Shown masked: a mistaken URL may carry a password or a secret parameter.
  const shown = redactUrl(url);
  if (/^trunks:\/\/[^/?#]*\/*$/i.test(url)) {
    throw new Error(`${shown}: trunks://NAME/REPO needs a repository name`);
  }
  const m = /^trunks:\/\/([^/?#]*)\/([^?#]*)$/i.exec(url);
  if (!m || url.includes("?") || url.includes("#")) {
    throw new Error(
      `${shown}: a storage-name URL is trunks://NAME/REPO (settings live in the storage's config, not in a query)`,
    );
  }
  const name = m[1];
  if (!validStorageName(name)) {
    throw new Error(
      `${shown}: ${
        JSON.stringify(name.replace(/^([^:@]*):[^@]*@/, "$1:***@"))
      } is not a storage name (a letter, then letters, digits, - or _)`,
    );
  }
  let repo: string;
  try {
    repo = decodeURIComponent(m[2].replace(/\/+$/, "").replace(/\.trunk$/, ""));
  } catch {
    throw new Error(`${shown}: the repository name has a broken %-escape`);
  }
  const why = badRepoName(repo);
  if (why) {
    throw new Error(
      `${shown}: repository name ${
        JSON.stringify(repo)
      } ${why}; give one name: trunks://${name}/REPO`,
    );
  }
  return { name, repo };
}

/** A trunk URL's storage root: `s3://b/p/trunks/x.trunk?endpoint=E` -> `s3://b/p?endpoint=E`. */
export function rootOfTrunkUrl(url: string): string {
  const u = new URL(url);
  const { root } = splitTrunkPath(u.pathname);
  u.pathname = root;
  return u.toString();
}

/** The one line for a NAME configured nowhere. */
export function unknownNameError(url: string, name: string, configPath: string): Error {
  return new Error(
    `${
      redactUrl(url)
    }: no storage named ${name} in this repository or in the per-user config (${configPath}); add it with: trunks storage add --global ${name} URL`,
  );
}

/** A storage as NAME means it here, before any repository name is put on it. */
export interface NamedStorage {
  name: string;
  backend: string;
  /** The storage root URL. */
  root: string;
  settings: Settings;
  open: Settings;
  source: NamedTarget["source"];
  /** The repository's saved storage (source "repository"). */
  row?: StorageRow;
}

/**
 * What storage NAME means here, the one rule for `trunks://NAME/...` and `trunks storage
 * ping NAME`: this repository's storage NAME (when `db` is given and has one), else the
 * per-user config's; null when neither has it.
 */
export function findNamedStorage(
  name: string,
  db: LocalDb | null,
  cfg: UserConfig,
): NamedStorage | null {
  const keysOf = (b: string) => backendSpec(b)?.settings.map((s) => s.key) ?? [];
  // A row `trunks clone` copied from a trunk's map is not one the user named here.
  const row = db ? getStorage(db, name) : undefined;
  if (row && row.settings[FROM_MAP] !== "true") {
    return {
      name: row.name,
      backend: row.backend,
      root: rootOfTrunkUrl(row.url),
      settings: { ...row.settings },
      open: resolveSettings(row, keysOf(row.backend)),
      source: "repository",
      row,
    };
  }
  const g = findGlobal(cfg, name);
  if (!g) return null;
  return {
    name: g.name,
    backend: g.backend,
    root: g.url,
    settings: { ...g.settings },
    open: resolveSettings({ name: g.name, settings: g.settings, secrets: {} }, keysOf(g.backend)),
    source: "per-user config",
  };
}

/**
 * Resolve `trunks://NAME/REPO`: this repository's storage NAME (when `db` is given and has
 * one), else the per-user config's. Throws a one-line error when neither has NAME.
 */
export function resolveNamedUrl(
  url: string,
  db: LocalDb | null,
  cfg: UserConfig = readUserConfig(),
): NamedTarget {
  const { name, repo } = parseNamedUrl(url);
  const s = findNamedStorage(name, db, cfg);
  if (!s) throw unknownNameError(url, name, cfg.path);
  return {
    name: s.name,
    repo,
    backend: s.backend,
    url: trunkUrl(s.root, repo),
    settings: s.settings,
    open: s.open,
    source: s.source,
  };
}
