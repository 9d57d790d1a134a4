/**
 * End-to-end harness: real git, a real `trunks` (harness/env.ts), temp repositories, and
 * a storage root per backend under test.
 */
import { serverEnv } from "../servers.ts";
import {
  type Env,
  git,
  makeEnv,
  ok,
  REPO_ROOT,
  type Run,
  run,
  trunksBinDir,
} from "../../harness/env.ts";
import { CORPUS, corpusMirror, mirrorCorpus } from "../../harness/corpus.ts";

export { CORPUS, corpusMirror, git, makeEnv, mirrorCorpus, ok, REPO_ROOT, run, trunksBinDir };
export type { Env, Run };

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

/** A repo with `trunks init` and a local primary storage; returns [repo, store dir]. */
export async function initRepoWithStore(e: Env, name = "work"): Promise<[string, string]> {
  const repo = await newRepo(e, name);
  const store = await Deno.makeTempDir({ prefix: "trunks-store-" });
  await ok(e, "trunks", ["init"], { cwd: repo });
  await ok(e, "trunks", [
    "storage",
    "add",
    "--name",
    "primary",
    "--backend",
    "local",
    "--path",
    store,
  ], {
    cwd: repo,
  });
  return [repo, store];
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

/** `for-each-ref` of heads and tags, as "<oid> <ref>" lines. */
export async function refList(
  e: Env,
  dir: string,
  prefixes = ["refs/heads/", "refs/tags/"],
): Promise<string[]> {
  const out = await git(e, dir, "for-each-ref", "--format=%(objectname) %(refname)", ...prefixes);
  return out.trim().split("\n").filter(Boolean).sort();
}
