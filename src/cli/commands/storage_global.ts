/**
 * `trunks storage add|list|remove --global`: named storages in the per-user config
 * (src/local/user_config.ts), usable from any repository as `trunks://NAME/REPO`. They
 * need no repository, and hold settings only: a secret given to them is refused.
 */
import { backendSpec, redactUrl, secretsInUrl, type Settings } from "../../storage/registry.ts";
import { isTrunkUrl } from "../../storage/trunk_url.ts";
import { envOverrides, validStorageName } from "../../local/storages.ts";
import {
  findGlobal,
  type GlobalStorage,
  readUserConfig,
  secretIn,
  updateUserConfig,
  type UserConfig,
} from "../../local/user_config.ts";
import { credentialEnvNames } from "../../trunk/storage_map.ts";
import { describeError } from "../../trunk/describe_error.ts";
import { printJson } from "../args.ts";
import { UsageError } from "../errors.ts";
import { pingUrl, requirePingOk } from "../storage_state.ts";
import { buildTarget } from "../storage_target.ts";

export interface GlobalAdd {
  name: string;
  backend: string | undefined;
  /** Backend flags as given (the URL as `url`). */
  flags: Settings;
  singleWriter: boolean;
  json: boolean;
}

/** The one line for a secret offered to the per-user config. */
function noSecrets(name: string, what: string, keys: string[]): UsageError {
  const vars = keys.length ? keys.join(", ") : `TRUNKS_STORAGE_${name.toUpperCase()}_*`;
  return new UsageError(
    `the per-user config holds settings only, never secrets, and ${what}: set ${vars} (or the provider's variables) where trunks runs instead`,
  );
}

/** Refuse any secret in what `storage add --global` was given, before anything is built. */
function refuseSecrets(req: GlobalAdd): void {
  const keys = (b: string) => credentialEnvNames({ name: req.name, backend: b });
  const url = req.flags.url;
  let backend = req.backend ?? "";
  if (url) {
    let u: URL | null = null;
    try {
      u = new URL(url);
    } catch {
      // buildTarget reports a malformed URL
    }
    if (u) {
      backend ||= u.protocol.replace(/:$/, "");
      const found = secretsInUrl(u);
      if (found.length) {
        throw noSecrets(req.name, `${redactUrl(url)} carries ${found.join(", ")}`, keys(backend));
      }
    }
  }
  const secret = backendSpec(backend)?.settings.find((s) => s.secret && req.flags[s.key]);
  if (secret) throw noSecrets(req.name, `--${secret.key} is one`, keys(backend));
}

/** `storage add --global NAME URL`: check it with real I/O, then save it, settings only. */
export async function addGlobal(req: GlobalAdd): Promise<number> {
  if (!validStorageName(req.name)) {
    throw new UsageError(
      `storage name ${
        JSON.stringify(req.name)
      } is not usable: start with a letter, then letters, digits, - or _ (at most 40)`,
    );
  }
  refuseSecrets(req);
  const cfg = readUserConfig();
  const taken = findGlobal(cfg, req.name);
  if (taken) {
    throw new Error(
      `the per-user config already has a storage named ${taken.name} (${taken.url}); remove it first (trunks storage remove --global ${taken.name}) or pick another name`,
    );
  }
  // The repository name only completes a trunk URL, which a per-user storage never is.
  const target = buildTarget(req.name, req.backend, req.flags, "probe");
  if (isTrunkUrl(target.rootUrl)) {
    throw new UsageError(
      `${
        redactUrl(target.rootUrl)
      } names one trunk; a per-user storage is a storage root (the URL without /trunks/<name>.trunk), and trunks://${req.name}/REPO picks the trunk`,
    );
  }
  if (Object.keys(target.secrets).length) {
    throw noSecrets(
      req.name,
      `--${Object.keys(target.secrets)[0]} is one`,
      credentialEnvNames({ name: req.name, backend: target.backend }),
    );
  }
  // A password inside a URL-valued setting (`--endpoint http://u:pw@h`) is a secret too.
  const inUrl = secretIn({ url: target.rootUrl, settings: target.settings });
  if (inUrl) {
    throw noSecrets(
      req.name,
      `${inUrl} is one`,
      credentialEnvNames({ name: req.name, backend: target.backend }),
    );
  }
  if (req.singleWriter) target.settings["single-writer"] = "true";
  const spec = backendSpec(target.backend);
  if (spec?.ensureRoot) {
    await spec.ensureRoot(target.rootUrl).catch((e) => {
      throw new Error(`cannot create the storage root ${target.rootUrl}: ${describeError(e)}`);
    });
  }
  const probe = await pingUrl(target.rootUrl, { ...target.resolved, ...target.settings }, {
    name: req.name,
    role: null,
    singleWriter: req.singleWriter,
  });
  requirePingOk(req.name, probe);
  const entry: GlobalStorage = {
    name: req.name,
    backend: target.backend,
    url: target.rootUrl,
    settings: target.settings,
    added: new Date().toISOString(),
  };
  updateUserConfig((now) => {
    // Another `add --global` may have taken the name while this one checked the storage.
    const other = findGlobal(now, req.name);
    if (other) {
      throw new Error(
        `the per-user config already has a storage named ${other.name} (${other.url}); remove it first (trunks storage remove --global ${other.name}) or pick another name`,
      );
    }
    return { ...now, storages: [...now.storages, entry] };
  }, cfg.path);
  if (req.json) {
    printJson({ ...globalView(entry, cfg), probe: { ok: true, latencyMs: probe.latencyMs } });
    return 0;
  }
  console.log(`added per-user storage ${entry.name} (${entry.backend}): ${entry.url}`);
  console.log(`  saved in ${cfg.path} (settings only; no secret is ever written there)`);
  console.log(
    `  checked: write, read, list, exclusive create ${
      probe.exclusiveCreate ? "ok" : "NOT honoured (single writer only)"
    } (${probe.latencyMs} ms)`,
  );
  console.log(
    `  use it from any repository: git clone trunks://${entry.name}/REPO, or git remote add NAME trunks://${entry.name}/REPO`,
  );
  const creds = credentialEnvNames(entry);
  if (creds.length) {
    console.log(`  credentials: ${creds.join(", ")}, then the provider's variables`);
  }
  return 0;
}

export interface GlobalView {
  name: string;
  backend: string;
  url: string;
  settings: Settings;
  /** `TRUNKS_STORAGE_<NAME>_*` variables set now (names only). */
  env: string[];
  added: string;
  /** Where it is configured. */
  config: string;
}

export function globalView(s: GlobalStorage, cfg: UserConfig): GlobalView {
  const keys = backendSpec(s.backend)?.settings.map((x) => x.key) ?? [];
  return {
    name: s.name,
    backend: s.backend,
    url: redactUrl(s.url),
    settings: { ...s.settings },
    env: envOverrides(s.name, keys),
    added: s.added,
    config: cfg.path,
  };
}

/**
 * The per-user storages as `storage list` prints them. `local` are this repository's
 * storage names: a per-user storage of the same name is shadowed (the repository's
 * applies to `trunks://NAME/...` here).
 */
export function printGlobal(cfg: UserConfig, local: string[] | null): void {
  if (!cfg.storages.length) {
    console.log(
      `no per-user storages (${cfg.path}); add one: trunks storage add --global NAME URL`,
    );
    return;
  }
  console.log(`per-user storages (${cfg.path}), for trunks://NAME/REPO from any repository:`);
  const w = Math.max(4, ...cfg.storages.map((s) => s.name.length));
  const b = Math.max(7, ...cfg.storages.map((s) => s.backend.length));
  console.log(`${"NAME".padEnd(w)}  ${"BACKEND".padEnd(b)}  URL`);
  const lower = new Set((local ?? []).map((n) => n.toLowerCase()));
  for (const s of cfg.storages) {
    const shadowed = lower.has(s.name.toLowerCase())
      ? "  (not used here: this repository's own storage of that name applies)"
      : "";
    const extra = Object.entries(s.settings).map(([k, v]) => `${k}=${v}`).join(" ");
    console.log(
      `${s.name.padEnd(w)}  ${s.backend.padEnd(b)}  ${redactUrl(s.url)}${
        extra ? `  ${extra}` : ""
      }${shadowed}`,
    );
  }
}

/** `storage remove --global NAME`: forget it in the per-user config; no data is touched. */
export function removeGlobal(name: string, json: boolean): number {
  const cfg = readUserConfig();
  const s = findGlobal(cfg, name);
  if (!s) {
    const names = cfg.storages.map((x) => x.name);
    throw new Error(
      `no per-user storage named ${JSON.stringify(name)} in ${cfg.path}; ${
        names.length ? `it has: ${names.join(", ")}` : "it has none"
      }`,
    );
  }
  updateUserConfig((now) => ({
    ...now,
    storages: now.storages.filter((x) => x.name !== s.name),
  }), cfg.path);
  if (json) printJson({ removed: s.name, url: s.url, config: cfg.path });
  else {
    console.log(
      `removed per-user storage ${s.name} (${s.url}) from ${cfg.path}; its data is untouched`,
    );
  }
  return 0;
}
