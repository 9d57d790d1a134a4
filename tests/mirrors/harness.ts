/**
 * Mirror tests: trunks on a MinIO primary with a local and a fake-gcs / Azurite mirror,
 * some reached through a TCP proxy so a test can take a real endpoint down and back.
 */
import { e2eBackends, type Env, initRepoWithStore, ok } from "../e2e/harness.ts";
import { LocalDb } from "../../src/local/db.ts";
import { openStore } from "../../src/storage/registry.ts";
import { getBytes, type Store } from "../../src/storage/store.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import type { Member } from "../../src/trunk/mirrors.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { REFS_PREFIX, segmentPackKey } from "../../src/trunk/layout.ts";
import { readMeta } from "../../src/trunk/meta.ts";
import { isDeleted, readRefState } from "../../src/trunk/refs.ts";
import { listSegments } from "../../src/trunk/segments.ts";
import { readLatestMap, type StorageMap } from "../../src/trunk/storage_map.ts";
import { hostPort, TcpProxy } from "./proxy.ts";

export const opts = { sanitizeOps: false, sanitizeResources: false };

/** One storage of a test trunk: how the local database saves it, and its credentials. */
export interface Storage {
  name: string;
  role: "primary" | "mirror";
  url: string;
  backend: string;
  secrets: Record<string, string>;
  /** The proxy in front of it, when the test can take it down. */
  proxy?: TcpProxy;
  /** For a local storage: the root directory (rename it away to take it down). */
  dir?: string;
}

function backend(name: string) {
  return e2eBackends().find((b) => b.name === name) ?? null;
}

/** Backends these tests need; in CI a missing server fails (serverEnv throws). */
export function haveServers(): boolean {
  return !!backend("minio") && !!(backend("fake-gcs") || backend("azurite"));
}

/** The root URL with its endpoint moved behind a fresh proxy. */
function proxied(root: string): { url: string; proxy: TcpProxy } {
  const u = new URL(root);
  const endpoint = u.searchParams.get("endpoint")!;
  const ep = new URL(endpoint);
  const proxy = new TcpProxy(hostPort(endpoint));
  proxy.up();
  ep.port = String(proxy.port);
  u.searchParams.set("endpoint", ep.toString().replace(/\/$/, ""));
  return { url: u.toString(), proxy };
}

function trunkAt(root: string, name: string): string {
  const u = new URL(root);
  u.pathname = `${u.pathname.replace(/\/+$/, "")}/trunks/${name}.trunk`;
  return u.toString();
}

/**
 * A fresh set: primary on MinIO (behind a proxy), mirror "nas" on local disk, mirror
 * "cloud" on fake-gcs (or Azurite), behind a proxy.
 */
export async function storageSet(trunk = "app", cloudBackend?: string): Promise<Storage[]> {
  const minio = backend("minio")!;
  const cloud = backend(cloudBackend ?? (backend("fake-gcs") ? "fake-gcs" : "azurite"))!;
  const p = proxied(await minio.root());
  const c = proxied(await cloud.root());
  const dir = await Deno.makeTempDir({ prefix: "trunks-nas-" });
  return [
    {
      name: "primary",
      role: "primary",
      url: trunkAt(p.url, trunk),
      backend: "s3",
      secrets: minio.settings,
      proxy: p.proxy,
    },
    {
      name: "nas",
      role: "mirror",
      url: trunkAt(`local://${dir}`, trunk),
      backend: "local",
      secrets: {},
      dir,
    },
    {
      name: "cloud",
      role: "mirror",
      url: trunkAt(c.url, trunk),
      backend: new URL(c.url).protocol.replace(/:$/, ""),
      secrets: cloud.settings,
      proxy: c.proxy,
    },
  ];
}

/** A member of a mirror set, in memory unless `store` is given. */
export function member(name: string, role: "primary" | "mirror", store?: Store): Member {
  return {
    name,
    role,
    url: `memory://${name}`,
    store: store ?? new MemoryStore(`memory://${name}`),
  };
}

/** A repository with a local primary and a local mirror, set up through the CLI. */
export async function localPair(e: Env) {
  const [repo, primary] = await initRepoWithStore(e);
  const nas = await Deno.makeTempDir({ prefix: "trunks-nas-" });
  await ok(e, "trunks", [
    "storage",
    "add",
    "--name",
    "nas",
    "--backend",
    "local",
    "--path",
    nas,
    "--mirror",
  ], {
    cwd: repo,
  });
  const at = (root: string): Storage => ({
    name: root === nas ? "nas" : "primary",
    role: root === nas ? "mirror" : "primary",
    url: `local://${root}/trunks/work.trunk`,
    backend: "local",
    secrets: {},
    dir: root,
  });
  return { repo, primary: at(primary), nas: at(nas) };
}

/** Save storages in a repository's local database (what `trunks storage add` does). */
export function saveStorages(repo: string, storages: Storage[]): void {
  const db = new LocalDb(`${repo}/.git/trunks.sqlite`);
  try {
    for (const s of storages) {
      db.db.prepare(
        `INSERT OR REPLACE INTO storages (name, role, url, backend, settings, secrets, added) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        s.name,
        s.role,
        s.url,
        s.backend,
        "{}",
        JSON.stringify(s.secrets),
        new Date().toISOString(),
      );
    }
  } finally {
    db.close();
  }
}

export async function withStore<T>(s: Storage, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(s.url, s.secrets);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** Live refs on one storage, name -> oid (HEAD left out). */
export function refsOn(s: Storage): Promise<Map<string, string>> {
  return withStore(s, async (store) => {
    const meta = await readMeta(store);
    if (!meta) return new Map();
    const state = await readRefState(store, new MemoryCache(), meta);
    return new Map(
      [...state.latest].filter(([r, e]) => r !== "HEAD" && !isDeleted(e)).map((
        [r, e],
      ) => [r, e.new]),
    );
  });
}

/** Every ref entry on one storage, key -> exact text. */
export function entriesOn(s: Storage): Promise<Map<string, string>> {
  return withStore(s, async (store) => {
    const out = new Map<string, string>();
    for (const e of await store.list(REFS_PREFIX)) {
      out.set(e.key, new TextDecoder().decode((await getBytes(store, e.key))!));
    }
    return out;
  });
}

export function segmentIds(s: Storage): Promise<string[]> {
  return withStore(s, async (store) => (await listSegments(store)).map((x) => x.id).sort());
}

export function mapOn(s: Storage): Promise<StorageMap | null> {
  return withStore(s, async (store) => (await readLatestMap(store))?.map ?? null);
}

/** Flip one byte in the middle of a segment pack on a storage. */
export function corruptSegment(s: Storage, id: string): Promise<void> {
  return withStore(s, async (store) => {
    const b = (await getBytes(store, segmentPackKey(id)))!;
    b[Math.floor(b.byteLength / 2)] ^= 0xff;
    await store.put(segmentPackKey(id), b);
  });
}

export async function sha256(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new Uint8Array(bytes));
  return [...new Uint8Array(d)].map((x) => x.toString(16).padStart(2, "0")).join("");
}

/** A small object's text on one storage ("" when absent). */
export function textOn(s: Storage, key: string): Promise<string> {
  return withStore(s, async (store) => {
    const b = await getBytes(store, key);
    return b ? new TextDecoder().decode(b) : "";
  });
}

export function packSha(s: Storage, id: string): Promise<string> {
  return withStore(s, async (store) => await sha256((await getBytes(store, segmentPackKey(id)))!));
}

/** The current commit of a repository's branch. */
export async function head(e: Env, repo: string, rev = "HEAD"): Promise<string> {
  return (await ok(e, "git", ["rev-parse", rev], { cwd: repo })).trim();
}

/** Take a storage down for real: stop its proxy, or move its directory away. */
export async function down(s: Storage): Promise<void> {
  if (s.proxy) s.proxy.down();
  else await Deno.rename(s.dir!, `${s.dir}.away`);
}

export async function up(s: Storage): Promise<void> {
  if (s.proxy) s.proxy.up();
  else await Deno.rename(`${s.dir}.away`, s.dir!);
}

export function stopAll(storages: Storage[]): void {
  for (const s of storages) s.proxy?.down();
}
