import { LocalStore } from "./local.ts";
import { escapeUnsafe } from "./plain_text.ts";
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
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    throw new StoreError(`${url.href}: broken %-escape in the path`, "invalid-key");
  }
  if (Deno.build.os === "windows" && /^\/[A-Za-z]:/.test(path)) path = path.slice(1);
  path = path.replace(/\/+$/, "") || "/";
  // The URL parser folds literal `..` away, but an encoded one (`%2E%2E`, `..%2F`) would
  // step out of the root the URL seems to name.
  if (path.split("/").some((s) => s === "." || s === "..") || path.includes("\0")) {
    throw new StoreError(
      `${url.protocol}//${url.pathname}: the path has a "." or ".." segment or a NUL; write the plain absolute path`,
      "invalid-key",
    );
  }
  const { root } = splitTrunkPath(path);
  // Decoded from the URL: shown escaped (Store.location).
  const location = `${url.protocol}//${escapeUnsafe(path)}`;
  return Promise.resolve(new LocalStore(path, root, location));
}
