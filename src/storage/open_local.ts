import { LocalStore } from "./local.ts";
import type { Store } from "./store.ts";
import { StoreError } from "./store.ts";
import { splitTrunkPath } from "./trunk_url.ts";

/** `local:///abs/path` and `file:///abs/path` (file shares mounted at a path). */
export function openLocal(url: URL): Promise<Store> {
  if (url.host && url.host !== "localhost") {
    throw new StoreError(
      `${url.protocol}//${url.host}/...: a local path must be absolute, like ${url.protocol}///srv/store`,
      "invalid-key",
    );
  }
  let path = decodeURIComponent(url.pathname);
  if (Deno.build.os === "windows" && /^\/[A-Za-z]:/.test(path)) path = path.slice(1);
  path = path.replace(/\/+$/, "") || "/";
  const { root } = splitTrunkPath(path);
  return Promise.resolve(new LocalStore(path, root, `${url.protocol}//${path}`));
}
