/**
 * From the URL git hands the helper to an open trunk: the store, its settings and
 * credentials (from the local database when `trunks init` saved them), and the cache.
 */
import { gitDir, objectFormat } from "../git/repo.ts";
import { LocalDb } from "../local/db.ts";
import { localDbPath } from "../local/paths.ts";
import { storageSettings } from "../local/storages.ts";
import { CountingStore } from "../storage/counting.ts";
import { openStore } from "../storage/registry.ts";
import type { Store } from "../storage/store.ts";
import { isTrunkUrl } from "../storage/trunk_url.ts";
import { TrunkError } from "../trunk/errors.ts";
import { Trunk } from "../trunk/trunk.ts";

export interface RemoteContext {
  url: string;
  gitDir: string;
  db: LocalDb;
  store: Store;
  /** The trunk, which must exist. */
  trunk(): Promise<Trunk>;
  /** The trunk, or null when nothing was pushed there yet. */
  trunkIfExists(): Promise<Trunk | null>;
  /** The trunk, created on first push. */
  trunkForWrite(): Promise<Trunk>;
  close(): Promise<void>;
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

export async function resolveRemote(url: string, _remoteName: string): Promise<RemoteContext> {
  if (!isTrunkUrl(url)) {
    throw new TrunkError(
      `${url} is not a trunk URL: it must end in /<name>.trunk (e.g. local:///srv/store/trunks/app.trunk), or run trunks storage add`,
      "bad-input",
    );
  }
  const dir = await gitDir();
  const db = new LocalDb(await localDbPath());
  const store = new CountingStore(await openStore(url, storageSettings(db, url)));
  const writer = writerName();
  let trunk: Trunk | null = null;
  const open = async () => trunk ??= await Trunk.open(store, db, writer);
  return {
    url,
    gitDir: dir,
    db,
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
      return trunk ??= await Trunk.openOrCreate(store, db, writer, await objectFormat());
    },
    async close() {
      await store.close();
      db.close();
    },
  };
}
