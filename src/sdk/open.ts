/**
 * How `Trunk.open` finds a trunk: a URL, a storage root and name, or a storage saved in
 * a trunks database (with its credentials, resolved as the CLI does), and defaults for
 * the writer recorded in ref entries.
 */
import { LocalDb } from "../local/db.ts";
import { isNamedUrl, type NamedTarget, resolveNamedUrl } from "../local/named_url.ts";
import { getStorage, listStorages, primaryStorage, resolveSettings } from "../local/storages.ts";
import { backendSpec, redactUrl, type Settings } from "../storage/registry.ts";
import type { Store } from "../storage/store.ts";
import { isTrunkUrl, trunkUrl } from "../storage/trunk_url.ts";
import { TrunkError } from "../trunk/errors.ts";
import type { ReaderOptions } from "./object_reader.ts";
import type { ObjectFormat } from "../pack/objects.ts";

/** How to reach a trunk, and how this client reads and writes it. */
export interface OpenOptions {
  /**
   * A trunk URL, e.g. `s3://bucket/prefix/trunks/app.trunk?endpoint=...`, or
   * `trunks://NAME/REPO`: the trunk REPO in the named storage NAME, resolved as git and
   * `trunks clone` resolve it. With `database`, that repository's own storage NAME comes
   * first, then the per-user config (`trunks storage add --global`); without one, the
   * library has no repository, so only the per-user config applies. Its settings and
   * `TRUNKS_STORAGE_<NAME>_*` are used; `settings` given here go over them.
   */
  url?: string;
  /** A storage root URL (`s3://company-code`); with `name`, the trunk inside it. */
  backend?: string;
  /** The trunk's name under `backend` (`<root>/trunks/<name>.trunk`). */
  name?: string;
  /**
   * Backend settings and secrets, the keys of `trunks storage add` flags: `endpoint`,
   * `region`, `access-key`, `secret-key`, `path-style`, `account-key`, ... Unset values
   * fall back to the provider's own environment variables, as in the CLI.
   */
  settings?: Settings;
  /**
   * A trunks database (`.trunks/<repo>.trunk`, made by `trunks init` and `trunks storage
   * add`): the trunk is its primary storage (or `storage`), with the settings and
   * credentials saved there and `TRUNKS_STORAGE_<NAME>_*` over them, exactly as the CLI
   * and the helper use them. Its caches are shared with them too.
   */
  database?: string;
  /** With `database`: the name of the storage to open (default the primary). */
  storage?: string;
  /**
   * Storages the trunk's own storage map names that this program approves, by name
   * (`["nas", "backup"]`, as `TRUNKS_TRUST_MIRRORS`). Anyone who can write the trunk can
   * write its map, so the others get nothing: no data, no credential, no connection.
   * With `database`, approvals recorded there (`trunks storage approve`) count too.
   */
  trustMirrors?: string[];
  /** An already open store (tests, custom backends); `url`/`backend` are then ignored. */
  store?: Store;
  /** Create the trunk when the location holds none (default: error "not-a-trunk"). */
  create?: boolean;
  /**
   * Lease of a trunk created here, in seconds (recorded in its trunk.json; default one
   * hour): pushes re-read the trunk's state past half of it, and a clean keeps
   * everything younger than two leases.
   */
  leaseSeconds?: number;
  /** Object format of a trunk created here (default sha1, as git). */
  objectFormat?: ObjectFormat;
  /** Keep ref entries, pack indexes and whole packs here across processes. */
  cacheDir?: string;
  /**
   * Where `writeFile()` spools streams above the large-blob threshold (default the
   * system's temporary directory); the files are removed once pushed, discarded or closed.
   */
  tempDir?: string;
  /** Recorded in ref entries (the audit trail); default `user@host (sdk)`. */
  writer?: string;
  /** Author and committer of commits; default GIT_AUTHOR_* or the writer. */
  author?: { name: string; email: string };
  /** Tuning of how segments are read. */
  reads?: Omit<ReaderOptions, "cacheDir">;
}

export function envGet(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env: use the defaults
  }
}

export function defaultWriter(): string {
  const user = envGet("USER") ?? envGet("USERNAME") ?? "unknown";
  let host = "unknown";
  try {
    host = Deno.hostname();
  } catch {
    // no permission: keep "unknown"
  }
  return `${user}@${host} (sdk)`;
}

/** The trunk URL from `url`, or `backend` + `name`; one-line errors otherwise. */
export function trunkUrlOf(opts: OpenOptions, url: string | undefined): string {
  if (!url && opts.backend) {
    if (!opts.name) {
      throw new TrunkError("Trunk.open: `backend` needs `name` (or pass `url`)", "bad-input");
    }
    url = trunkUrl(opts.backend, opts.name);
  }
  if (!url) {
    throw new TrunkError(
      "Trunk.open needs `url` (…/trunks/<name>.trunk), `backend` + `name`, `database`, or `store`",
      "bad-input",
    );
  }
  if (!isTrunkUrl(url)) {
    throw new TrunkError(
      `${redactUrl(url)} is not a trunk URL: it must end in /<name>.trunk, or pass backend + name`,
      "bad-input",
    );
  }
  return url;
}

/** `reads` sizes and counts: numbers, 0 or more (Infinity for no bound). */
export function checkReads(reads: OpenOptions["reads"]): void {
  for (const [name, v] of Object.entries(reads ?? {})) {
    if (v !== undefined && !(typeof v === "number" && v >= 0)) {
      throw new TrunkError(
        `Trunk.open: reads.${name} must be a number, 0 or more (got ${
          typeof v === "string" ? JSON.stringify(v) : String(v)
        })`,
        "bad-input",
      );
    }
  }
}

/** A trunks database file, opened. */
export async function databaseAt(path: string): Promise<LocalDb> {
  if (!(await Deno.stat(path).then((st) => st.isFile, () => false))) {
    throw new TrunkError(
      `${path} is not a trunks database; pass the .trunks/<repo>.trunk file trunks init made`,
      "bad-input",
    );
  }
  return new LocalDb(path);
}

/**
 * `trunks://NAME/REPO` through the resolver the helper uses (`db`: the repository's own
 * storages, which come first), with the helper's one-line error for an unknown NAME.
 */
export function namedTarget(url: string, db: LocalDb | null): NamedTarget | null {
  if (!isNamedUrl(url)) return null;
  try {
    return resolveNamedUrl(url, db);
  } catch (e) {
    throw new TrunkError((e as Error).message, "bad-input");
  }
}

/** A trunks database and the trunk URL and settings of one of its storages. */
export async function openDatabase(
  path: string,
  name?: string,
): Promise<{ db: LocalDb; url: string; settings: Settings }> {
  const db = await databaseAt(path);
  const row = name ? getStorage(db, name) : primaryStorage(db);
  if (!row) {
    const names = listStorages(db).map((r) => r.name);
    db.close();
    throw new TrunkError(
      name
        ? `no storage named ${JSON.stringify(name)} in ${path}${
          names.length ? ` (it has: ${names.join(", ")})` : ""
        }`
        : `${path} has no primary storage yet; run trunks storage add`,
      "bad-input",
    );
  }
  const keys = backendSpec(row.backend)?.settings.map((s) => s.key);
  return { db, url: row.url, settings: resolveSettings(row, keys) };
}
