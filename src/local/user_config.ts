/**
 * The per-user config: named storages usable from any repository (`trunks storage add
 * --global NAME URL`, `trunks://NAME/repo`). It lives in `$XDG_CONFIG_HOME/trunks/
 * config.json` (`~/.config/trunks/config.json` without XDG), or `$TRUNKS_CONFIG_DIR/
 * config.json` when that is set (tests, several identities on one account).
 *
 * It holds settings only (root URL with its endpoint and region, path-style, ...), never a
 * secret: a config file is copied between machines, backed up and shown on screen, so
 * credentials keep coming from `TRUNKS_STORAGE_<NAME>_*` and the provider's variables.
 * A file that carries a secret anyway (edited by hand) is refused, not used.
 */
import { dirname, isAbsolute, join } from "node:path";
import { redactUrl, secretKeys, secretsInUrl, type Settings } from "../storage/registry.ts";

export interface GlobalStorage {
  name: string;
  /** The backend's canonical name (`s3`, `local`, ...). */
  backend: string;
  /** The storage root URL, settings every machine needs in its query (`?endpoint=`). */
  url: string;
  /** Other non-secret settings (`path-style`, `single-writer`, `key-file`, ...). */
  settings: Settings;
  added: string;
}

export interface UserConfig {
  path: string;
  storages: GlobalStorage[];
}

/** The directory of the per-user config (not created here). */
export function userConfigDir(env = (k: string) => Deno.env.get(k)): string {
  const own = env("TRUNKS_CONFIG_DIR");
  if (own) {
    // git runs the helper in other directories: a relative path would mean a different file.
    if (!isAbsolute(own)) {
      throw new Error(
        `TRUNKS_CONFIG_DIR=${own} is a relative path; give an absolute one (as XDG_CONFIG_HOME must be)`,
      );
    }
    return own;
  }
  const xdg = env("XDG_CONFIG_HOME");
  // XDG says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  if (xdg && xdg.startsWith("/")) return join(xdg, "trunks");
  if (Deno.build.os === "windows" && env("APPDATA")) return join(env("APPDATA")!, "trunks");
  const home = env("HOME") ?? env("USERPROFILE");
  if (!home) {
    throw new Error(
      "no home directory for the per-user config: set HOME, XDG_CONFIG_HOME or TRUNKS_CONFIG_DIR",
    );
  }
  return join(home, ".config", "trunks");
}

export function userConfigPath(): string {
  return join(userConfigDir(), "config.json");
}

/**
 * Refuse a config file or directory that another local user could write (as ssh does):
 * whoever can edit it can repoint a storage name at their own bucket.
 */
function refuseLooseModes(path: string): void {
  if (Deno.build.os === "windows") return;
  for (const [at, fix] of [[dirname(path), "chmod 700"], [path, "chmod 600"]] as const) {
    let mode: number | null = null;
    try {
      mode = Deno.statSync(at).mode; // follows a symlinked config to the file it names
    } catch {
      continue; // absent: nothing to trust yet
    }
    if (mode !== null && (mode & 0o022) !== 0) {
      throw new Error(
        `${at} is writable by group or others (mode ${
          (mode & 0o777).toString(8)
        }), so another user could repoint a storage; run: ${fix} ${at}`,
      );
    }
  }
}

/** The per-user config; an absent file is an empty config. */
export function readUserConfig(path = userConfigPath()): UserConfig {
  refuseLooseModes(path);
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { path, storages: [] };
    throw new Error(`cannot read the per-user config ${path}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error(`${path} is not valid JSON; fix it or remove it`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new Error(
      `${path}: expected a JSON object {"version": 1, "storages": {...}}; fix it or remove it`,
    );
  }
  const storages = (raw as { storages?: unknown }).storages ?? {};
  if (typeof storages !== "object" || Array.isArray(storages) || storages === null) {
    throw new Error(`${path}: "storages" must be an object of name -> storage`);
  }
  const out: GlobalStorage[] = [];
  for (const [name, v] of Object.entries(storages as Record<string, unknown>)) {
    const s = v as Partial<GlobalStorage>;
    if (typeof s?.url !== "string" || typeof s.backend !== "string") {
      throw new Error(`${path}: storage ${JSON.stringify(name)} needs "url" and "backend"`);
    }
    const settings: Settings = {};
    for (const [k, val] of Object.entries(s.settings ?? {})) {
      if (typeof val === "string") settings[k] = val;
    }
    const entry = { name, backend: s.backend, url: s.url, settings, added: String(s.added ?? "") };
    const secret = secretIn(entry);
    if (secret) {
      throw new Error(
        `${path}: storage ${name} holds ${secret}; the per-user config takes no secrets: remove it there and set it with TRUNKS_STORAGE_* or the provider's variables`,
      );
    }
    const twin = out.find((o) => o.name.toLowerCase() === name.toLowerCase());
    if (twin) {
      throw new Error(
        `${path}: storages ${twin.name} and ${name} differ only by case (names are case-insensitive, as TRUNKS_STORAGE_<NAME>_* is); remove one`,
      );
    }
    out.push(entry);
  }
  return { path, storages: out };
}

/** What secret an entry would carry ("a password in its URL", "--secret-key"), or null. */
export function secretIn(s: Pick<GlobalStorage, "url" | "settings">): string | null {
  let u: URL | null = null;
  try {
    u = new URL(s.url);
  } catch {
    // not a URL: the caller reports that
  }
  const inUrl = u ? secretsInUrl(u) : [];
  if (inUrl.length) return `${inUrl.join(", ")} in its URL (${redactUrl(s.url)})`;
  const keys = secretKeys();
  const flag = Object.keys(s.settings).find((k) => keys.has(k));
  return flag ? `--${flag}` : null;
}

/** One storage by name (case-insensitive, as `TRUNKS_STORAGE_<NAME>_*` is). */
export function findGlobal(cfg: UserConfig, name: string): GlobalStorage | undefined {
  return cfg.storages.find((s) => s.name.toLowerCase() === name.toLowerCase());
}

/**
 * Read, change and write the config holding an exclusive lock (`config.json.lock` beside
 * it), so two `storage add --global` at once both land instead of the last write winning.
 * `change` sees the config as it is under the lock and may throw to change nothing.
 */
export function updateUserConfig(
  change: (cfg: UserConfig) => UserConfig,
  path = userConfigPath(),
): UserConfig {
  Deno.mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const lock = Deno.openSync(`${path}.lock`, {
    read: true,
    write: true,
    create: true,
    mode: 0o600,
  });
  try {
    lock.lockSync(true);
    const next = change(readUserConfig(path));
    writeUserConfig(next);
    return next;
  } finally {
    lock.close();
  }
}

/**
 * Write the config whole: a temporary file readable by the owner only, then a rename,
 * so a crash or a second writer never leaves a half-written config.
 */
export function writeUserConfig(cfg: UserConfig): void {
  for (const s of cfg.storages) {
    const secret = secretIn(s);
    if (secret) throw new Error(`refusing to write ${secret} to ${cfg.path}`);
  }
  Deno.mkdirSync(dirname(cfg.path), { recursive: true, mode: 0o700 });
  const target = linkTarget(cfg.path);
  const body: Record<string, Omit<GlobalStorage, "name">> = {};
  for (const { name, ...rest } of cfg.storages) body[name] = rest;
  const text = `${JSON.stringify({ version: 1, storages: body }, null, 2)}\n`;
  const tmp = `${target}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    const f = Deno.openSync(tmp, { write: true, createNew: true, mode: 0o600 });
    try {
      const bytes = new TextEncoder().encode(text);
      for (let at = 0; at < bytes.length;) at += f.writeSync(bytes.subarray(at));
      f.syncSync();
    } finally {
      f.close();
    }
    // The mode given at creation is masked by the umask; 0600 is what it must be.
    if (Deno.build.os !== "windows") Deno.chmodSync(tmp, 0o600);
    Deno.renameSync(tmp, target);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch {
      // never created, or already renamed
    }
    throw new Error(`cannot write the per-user config ${cfg.path}: ${(e as Error).message}`);
  }
}

/**
 * Where the config's bytes live: a symlinked config.json (a dotfiles repository) is
 * written through to the file it names, so the link survives.
 */
function linkTarget(path: string): string {
  try {
    if (!Deno.lstatSync(path).isSymlink) return path;
  } catch {
    return path; // not there yet
  }
  try {
    return Deno.realPathSync(path);
  } catch {
    // A dangling link: write where it points, next to it if it is relative.
    const to = Deno.readLinkSync(path);
    return isAbsolute(to) ? to : join(dirname(path), to);
  }
}
