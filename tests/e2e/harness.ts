/**
 * End-to-end harness: real git, a real `trunks` (launchers around main.ts, or any
 * executable named by TRUNKS_BIN, e.g. the compiled binary), temp repositories, and a
 * storage root per backend under test.
 */
import { serverEnv } from "../servers.ts";

export const REPO_ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
/**
 * The shared corpus bundle, used in place: `TRUNKS_CORPUS`, else `shared/` beside the
 * checkout (the workspace layout), else the workspace's own path for a clone elsewhere.
 */
export const CORPUS = findCorpus();

function findCorpus(): string {
  const candidates = [
    Deno.env.get("TRUNKS_CORPUS"),
    `${REPO_ROOT}/../shared/corpus/express.bundle`,
    "/work/shared/corpus/express.bundle",
  ].filter((c): c is string => !!c);
  for (const c of candidates) {
    try {
      if (Deno.statSync(c).isFile) return c;
    } catch { /* next */ }
  }
  return candidates[0];
}

let binDir: Promise<string> | undefined;

/** A directory with `trunks` and `git-remote-trunks` on it. */
export function trunksBinDir(): Promise<string> {
  return binDir ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "trunks-bin-" });
    const bin = Deno.env.get("TRUNKS_BIN");
    const target = bin
      ? `exec ${JSON.stringify(await Deno.realPath(bin))}`
      : `exec ${JSON.stringify(Deno.execPath())} run -A --quiet ${
        JSON.stringify(`${REPO_ROOT}/main.ts`)
      }`;
    await Deno.writeTextFile(`${dir}/trunks`, `#!/bin/sh\n${target} "$@"\n`);
    await Deno.writeTextFile(
      `${dir}/git-remote-trunks`,
      `#!/bin/sh\n${target} remote-helper "$@"\n`,
    );
    await Deno.chmod(`${dir}/trunks`, 0o755);
    await Deno.chmod(`${dir}/git-remote-trunks`, 0o755);
    return dir;
  })();
}

function denoDir(): string {
  const explicit = Deno.env.get("DENO_DIR");
  if (explicit) return explicit;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  return xdg ? `${xdg}/deno` : `${Deno.env.get("HOME")}/.cache/deno`;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Env {
  home: string;
  env: Record<string, string>;
}

/** A clean HOME and git identity, with trunks on PATH. */
export async function makeEnv(extra: Record<string, string> = {}): Promise<Env> {
  const home = await Deno.makeTempDir({ prefix: "trunks-home-" });
  const env: Record<string, string> = {
    HOME: home,
    PATH: `${await trunksBinDir()}:${Deno.env.get("PATH")}`,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_AUTHOR_NAME: "Trunks Test",
    GIT_AUTHOR_EMAIL: "test@trunks.invalid",
    GIT_COMMITTER_NAME: "Trunks Test",
    GIT_COMMITTER_EMAIL: "test@trunks.invalid",
    GIT_TERMINAL_PROMPT: "0",
    // Launchers run main.ts with Deno: keep its module cache although HOME is fresh.
    DENO_DIR: denoDir(),
    // No detached maintenance racing a test's assertions; tests of it turn it on.
    TRUNKS_AUTO_MAINTENANCE: "0",
    ...extra,
  };
  await Deno.writeTextFile(
    `${home}/.gitconfig`,
    "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n",
  );
  return { home, env };
}

export async function run(
  e: Env,
  cmd: string,
  args: string[],
  opts: { cwd?: string; stdin?: string; env?: Record<string, string> } = {},
): Promise<Run> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: opts.cwd,
    env: { ...e.env, ...opts.env },
    clearEnv: true,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Run and require success; the error shows the command's stderr. */
export async function ok(
  e: Env,
  cmd: string,
  args: string[],
  opts: { cwd?: string; stdin?: string; env?: Record<string, string> } = {},
): Promise<string> {
  const r = await run(e, cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
  }
  return r.stdout;
}

export function git(e: Env, cwd: string, ...args: string[]): Promise<string> {
  return ok(e, "git", args, { cwd });
}

/** A storage root URL for one backend under test, plus a way to reach its files. */
export interface Backend {
  name: string;
  /** A fresh, empty storage root. */
  root(): Promise<string>;
  /** Env the helper needs for this backend (credentials, endpoint). */
  env: Record<string, string>;
  /** The same credentials as Store settings, for tests that open the store directly. */
  settings: Record<string, string>;
  /** A list costs one request per directory (SFTP), not one per page of keys. */
  walksDirectories?: boolean;
}

/**
 * Backends the end-to-end suite runs on: local always, and every real server whose
 * env is present (required in CI). Backend issues add their entry here.
 */
export function e2eBackends(): Backend[] {
  const out: Backend[] = [{
    name: "local",
    root: async () => `local://${await Deno.makeTempDir({ prefix: "trunks-store-" })}`,
    env: {},
    settings: {},
  }];
  for (const add of extraBackends) {
    const b = add();
    if (b) out.push(b);
  }
  return out;
}

const extraBackends: (() => Backend | null)[] = [
  () => {
    const m = serverEnv("minio", [
      "TRUNKS_TEST_MINIO_ENDPOINT",
      "TRUNKS_TEST_MINIO_ACCESS_KEY",
      "TRUNKS_TEST_MINIO_SECRET_KEY",
      "TRUNKS_TEST_MINIO_BUCKET",
    ]);
    if (!m) return null;
    return {
      name: "minio",
      root: () =>
        Promise.resolve(
          `s3://${m.TRUNKS_TEST_MINIO_BUCKET}/e2e-${crypto.randomUUID()}?endpoint=${m.TRUNKS_TEST_MINIO_ENDPOINT}`,
        ),
      env: {
        AWS_ACCESS_KEY_ID: m.TRUNKS_TEST_MINIO_ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY: m.TRUNKS_TEST_MINIO_SECRET_KEY,
        AWS_REGION: "us-east-1",
      },
      settings: {
        "access-key": m.TRUNKS_TEST_MINIO_ACCESS_KEY,
        "secret-key": m.TRUNKS_TEST_MINIO_SECRET_KEY,
      },
    };
  },
  () => {
    const a = serverEnv("azurite", [
      "TRUNKS_TEST_AZURITE_ENDPOINT",
      "TRUNKS_TEST_AZURITE_ACCOUNT",
      "TRUNKS_TEST_AZURITE_KEY",
      "TRUNKS_TEST_AZURITE_CONTAINER",
    ]);
    if (!a) return null;
    return {
      name: "azurite",
      root: () =>
        Promise.resolve(
          `azure://${a.TRUNKS_TEST_AZURITE_ACCOUNT}/${a.TRUNKS_TEST_AZURITE_CONTAINER}/e2e-${crypto.randomUUID()}?endpoint=${
            encodeURIComponent(a.TRUNKS_TEST_AZURITE_ENDPOINT)
          }`,
        ),
      env: {
        AZURE_STORAGE_ACCOUNT: a.TRUNKS_TEST_AZURITE_ACCOUNT,
        AZURE_STORAGE_KEY: a.TRUNKS_TEST_AZURITE_KEY,
      },
      settings: { "account-key": a.TRUNKS_TEST_AZURITE_KEY },
    };
  },
  () => {
    const g = serverEnv("fake-gcs", ["TRUNKS_TEST_GCS_ENDPOINT", "TRUNKS_TEST_GCS_BUCKET"]);
    if (!g) return null;
    return {
      name: "fake-gcs",
      root: () =>
        Promise.resolve(
          `gcs://${g.TRUNKS_TEST_GCS_BUCKET}/e2e-${crypto.randomUUID()}?endpoint=${
            encodeURIComponent(g.TRUNKS_TEST_GCS_ENDPOINT)
          }`,
        ),
      env: {},
      settings: {},
    };
  },
  () => {
    const p = serverEnv("postgres", ["TRUNKS_TEST_PG_URL", "TRUNKS_TEST_PG_PASSWORD"]);
    if (!p) return null;
    return {
      name: "postgres",
      root: () => Promise.resolve(`${p.TRUNKS_TEST_PG_URL}/e2e-${crypto.randomUUID()}`),
      env: { PGPASSWORD: p.TRUNKS_TEST_PG_PASSWORD },
      settings: { password: p.TRUNKS_TEST_PG_PASSWORD },
    };
  },
  () => {
    const s = serverEnv("sshd", [
      "TRUNKS_TEST_SFTP_URL",
      "TRUNKS_TEST_SFTP_KEY",
      "TRUNKS_TEST_SFTP_KNOWN_HOSTS",
    ]);
    if (!s) return null;
    return {
      name: "sftp",
      walksDirectories: true,
      // A storage root must exist (as on local disk): each run makes its own on the server.
      root: async () => {
        const url = `${s.TRUNKS_TEST_SFTP_URL}/e2e-${crypto.randomUUID()}`;
        await sftpMkdir(url, s.TRUNKS_TEST_SFTP_KEY, s.TRUNKS_TEST_SFTP_KNOWN_HOSTS);
        return url;
      },
      env: {
        TRUNKS_SFTP_KEY_FILE: s.TRUNKS_TEST_SFTP_KEY,
        TRUNKS_SFTP_KNOWN_HOSTS: s.TRUNKS_TEST_SFTP_KNOWN_HOSTS,
      },
      settings: {
        "key-file": s.TRUNKS_TEST_SFTP_KEY,
        "known-hosts": s.TRUNKS_TEST_SFTP_KNOWN_HOSTS,
      },
    };
  },
];

/** `mkdir` of an sftp:// URL's path with OpenSSH's own sftp client (batch mode). */
async function sftpMkdir(url: string, key: string, knownHosts: string): Promise<void> {
  const u = new URL(url);
  const out = await new Deno.Command("sftp", {
    args: [
      "-q",
      "-b",
      "-",
      "-i",
      key,
      "-o",
      `UserKnownHostsFile=${knownHosts}`,
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "BatchMode=yes",
      "-P",
      u.port || "22",
      `${decodeURIComponent(u.username)}@${u.hostname}`,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = out.stdin.getWriter();
  await w.write(new TextEncoder().encode(`mkdir ${decodeURIComponent(u.pathname)}\n`));
  await w.close();
  const r = await out.output();
  if (r.code !== 0) throw new Error(`sftp mkdir ${url}: ${new TextDecoder().decode(r.stderr)}`);
}

export { serverEnv };

export async function trunkUrl(b: Backend, name: string): Promise<string> {
  const root = await b.root();
  const u = new URL(root);
  u.pathname = `${u.pathname.replace(/\/+$/, "")}/trunks/${name}.trunk`;
  return u.toString();
}

/** A work repository with one commit. */
export async function newRepo(e: Env, name = "work"): Promise<string> {
  const dir = `${await Deno.makeTempDir({ prefix: "trunks-repo-" })}/${name}`;
  await ok(e, "git", ["init", "-q", "-b", "main", dir]);
  await Deno.writeTextFile(`${dir}/README.md`, "hello\n");
  await git(e, dir, "add", ".");
  await git(e, dir, "commit", "-qm", "first");
  return dir;
}

export async function commitFile(
  e: Env,
  dir: string,
  file: string,
  content: string,
  msg = `edit ${file}`,
) {
  await Deno.writeTextFile(`${dir}/${file}`, content);
  await git(e, dir, "add", file);
  await git(e, dir, "commit", "-qm", msg);
}

/** A mirror clone of the corpus (323 refs), made once per test process. */
let corpus: Promise<string> | undefined;
export function corpusMirror(e: Env): Promise<string> {
  return corpus ??= (async () => {
    const dir = `${await Deno.makeTempDir({ prefix: "trunks-corpus-" })}/express.git`;
    await mirrorCorpus(e, dir);
    return dir;
  })();
}

/**
 * `git clone --mirror` of the corpus bundle into `dir`. A bundle does not say which branch
 * HEAD names, so git points HEAD at init.defaultBranch (`main`), which the express corpus
 * lacks: HEAD is set to its default branch, `master`, so clones check it out.
 */
export async function mirrorCorpus(e: Env, dir: string): Promise<void> {
  await ok(e, "git", ["clone", "-q", "--mirror", CORPUS, dir]);
  await ok(e, "git", ["symbolic-ref", "HEAD", "refs/heads/master"], { cwd: dir });
  await ok(e, "git", ["rev-parse", "--verify", "-q", "HEAD"], { cwd: dir });
}

/** `for-each-ref` of heads and tags, as "<oid> <ref>" lines. */
export async function refList(
  e: Env,
  dir: string,
  prefixes = ["refs/heads/", "refs/tags/"],
): Promise<string[]> {
  const out = await git(e, dir, "for-each-ref", "--format=%(objectname) %(refname)", ...prefixes);
  return out.trim().split("\n").filter(Boolean).sort();
}
