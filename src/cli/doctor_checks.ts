/**
 * The checks behind `trunks doctor`: each answers one question a broken setup raises
 * (is git there, can git find the helper, does each storage answer and honour exclusive
 * create, does its clock agree with ours, where do its credentials come from). A check
 * never prints a secret: credentials are named by where they were found, never shown.
 */
import { readUserConfig } from "../local/user_config.ts";
import { existsSync } from "node:fs";
import { withDeadline } from "../storage/deadline.ts";
import { envKey, type StorageRow } from "../local/storages.ts";
import { backendSpec, openStore, redactUrl } from "../storage/registry.ts";
import { PROVIDERS } from "../storage/s3_config.ts";
import type { Store } from "../storage/store.ts";
import { describeError } from "../trunk/describe_error.ts";
import { openSettings, pingStorage } from "./storage_state.ts";

export type Verdict = "ok" | "warn" | "fail";

export interface Check {
  /** What was checked: `git`, `helper`, `storage primary`, ... */
  subject: string;
  verdict: Verdict;
  /** One line: what was found, and what to do when it is not ok. */
  detail: string;
}

/** git on PATH and its version. */
export async function checkGit(): Promise<Check> {
  try {
    const out = await new Deno.Command("git", { args: ["--version"], stdout: "piped" }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    const version = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
    if (!out.success || !version) {
      return { subject: "git", verdict: "fail", detail: `git --version said ${text}` };
    }
    const [major, minor] = [Number(version[1]), Number(version[2])];
    // sha256 repositories and the remote-helper object-format option came in git 2.29.
    const old = major < 2 || (major === 2 && minor < 29);
    return {
      subject: "git",
      verdict: old ? "warn" : "ok",
      detail: `${version[0]}${old ? "; git 2.29 or newer is needed for sha256 repositories" : ""}`,
    };
  } catch {
    return {
      subject: "git",
      verdict: "fail",
      detail: "git is not on PATH; install git (trunks works through it)",
    };
  }
}

function onPath(name: string): string | null {
  const sep = Deno.build.os === "windows" ? ";" : ":";
  const exts = Deno.build.os === "windows" ? ["", ".cmd", ".exe", ".bat"] : [""];
  for (const dir of (Deno.env.get("PATH") ?? "").split(sep)) {
    if (!dir) continue;
    for (const ext of exts) {
      const p = `${dir}/${name}${ext}`;
      try {
        const st = Deno.statSync(p);
        if (st.isFile && (Deno.build.os === "windows" || ((st.mode ?? 0) & 0o111))) return p;
      } catch {
        // not here
      }
    }
  }
  return null;
}

/** git runs `git-remote-trunks` for `trunks::` URLs: it must be on PATH. */
export function checkHelper(): Check {
  const found = onPath("git-remote-trunks");
  return found ? { subject: "helper", verdict: "ok", detail: `git-remote-trunks at ${found}` } : {
    subject: "helper",
    verdict: "fail",
    detail:
      "git-remote-trunks is not on PATH, so git push and git fetch cannot reach a trunk; run trunks install-helper DIR with DIR on PATH (or use the trunks shell)",
  };
}

/** Reachable, every operation works, exclusive create honoured (the ping probe). */
export async function checkReachable(row: StorageRow): Promise<Check[]> {
  const subject = `storage ${row.name}`;
  const r = await pingStorage(row);
  if (!r.reachable || r.reason === "access-denied") {
    return [{ subject, verdict: "fail", detail: `${redactUrl(row.url)}: ${r.error}` }];
  }
  const out: Check[] = [{
    subject,
    verdict: r.ok || r.reason === "no-exclusive-create" ? "ok" : "fail",
    detail: `${redactUrl(row.url)}: write, read, list and delete ${
      r.ok || r.reason === "no-exclusive-create" ? `work (${r.latencyMs} ms)` : `failed: ${r.error}`
    }`,
  }];
  out.push(
    r.exclusiveCreate ? { subject, verdict: "ok", detail: "exclusive create honoured" } : {
      subject,
      verdict: r.singleWriter ? "warn" : "fail",
      detail: r.singleWriter
        ? "exclusive create NOT honoured; accepted with --single-writer (only one machine may push)"
        : "exclusive create NOT honoured: two writers could both win a ref update; use another store, or --single-writer if one machine pushes",
    },
  );
  return out;
}

/** Beyond this the store's time and ours disagree enough to matter (S3 refuses at 15 min). */
const SKEW_WARN_MS = 30_000;
const SKEW_FAIL_MS = 5 * 60_000;

/**
 * The store's clock against ours, in ms (positive: the store is ahead): write a key,
 * list it, compare its modified time with our write. Listings often round to the
 * second, so a second of slack either way counts as agreement (0).
 */
export async function measureSkew(store: Store): Promise<number | null> {
  const key = `probe/${Date.now().toString(36)}-${crypto.randomUUID()}.clock`;
  try {
    const before = Date.now();
    await store.put(key, new TextEncoder().encode("trunks doctor clock probe"));
    const after = Date.now();
    const listed = (await store.list(key)).find((e) => e.key === key);
    if (!listed) return null;
    const raw = listed.modified.getTime() - (before + after) / 2;
    const slack = (after - before) / 2 + 1000;
    return Math.abs(raw) <= slack ? 0 : raw - Math.sign(raw) * slack;
  } finally {
    await store.delete(key).catch(() => {});
  }
}

/** What a measured skew means: grace periods of `check --clean` and request signing assume agreement. */
export function judgeSkew(subject: string, skew: number | null): Check {
  if (skew === null) {
    return { subject, verdict: "warn", detail: "clock: the probe key was not listed" };
  }
  const secs = Math.round(Math.abs(skew) / 1000);
  const which = skew > 0 ? "ahead of" : "behind";
  if (Math.abs(skew) >= SKEW_FAIL_MS) {
    return {
      subject,
      verdict: "fail",
      detail: `clock: the store is ${secs} s ${which} this machine; fix the system clock (NTP)`,
    };
  }
  if (Math.abs(skew) >= SKEW_WARN_MS) {
    return {
      subject,
      verdict: "warn",
      detail: `clock: the store is ${secs} s ${which} this machine`,
    };
  }
  return { subject, verdict: "ok", detail: "clock: within a second or two of the store's" };
}

export async function checkClock(row: StorageRow): Promise<Check> {
  const subject = `storage ${row.name}`;
  let store: Store | undefined;
  try {
    store = withDeadline(await openStore(row.url, openSettings(row)));
    return judgeSkew(subject, await measureSkew(store));
  } catch (e) {
    return { subject, verdict: "fail", detail: `clock: could not measure: ${describeError(e)}` };
  } finally {
    await store?.close().catch(() => {});
  }
}

/** The provider's own credential variables and files, by backend, in the order used. */
function providerSources(backend: string): { names: string[]; files: string[] } {
  const home = Deno.env.get("HOME") ?? "";
  const s3 = PROVIDERS[backend];
  if (s3) {
    const names = s3.creds.flatMap(([a, s, t]) => [a, s, ...(t ? [t] : [])]);
    return s3.defaultChain
      ? { names: [...names, "AWS_PROFILE"], files: [`${home}/.aws/credentials`] }
      : { names, files: [] };
  }
  switch (backend) {
    case "azure":
      return {
        names: ["AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN"],
        files: [],
      };
    case "gcs":
      return {
        names: ["GOOGLE_APPLICATION_CREDENTIALS", "STORAGE_EMULATOR_HOST"],
        files: [`${home}/.config/gcloud/application_default_credentials.json`],
      };
    case "postgres":
      return {
        names: ["PGPASSWORD", "PGPASSFILE"],
        files: [`${home}/.pgpass`],
      };
    case "sftp":
      return {
        names: ["TRUNKS_SFTP_KEY_FILE", "SSH_AUTH_SOCK", "SSHPASS"],
        files: ["id_ed25519", "id_ecdsa", "id_rsa"].map((f) => `${home}/.ssh/${f}`),
      };
    default:
      return { names: [], files: [] };
  }
}

/**
 * Where this storage's credentials come from, in lookup order: its own
 * `TRUNKS_STORAGE_<NAME>_*` variables, secrets saved here, then the provider's variables
 * and files. Names only, never a value.
 */
export function checkCredentials(row: StorageRow): Check {
  const subject = `storage ${row.name}`;
  const secretKeys = backendSpec(row.backend)?.settings.filter((s) => s.secret).map((s) => s.key) ??
    [];
  const provider = providerSources(row.backend);
  if (!secretKeys.length && !provider.names.length) {
    return { subject, verdict: "ok", detail: "credentials: none needed" };
  }
  const own = secretKeys.map((k) => envKey(row.name, k)).filter((n) => Deno.env.get(n));
  const saved = secretKeys.filter((k) => row.secrets[k] !== undefined).map((k) => `--${k}`);
  const vars = provider.names.filter((n) => Deno.env.get(n));
  const files = provider.files.filter((f) => existsSync(f));
  const found = [
    own.length ? `${own.join(", ")} (environment, used first)` : "",
    saved.length ? `${saved.join(", ")} (saved in .trunks/ by storage add)` : "",
    vars.length ? `${vars.join(", ")} (provider variables)` : "",
    files.length ? `${files.join(", ")} (provider files)` : "",
  ].filter(Boolean);
  if (!found.length) {
    return {
      subject,
      verdict: "warn",
      detail: `credentials: none found; set ${
        secretKeys.map((k) => envKey(row.name, k)).join(", ")
      }${provider.names.length ? `, or ${provider.names.join(", ")}` : ""}`,
    };
  }
  return { subject, verdict: "ok", detail: `credentials: ${found.join("; ")}` };
}

/**
 * The per-user storages (`storage add --global`): the config readable and secret-free,
 * and each storage checked as a saved one is, unless this repository has its own storage
 * of that name (which then applies to `trunks://NAME/...` here: said, not checked twice).
 */
export async function checkUserStorages(localNames: string[]): Promise<Check[]> {
  let cfg;
  try {
    cfg = readUserConfig();
  } catch (e) {
    return [{ subject: "per-user config", verdict: "fail", detail: describeError(e) }];
  }
  if (!cfg.storages.length) {
    return [{ subject: "per-user config", verdict: "ok", detail: `no storages in ${cfg.path}` }];
  }
  const out: Check[] = [{
    subject: "per-user config",
    verdict: "ok",
    detail: `${cfg.path}: ${cfg.storages.map((s) => s.name).join(", ")} (settings only)`,
  }];
  const local = new Set(localNames.map((n) => n.toLowerCase()));
  const per = await Promise.all(cfg.storages.map(async (g): Promise<Check[]> => {
    const subject = `per-user storage ${g.name}`;
    if (local.has(g.name.toLowerCase())) {
      return [{
        subject,
        verdict: "ok",
        detail:
          `not used in this repository: its own storage ${g.name} applies to trunks://${g.name}/...`,
      }];
    }
    const row: StorageRow = {
      name: g.name,
      role: "primary",
      url: g.url,
      backend: g.backend,
      settings: g.settings,
      secrets: {},
      added: g.added,
    };
    const reach = await checkReachable(row);
    return [...reach, checkCredentials(row)].map((c) => ({ ...c, subject }));
  }));
  return [...out, ...per.flat()];
}
