/**
 * From `storage add` flags to a saved storage: the backend's own `rootUrl` builds the
 * root URL (so a backend added later plugs in by registering a BackendSpec), the repo
 * name turns it into the trunk URL, and the flags split into non-secret settings and
 * secrets. No secret ever ends up in the URL (which goes to git config and the store).
 */
import { envKey } from "../local/storages.ts";
import {
  type BackendSpec,
  backendSpec,
  canonicalStoreUrl,
  knownSchemes,
  parseStoreUrl,
  redactUrl,
  secretsInUrl,
  type Settings,
} from "../storage/registry.ts";
import { isTrunkUrl, trunkUrl } from "../storage/trunk_url.ts";
import { type Parsed, str } from "./args.ts";
import { UsageError } from "./errors.ts";

/** Backend flags the documentation names, whether or not a backend is registered yet. */
const DOCUMENTED_FLAGS = [
  "path",
  "bucket",
  "prefix",
  "endpoint",
  "region",
  "account-id",
  "access-key",
  "secret-key",
  "host",
  "user",
  "password",
  "key-file",
  "url",
];

/**
 * Settings every machine needs to reach the store, the same everywhere (unlike a key
 * file's path): they travel in the URL's query, so the URL that `storage list`, `status`
 * and `git remote -v` show works on another machine as it is.
 */
const SHARED_IN_URL = ["endpoint", "region", "account-id", "path-style", "schema", "sslmode"];

/** Flags of `storage add` itself (not backend settings). */
export const GENERAL_FLAGS = ["name", "backend", "mirror", "single-writer", "json", "url"];

/** Every backend flag: the documented ones and whatever registered backends declare. */
export function backendFlags(): string[] {
  const out = new Set(DOCUMENTED_FLAGS);
  for (const scheme of knownSchemes()) {
    for (const s of backendSpec(scheme)!.settings) out.add(s.key);
  }
  for (const g of GENERAL_FLAGS) if (g !== "url") out.delete(g);
  return [...out].sort();
}

/** Backend flags as given; a positional URL is `--url` (giving both is a mistake). */
export function flagsWithUrl(p: Parsed): Settings {
  const flags: Settings = {};
  for (const f of backendFlags()) {
    const v = str(p, f);
    if (v !== undefined) flags[f] = v;
  }
  const positional = p.positionals[0];
  if (positional !== undefined) {
    if (flags.url !== undefined) {
      throw new UsageError("give the storage URL once: as an argument or with --url, not both");
    }
    flags.url = positional;
  }
  return flags;
}

export interface Target {
  name: string;
  /** The backend's canonical name (its first scheme). */
  backend: string;
  rootUrl: string;
  /** `<root>/trunks/<repo>.trunk`: saved, and the `trunks` remote's URL. */
  url: string;
  /** Non-secret settings given inline (saved). */
  settings: Settings;
  /** Secrets given inline: saved in the local database only. */
  secrets: Settings;
  /** What opening the store uses: `TRUNKS_STORAGE_<NAME>_<KEY>` over inline values. */
  resolved: Settings;
}

function unknownBackend(b: string): UsageError {
  const names = [...new Set(knownSchemes().map((s) => backendSpec(s)!.schemes[0]))].sort();
  return new UsageError(`unknown backend ${JSON.stringify(b)}; known: ${names.join(", ")}`);
}

/** The canonical name and spec for `--backend` (or the scheme of `--url`). */
export function chooseBackend(
  backend: string | undefined,
  url: string | undefined,
): { backend: string; spec: BackendSpec } {
  let b = backend;
  if (!b && url) {
    const m = /^([a-z][a-z0-9+.-]*):/i.exec(url);
    if (!m) throw new UsageError(`--url ${JSON.stringify(redactUrl(url))} has no scheme`);
    b = m[1].toLowerCase();
  }
  if (!b) throw new UsageError("storage add needs --backend (e.g. --backend local --path DIR)");
  const spec = backendSpec(b.toLowerCase());
  if (!spec) throw unknownBackend(b);
  return { backend: spec.schemes[0], spec };
}

/**
 * Build the target. `flags` holds only backend flags given on the command line; env
 * `TRUNKS_STORAGE_<NAME>_<KEY>` fills flags that were not given (and is not saved).
 */
export function buildTarget(
  name: string | null,
  backendFlag: string | undefined,
  flags: Settings,
  repoName: string,
): Target {
  // An alias (`minio://`, `nfs://`) becomes its backend's own URL before anything reads it.
  if (flags.url) flags = { ...flags, url: canonicalStoreUrl(flags.url) };
  const { backend, spec } = chooseBackend(backendFlag, flags.url);
  const accepted = new Set(spec.settings.map((s) => s.key));
  const secretKeys = new Set(spec.settings.filter((s) => s.secret).map((s) => s.key));
  const urlIsSetting = accepted.has("url");
  for (const k of Object.keys(flags)) {
    if (flags[k] === undefined || k === "url" || accepted.has(k)) continue;
    const takes = [...accepted].map((a) => `--${a}`).join(" ");
    throw new UsageError(
      `--${k} is not an option of --backend ${backend} (it takes ${takes || "no options"}${
        urlIsSetting ? "" : " or --url"
      })`,
    );
  }
  flags = secretFromStdin(flags, secretKeys);
  const fromEnv: Settings = {};
  for (const k of accepted) {
    const v = name === null ? undefined : Deno.env.get(envKey(name, k));
    if (v !== undefined && flags[k] === undefined) fromEnv[k] = v;
  }
  // rootUrl may move a secret out of what it was given (a password in a --url) into
  // the settings: read the settings only after it ran.
  const given: Settings = { ...fromEnv, ...flags };
  let root: string;
  if (flags.url && !urlIsSetting) {
    const u = parseStoreUrl(flags.url);
    if (!spec.schemes.includes(u.protocol.replace(/:$/, ""))) {
      throw new UsageError(
        `--url ${redactUrl(flags.url)} is not a ${backend} URL (${
          spec.schemes.map((s) => `${s}://`).join(", ")
        })`,
      );
    }
    root = withSharedQuery(flags.url, given, accepted);
  } else {
    try {
      root = spec.rootUrl(given);
    } catch (e) {
      throw new UsageError(e instanceof Error ? e.message : String(e));
    }
  }
  assertNoSecretInUrl(root, given, secretKeys);
  parseStoreUrl(root);
  const url = isTrunkUrl(root) ? root : trunkUrl(root, repoName);

  const settings: Settings = {};
  const secrets: Settings = {};
  for (const k of accepted) {
    const v = given[k];
    if (v === undefined || k === "url") continue;
    if (fromEnv[k] !== undefined && v === fromEnv[k]) continue;
    if (secretKeys.has(k)) secrets[k] = v;
    // What the URL already says (bucket, prefix, endpoint, a path made absolute) is
    // not saved twice.
    else if (k !== "path" && !inUrl(root, v)) settings[k] = v;
  }
  const resolved: Settings = { ...settings, ...secrets };
  for (const k of accepted) {
    const v = name === null ? undefined : Deno.env.get(envKey(name, k));
    if (v !== undefined) resolved[k] = v;
  }
  return { name: name ?? "", backend, rootUrl: root, url, settings, secrets, resolved };
}

/**
 * `--url s3://b --endpoint E` -> `s3://b?endpoint=E`: a shared setting given as a flag
 * goes into the URL. A flag that contradicts the URL's own query is a mistake, not a
 * preference.
 */
function withSharedQuery(url: string, given: Settings, accepted: Set<string>): string {
  const u = parseStoreUrl(url);
  const add: string[] = [];
  for (const k of SHARED_IN_URL) {
    const v = given[k];
    if (!v || !accepted.has(k)) continue;
    const inQuery = u.searchParams.get(k);
    if (inQuery === null) add.push(`${k}=${queryValue(v)}`);
    else if (inQuery !== v) {
      throw new UsageError(
        `--${k} ${JSON.stringify(v)} contradicts ${k}=${inQuery} in the URL; give it once`,
      );
    }
  }
  if (!add.length) return url;
  // `:` and `/` stay readable in the query (`?endpoint=http://host:9000`); both are legal there.
  const [base, hash] = url.split("#", 2);
  const joined = `${base}${base.includes("?") ? "&" : "?"}${add.join("&")}`;
  return hash === undefined ? joined : `${joined}#${hash}`;
}

function queryValue(v: string): string {
  return encodeURIComponent(v).replace(/%3A/gi, ":").replace(/%2F/gi, "/");
}

/**
 * A secret flag given as `-` (`--secret-key -`) is read from standard input: a value on
 * the command line is in every `ps` listing while the command runs, and in the shell's
 * history. One flag at most (the input is read whole, one trailing newline dropped), and
 * never from a terminal, which would echo it.
 */
export function secretFromStdin(
  flags: Settings,
  secretKeys: Set<string>,
  stdin: Pick<typeof Deno.stdin, "readSync" | "isTerminal"> = Deno.stdin,
): Settings {
  const dashed = Object.keys(flags).filter((k) => secretKeys.has(k) && flags[k] === "-");
  if (dashed.length === 0) return flags;
  const flag = `--${dashed[0]} -`;
  if (dashed.length > 1) {
    throw new UsageError(
      `only one secret can be read from standard input (${
        dashed.map((k) => `--${k} -`).join(", ")
      }); give the others in TRUNKS_STORAGE_<NAME>_<KEY> variables`,
    );
  }
  if (stdin.isTerminal()) {
    throw new UsageError(
      `${flag} reads the secret from standard input, which is a terminal; pipe it in (printf '%s' "$SECRET" | trunks ...)`,
    );
  }
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(4096);
  let total = 0;
  for (;;) {
    const n = stdin.readSync(buf);
    if (n === null || n === 0) break;
    total += n;
    if (total > 64 * 1024) throw new UsageError(`${flag}: standard input is over 64 KiB`);
    chunks.push(buf.slice(0, n));
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  const value = new TextDecoder().decode(bytes).replace(/\r?\n$/, "");
  if (!value) throw new UsageError(`${flag}: standard input was empty`);
  return { ...flags, [dashed[0]]: value };
}

/** A URL goes to git config and into the trunk's storage map: no password, no secret. */
function assertNoSecretInUrl(url: string, given: Settings, secretKeys: Set<string>): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return; // parseStoreUrl reports it
  }
  if (u.password) {
    throw new UsageError(
      "the storage URL must not carry a password; pass it with --password (or TRUNKS_STORAGE_<NAME>_PASSWORD)",
    );
  }
  if (secretsInUrl(u).length) {
    throw new UsageError(
      `the storage URL must not carry credentials (${
        redactUrl(url)
      }); pass them as flags or TRUNKS_STORAGE_<NAME>_* variables`,
    );
  }
  const plain = Object.entries(given).filter(([k]) => !secretKeys.has(k)).map(([, v]) => v ?? "");
  for (const k of secretKeys) {
    const v = given[k];
    // A value that is also a non-secret one (a bucket named like its access key) is not news.
    if (v && v.length >= 4 && inUrl(url, v) && !plain.some((p) => p.includes(v))) {
      throw new UsageError(
        `the storage URL would contain the value of --${k}; pass it only as --${k}`,
      );
    }
  }
}

function inUrl(url: string, v: string): boolean {
  if (!v) return false;
  return url.includes(v) || url.includes(encodeURIComponent(v)) || url.includes(encodeURI(v)) ||
    url.includes(encodeURIComponent(v).replace(/%3A/gi, ":").replace(/%2F/gi, "/"));
}
