/**
 * The tools the suite compares, each driven through plain git with its own remote URL:
 *
 * - `git`: plain git to a bare repository over file:// (the physical reference);
 * - `trunks-local`: trunks on a local-disk storage root;
 * - `trunks-s3`: trunks on MinIO, through the counting proxy;
 * - `git-remote-s3`: awslabs' git-remote-s3 (PyPI, pinned) on the same MinIO, through the
 *   same proxy. It stores one `git bundle` of the whole history per ref and replaces it on
 *   every push, so each push re-uploads everything the ref reaches.
 *
 * The Python `trunks` package is not a remote helper; bench/python_trunks.ts drives it.
 */
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { type Counts, diff, type Proxy } from "./proxy.ts";
import { type Env, run } from "../harness/env.ts";

export const GIT_REMOTE_S3_VERSION = "0.4.2";

export type ToolId = "git" | "trunks-local" | "trunks-s3" | "git-remote-s3";
export const TOOL_IDS: ToolId[] = ["git", "trunks-local", "trunks-s3", "git-remote-s3"];

export interface Minio {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
}

export interface Remote {
  /** What git is given: a path-less URL understood by the tool's remote helper. */
  url: string;
  /** Bytes and object count the remote holds now. */
  size(): Promise<{ bytes: number; objects: number }>;
}

export interface Tool {
  id: ToolId;
  label: string;
  /** Env added to every git command (credentials, PATH for the helper). */
  env: Record<string, string>;
  /** A new, empty remote named after `name`. */
  newRemote(name: string): Promise<Remote>;
  /** The counting proxy in front of this tool's store, if it talks HTTP. */
  proxy?: Proxy;
  version: string;
}

/** One measured command. */
export interface Measure {
  ms: number;
  /** Peak RSS (KiB) of the largest process in the command's tree (GNU time %M). */
  rssKb: number;
  /** CPU time (user + system, ms) of the whole process tree: steadier than wall time on a
   * loaded machine. */
  cpuMs: number;
  code: number;
  stderr: string;
  /** Requests and bytes on the wire (proxy), or trunks' own store-op counts (local). */
  counts?: Counts;
}

/** Run git with the tool's env, timed, with peak RSS and request counts. */
export async function measure(
  e: Env,
  tool: Tool,
  args: string[],
  cwd: string,
  opts: { allowFail?: boolean } = {},
): Promise<Measure> {
  const rssFile = await Deno.makeTempFile({ prefix: "bench-rss-" });
  const before = tool.proxy?.snapshot();
  const t0 = performance.now();
  const r = await run(e, "/usr/bin/time", ["-q", "-f", "%M %U %S", "-o", rssFile, "git", ...args], {
    cwd,
    env: { ...tool.env, TRUNKS_DEBUG_REQUESTS: tool.id === "trunks-local" ? "1" : "" },
  });
  const ms = performance.now() - t0;
  const [rss, user, sys] = ((await Deno.readTextFile(rssFile)).trim().split("\n").pop() ?? "")
    .split(" ").map(Number);
  await Deno.remove(rssFile);
  if (r.code !== 0 && !opts.allowFail) {
    throw new Error(`${tool.label}: git ${args.join(" ")} failed (${r.code}):\n${r.stderr}`);
  }
  const counts = tool.proxy && before
    ? diff(tool.proxy.snapshot(), before)
    : tool.id === "trunks-local"
    ? storeOps(r.stderr)
    : undefined;
  return {
    ms,
    rssKb: rss || 0,
    cpuMs: ((user || 0) + (sys || 0)) * 1000,
    code: r.code,
    stderr: r.stderr,
    counts,
  };
}

/** trunks' own `trunks-requests` lines (TRUNKS_DEBUG_REQUESTS=1) as Counts. */
function storeOps(stderr: string): Counts | undefined {
  const c: Counts = {
    byMethod: {},
    requests: 0,
    bytesUp: 0,
    bytesDown: 0,
    errors: 0,
    spans: [],
    rounds: 0,
  };
  let found = false;
  for (const m of stderr.matchAll(/^trunks-requests \S+ (.*)$/gm)) {
    found = true;
    const j = JSON.parse(m[1]) as {
      requests: Record<string, number>;
      bytesUp?: number;
      bytesDown?: number;
      rounds?: number;
    };
    c.rounds = (c.rounds ?? 0) + (j.rounds ?? 0);
    for (const [k, v] of Object.entries(j.requests)) {
      if (!k.startsWith("store.")) continue;
      const op = k.slice(6);
      c.byMethod[op] = (c.byMethod[op] ?? 0) + v;
      c.requests += v;
    }
    c.bytesUp += j.bytesUp ?? 0;
    c.bytesDown += j.bytesDown ?? 0;
  }
  return found ? c : undefined;
}

async function duBytes(dir: string): Promise<{ bytes: number; objects: number }> {
  let bytes = 0;
  let objects = 0;
  const walk = async (d: string) => {
    for await (const ent of Deno.readDir(d)) {
      const p = `${d}/${ent.name}`;
      if (ent.isDirectory) await walk(p);
      else if (ent.isFile) {
        bytes += (await Deno.stat(p)).size;
        objects++;
      }
    }
  };
  await walk(dir).catch(() => {});
  return { bytes, objects };
}

function s3Client(m: Minio): S3Client {
  return new S3Client({
    endpoint: m.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: m.accessKey, secretAccessKey: m.secretKey },
  });
}

/** Bytes and keys under a prefix, listed straight from MinIO (not through the proxy). */
export async function s3Size(
  m: Minio,
  prefix: string,
): Promise<{ bytes: number; objects: number }> {
  const s3 = s3Client(m);
  let bytes = 0;
  let objects = 0;
  let token: string | undefined;
  do {
    const r = await s3.send(
      new ListObjectsV2Command({ Bucket: m.bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of r.Contents ?? []) {
      bytes += o.Size ?? 0;
      objects++;
    }
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  s3.destroy();
  return { bytes, objects };
}

function slug(name: string): string {
  return name.replace(/[^A-Za-z0-9-]+/g, "-");
}

export async function gitTool(e: Env, work: string): Promise<Tool> {
  const v = await run(e, "git", ["--version"]);
  return {
    id: "git",
    label: "git file://",
    env: {},
    version: v.stdout.trim().replace(/^git version /, ""),
    newRemote: async (name) => {
      const dir = `${work}/git-${slug(name)}-${crypto.randomUUID().slice(0, 8)}.git`;
      const r = await run(e, "git", ["init", "-q", "--bare", dir]);
      if (r.code !== 0) throw new Error(`git init --bare ${dir} failed: ${r.stderr}`);
      return { url: `file://${dir}`, size: () => duBytes(dir) };
    },
  };
}

/**
 * TRUNKS_AUTO_MAINTENANCE for the trunks tools. The harness turns it off for tests; a
 * benchmark measures what a user gets, so the suite passes the product's default ("1").
 */
export type Maintenance = "0" | "1" | "wait";

export function trunksLocalTool(work: string, version: string, maintenance: Maintenance): Tool {
  return {
    id: "trunks-local",
    label: "trunks local",
    env: { TRUNKS_AUTO_MAINTENANCE: maintenance },
    version,
    newRemote: async (name) => {
      const root = `${work}/trunks-store-${slug(name)}-${crypto.randomUUID().slice(0, 8)}`;
      await Deno.mkdir(root, { recursive: true });
      return {
        url: `trunks::local://${root}/trunks/${slug(name)}.trunk`,
        size: () => duBytes(`${root}/trunks`),
      };
    },
  };
}

export function trunksS3Tool(
  m: Minio,
  proxy: Proxy,
  version: string,
  maintenance: Maintenance,
): Tool {
  return {
    id: "trunks-s3",
    label: "trunks MinIO",
    proxy,
    version,
    env: {
      TRUNKS_AUTO_MAINTENANCE: maintenance,
      AWS_ACCESS_KEY_ID: m.accessKey,
      AWS_SECRET_ACCESS_KEY: m.secretKey,
      AWS_REGION: "us-east-1",
    },
    newRemote: (name) => {
      const prefix = `bench-${crypto.randomUUID().slice(0, 8)}`;
      const url = `s3://${m.bucket}/${prefix}/trunks/${slug(name)}.trunk?endpoint=${
        encodeURIComponent(proxy.endpoint)
      }`;
      return Promise.resolve({ url: `trunks::${url}`, size: () => s3Size(m, `${prefix}/`) });
    },
  };
}

function cacheDir(): string {
  return `${Deno.env.get("TRUNKS_CACHE") ?? `${Deno.env.get("HOME")}/.cache/trunks-test`}/bench`;
}

/**
 * git-remote-s3 in its own virtualenv (cached), pinned to GIT_REMOTE_S3_VERSION.
 * Returns a directory holding only `git-remote-s3`, to put on PATH.
 */
export async function installGitRemoteS3(e: Env): Promise<{ bin: string; versions: string }> {
  const venv = `${cacheDir()}/git-remote-s3-${GIT_REMOTE_S3_VERSION}`;
  const helper = `${venv}/bin/git-remote-s3`;
  if (!(await Deno.stat(helper).catch(() => null))) {
    console.error(`bench: installing git-remote-s3 ${GIT_REMOTE_S3_VERSION} into ${venv}`);
    for (
      const [cmd, args] of [
        ["python3", ["-m", "venv", venv]],
        [`${venv}/bin/pip`, ["install", "-q", `git-remote-s3==${GIT_REMOTE_S3_VERSION}`]],
      ] as [string, string[]][]
    ) {
      const r = await run(e, cmd, args, { env: { PATH: Deno.env.get("PATH") ?? "" } });
      if (r.code !== 0) {
        throw new Error(
          `bench: could not install git-remote-s3 (${cmd} ${args.join(" ")}): ${r.stderr.trim()}`,
        );
      }
    }
  }
  const bin = `${venv}/onpath`;
  await Deno.mkdir(bin, { recursive: true });
  await Deno.remove(`${bin}/git-remote-s3`).catch(() => {});
  await Deno.symlink(helper, `${bin}/git-remote-s3`);
  const show = await run(e, `${venv}/bin/pip`, ["show", "git-remote-s3", "boto3"]);
  const versions = [...show.stdout.matchAll(/^Name: (.*)\nVersion: (.*)$/gm)]
    .map((m) => `${m[1]} ${m[2]}`).join(", ");
  return { bin, versions };
}

export async function gitRemoteS3Tool(
  e: Env,
  m: Minio,
  proxy: Proxy,
  work: string,
): Promise<Tool> {
  const { bin, versions } = await installGitRemoteS3(e);
  // boto3 would use virtual-host addressing, which a loopback IP endpoint cannot serve.
  const config = `${work}/aws-config`;
  await Deno.writeTextFile(config, "[default]\ns3 =\n    addressing_style = path\n");
  return {
    id: "git-remote-s3",
    label: "git-remote-s3 MinIO",
    proxy,
    version: versions,
    env: {
      PATH: `${bin}:${e.env.PATH}`,
      AWS_ENDPOINT_URL: proxy.endpoint,
      AWS_ACCESS_KEY_ID: m.accessKey,
      AWS_SECRET_ACCESS_KEY: m.secretKey,
      AWS_REGION: "us-east-1",
      AWS_CONFIG_FILE: config,
      AWS_SHARED_CREDENTIALS_FILE: `${work}/no-aws-credentials`,
    },
    newRemote: (name) => {
      const prefix = `bench-${crypto.randomUUID().slice(0, 8)}/${slug(name)}`;
      return Promise.resolve({
        url: `s3://${m.bucket}/${prefix}`,
        size: () => s3Size(m, `${prefix}/`),
      });
    },
  };
}

export function minioFromEnv(): Minio | null {
  const g = (k: string) => Deno.env.get(`TRUNKS_TEST_MINIO_${k}`);
  const endpoint = g("ENDPOINT");
  const accessKey = g("ACCESS_KEY");
  const secretKey = g("SECRET_KEY");
  const bucket = g("BUCKET");
  if (!endpoint || !accessKey || !secretKey || !bucket) return null;
  return { endpoint, accessKey, secretKey, bucket };
}
