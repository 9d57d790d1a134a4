/**
 * From the URL git hands the helper to an open trunk: the store, its settings and
 * credentials (from the local database when `trunks init` saved them), and the cache.
 */
import { gitDir, objectFormat } from "../git/repo.ts";
import { LocalDb } from "../local/db.ts";
import { localDbPath } from "../local/paths.ts";
import { storageSettings } from "../local/storages.ts";
import { CountingStore } from "../storage/counting.ts";
import { withDeadline } from "../storage/deadline.ts";
import { openStore, parseStoreUrl, redactUrl, secretKeys } from "../storage/registry.ts";
import type { Store } from "../storage/store.ts";
import { isTrunkUrl, trunkNameOf } from "../storage/trunk_url.ts";
import { MemoryCache, type TrunkCache } from "../trunk/cache.ts";
import { TrunkError } from "../trunk/errors.ts";
import { Trunk } from "../trunk/trunk.ts";

export interface RemoteContext {
  url: string;
  /** Null outside a repository (`git ls-remote`): then only `list` works. */
  gitDir: string | null;
  cache: TrunkCache;
  store: Store;
  /** The trunk, which must exist. */
  trunk(): Promise<Trunk>;
  /** The trunk, or null when nothing was pushed there yet. */
  trunkIfExists(): Promise<Trunk | null>;
  /** The trunk, created on first push. */
  trunkForWrite(): Promise<Trunk>;
  close(): Promise<void>;
}

/** The repository's git dir; fetch and push need one. */
export function requireGitDir(ctx: RemoteContext): string {
  if (!ctx.gitDir) {
    throw new TrunkError("this needs a git repository (run it inside one)", "bad-input");
  }
  return ctx.gitDir;
}

export function writerName(): string {
  const user = Deno.env.get("USER") ?? Deno.env.get("USERNAME") ?? "unknown";
  let host = "unknown";
  try {
    host = Deno.hostname();
  } catch {
    // no permission or no hostname: keep "unknown"
  }
  return `${user}@${host}`;
}

/**
 * A git remote URL is saved in git config and shown in process lists, so a secret in
 * it is refused with the places where it belongs instead.
 */
function refuseSecretsInUrl(url: string): void {
  const u = new URL(url);
  const secret = new Set(secretKeys());
  const found = [...u.searchParams.keys()].filter((k) =>
    secret.has(k) || /secret|password|token|credential|^sig$/i.test(k)
  );
  if (u.password) found.unshift("a password");
  if (found.length === 0) return;
  throw new TrunkError(
    `${redactUrl(url)} carries a secret (${
      found.join(", ")
    }); URLs are saved in git config and visible to other processes, so set it with TRUNKS_STORAGE_<NAME>_<KEY>, trunks storage add, or the provider's variables`,
    "bad-input",
  );
}

export async function resolveRemote(url: string, _remoteName: string): Promise<RemoteContext> {
  parseStoreUrl(url);
  if (!isTrunkUrl(url)) {
    throw new TrunkError(
      `${
        redactUrl(url)
      } is not a trunk URL: it must end in /<name>.trunk (e.g. local:///srv/store/trunks/app.trunk), or run trunks storage add`,
      "bad-input",
    );
  }
  refuseSecretsInUrl(url);
  try {
    trunkNameOf(url);
  } catch (e) {
    throw new TrunkError(`${redactUrl(url)}: ${(e as Error).message}`, "bad-input");
  }
  // `git ls-remote` may run outside any repository: then nothing is cached.
  const dir = await gitDir().catch(() => null);
  const db = dir ? new LocalDb(await localDbPath()) : null;
  const cache = db ?? new MemoryCache();
  const store = new CountingStore(
    withDeadline(await openStore(url, db ? storageSettings(db, url) : {})),
  );
  const writer = writerName();
  let trunk: Trunk | null = null;
  const open = async () => trunk ??= await Trunk.open(store, cache, writer);
  return {
    url,
    gitDir: dir,
    cache,
    store,
    trunk: open,
    async trunkIfExists() {
      try {
        return await open();
      } catch (e) {
        if (e instanceof TrunkError && e.code === "not-a-trunk") return null;
        throw e;
      }
    },
    async trunkForWrite() {
      return trunk ??= await Trunk.openOrCreate(store, cache, writer, await objectFormat());
    },
    async close() {
      await store.close();
      db?.close();
    },
  };
}
