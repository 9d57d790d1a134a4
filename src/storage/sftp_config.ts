/**
 * `sftp://user@host:port/path` plus settings -> where to connect, how to log in and
 * which host keys to trust, as OpenSSH users expect: key file, then ssh-agent
 * (SSH_AUTH_SOCK), then the default identities (~/.ssh/id_ed25519, id_ecdsa, id_rsa),
 * then a password. `/~/dir` is relative to the login's home directory.
 */
import ssh2 from "ssh2";
import { Buffer } from "node:buffer";
import type { Settings } from "./backend.ts";
import { StoreError } from "./store.ts";
import { escapeUnsafe } from "./plain_text.ts";

export type Env = (name: string) => string | undefined;

export type AuthMethod =
  | { type: "agent"; username: string; agent: string }
  | { type: "publickey"; username: string; key: Uint8Array; passphrase?: string }
  | { type: "password"; username: string; password: string };

export interface SftpConfig {
  host: string;
  port: number;
  user: string;
  /** Absolute path of the store's base, or relative to the home directory when `home`. */
  path: string;
  home: boolean;
  auth: AuthMethod[];
  /** What `auth` tries, for the error when all fail (no secrets). */
  authTried: string[];
  knownHostsFiles: string[];
  acceptedFingerprints: string[];
  /** Secrets to scrub from any message. */
  secrets: string[];
  location: string;
}

function fail(msg: string): never {
  throw new StoreError(`sftp: ${msg}`, "invalid-key");
}

function readKey(path: string): Uint8Array | undefined {
  try {
    return Deno.readFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** null when the key parses with this passphrase; else why not. */
function keyProblem(data: Uint8Array, passphrase?: string): string | null {
  // deno-lint-ignore no-explicit-any
  const parsed: any = ssh2.utils.parseKey(Buffer.from(data) as never, passphrase as never);
  if (parsed instanceof Error) return parsed.message;
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key?.isPrivateKey?.()) return "not a private key";
  return null;
}

/**
 * Settings may also come from the environment, for sandboxes and CI that use a bare
 * `trunks::sftp://...` remote without `trunks storage add` (names as rclone's):
 * TRUNKS_SFTP_KEY_FILE, TRUNKS_SFTP_KEY_PASSPHRASE, TRUNKS_SFTP_KNOWN_HOSTS,
 * TRUNKS_SFTP_HOST_KEY; the password from SSHPASS (as `sshpass -e` reads it).
 */
const ENV_FALLBACK: Record<string, string> = {
  "key-file": "TRUNKS_SFTP_KEY_FILE",
  "key-passphrase": "TRUNKS_SFTP_KEY_PASSPHRASE",
  "known-hosts": "TRUNKS_SFTP_KNOWN_HOSTS",
  "host-key": "TRUNKS_SFTP_HOST_KEY",
  password: "SSHPASS",
};

export function resolveSftpConfig(url: URL, given: Settings, env: Env): SftpConfig {
  const settings: Settings = { ...given };
  for (const [k, v] of Object.entries(ENV_FALLBACK)) settings[k] ||= env(v);
  if (url.search) fail(`URL parameters are not used by sftp:// URLs (${url.search})`);
  const host = decodeURIComponent(url.hostname).replace(/^\[(.*)\]$/, "$1");
  if (!host) fail(`the URL names no host: sftp://user@host[:port]/path`);
  const port = url.port ? Number(url.port) : 22;
  const user = decodeURIComponent(url.username) || env("USER") || env("USERNAME") ||
    fail(`the URL names no user and USER is not set: sftp://user@${host}/path`);
  let path = decodeURIComponent(url.pathname).replace(/\/+$/, "");
  let home = false;
  if (path === "/~" || path.startsWith("/~/")) {
    home = true;
    path = path.slice(3);
  } else if (!path) {
    fail(`the URL names no directory: sftp://${user}@${host}/path (or /~/path in the home)`);
  }

  const homeDir = env("HOME") ?? env("USERPROFILE") ?? "";
  const auth: AuthMethod[] = [];
  const tried: string[] = [];
  const secrets: string[] = [];
  const keyFile = settings["key-file"];
  const passphrase = settings["key-passphrase"] || undefined;
  if (passphrase) secrets.push(passphrase);
  if (keyFile) {
    const file = keyFile.replace(/^~(?=\/|$)/, homeDir);
    const data = readKey(file) ?? fail(`key file ${file} does not exist (--key-file)`);
    const problem = keyProblem(data, passphrase);
    if (problem) {
      if (/encrypted|passphrase/i.test(problem)) {
        fail(
          passphrase
            ? `cannot decrypt key file ${file}: wrong --key-passphrase`
            : `key file ${file} is encrypted: pass --key-passphrase ` +
              `(or TRUNKS_STORAGE_<NAME>_KEY_PASSPHRASE), or load it into ssh-agent`,
        );
      }
      fail(`key file ${file} is not a usable private key (${problem})`);
    }
    auth.push({ type: "publickey", username: user, key: data, passphrase });
    tried.push(`key ${file}`);
  }
  const agent = env("SSH_AUTH_SOCK");
  if (agent) {
    auth.push({ type: "agent", username: user, agent });
    tried.push("ssh-agent");
  }
  if (!keyFile && homeDir) {
    for (const name of ["id_ed25519", "id_ecdsa", "id_rsa"]) {
      const file = `${homeDir}/.ssh/${name}`;
      const data = readKey(file);
      // An encrypted default identity without a passphrase is skipped, as ssh does in batch mode.
      if (!data || keyProblem(data) !== null) continue;
      auth.push({ type: "publickey", username: user, key: data });
      tried.push(`key ${file}`);
    }
  }
  const password = given.password || (url.password ? decodeURIComponent(url.password) : "") ||
    settings.password;
  if (password) {
    auth.push({ type: "password", username: user, password });
    tried.push("password");
    secrets.push(password);
  }

  const knownHostsFiles = settings["known-hosts"]
    ? [settings["known-hosts"].replace(/^~(?=\/|$)/, homeDir)]
    : [
      ...(homeDir ? [`${homeDir}/.ssh/known_hosts`, `${homeDir}/.ssh/known_hosts2`] : []),
      "/etc/ssh/ssh_known_hosts",
    ];
  const acceptedFingerprints = (settings["host-key"] ?? "").split(",").map((s) => s.trim())
    .filter(Boolean).map((s) => s.startsWith("SHA256:") ? s.replace(/=+$/, "") : `SHA256:${s}`);

  // Decoded from the URL: shown escaped (Store.location).
  const hostShown = escapeUnsafe(host.includes(":") ? `[${host}]` : host);
  const location = `sftp://${encodeURIComponent(user)}@${hostShown}${
    port === 22 ? "" : `:${port}`
  }${home ? "/~" : ""}${home && path ? "/" : ""}${encodeURI(path)}`;
  return {
    host,
    port,
    user,
    path,
    home,
    auth,
    authTried: tried,
    knownHostsFiles,
    acceptedFingerprints,
    secrets,
    location,
  };
}
