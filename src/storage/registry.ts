/**
 * URL -> Store. Backends are imported lazily, so a command that never touches S3,
 * Azure or GCS never loads their SDKs (start-up time of the single binary).
 */
import { type Store, StoreError } from "./store.ts";

/**
 * Options for one storage: non-secret settings (endpoint, region, ...) and secrets
 * (access keys, passwords) already resolved by the caller. Backends fall back to
 * their provider's own environment variables for anything missing here.
 */
export type Settings = Record<string, string | undefined>;

export type Opener = (url: URL, settings: Settings) => Promise<Store>;

interface Backend {
  /** Load the module that opens this scheme. */
  load: () => Promise<Opener>;
  description: string;
}

const backends = new Map<string, Backend>();

/** Register a backend for one or more URL schemes (without the colon). */
export function registerBackend(
  schemes: string[],
  description: string,
  load: () => Promise<Opener>,
): void {
  for (const s of schemes) backends.set(s, { load, description });
}

export function knownSchemes(): string[] {
  return [...backends.keys()].sort();
}

registerBackend(["memory"], "in-process memory (tests, library)", async () => {
  const { openMemory } = await import("./open_memory.ts");
  return openMemory;
});
registerBackend(["local", "file"], "local disk or a mounted file share", async () => {
  const { openLocal } = await import("./open_local.ts");
  return openLocal;
});

/** Parse a storage URL, with errors that say what to do. */
export function parseStoreUrl(url: string): URL {
  if (url.includes("\0")) throw new StoreError("storage URL contains a NUL byte", "invalid-key");
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new StoreError(
      `malformed storage URL ${
        JSON.stringify(redactUrl(url))
      }: expected scheme://location, e.g. local:///srv/store`,
      "invalid-key",
    );
  }
  const scheme = u.protocol.replace(/:$/, "");
  if (!backends.has(scheme)) {
    throw new StoreError(
      `unknown storage scheme "${scheme}:" in ${redactUrl(url)}; known: ${
        knownSchemes().join(", ")
      }`,
      "unsupported",
    );
  }
  return u;
}

export async function openStore(url: string, settings: Settings = {}): Promise<Store> {
  const u = parseStoreUrl(url);
  const backend = backends.get(u.protocol.replace(/:$/, ""))!;
  const open = await backend.load();
  return await open(u, settings);
}

/** The URL with any password or secret-looking query parameter removed. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    for (const k of [...u.searchParams.keys()]) {
      if (/secret|password|token|key|sig|credential/i.test(k)) u.searchParams.set(k, "***");
    }
    return u.toString();
  } catch {
    return url.replace(/\/\/([^/@:]*):[^/@]*@/, "//$1:***@");
  }
}
