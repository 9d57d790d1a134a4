/**
 * Where a trunk lives inside a storage root: `<root>/trunks/<name>.trunk`. Shared by
 * every backend's URL so that a trunk URL and its root can be told apart.
 */

const NAME_MAX = 100;

/** Split `.../trunks/<name>.trunk` (or `.../<name>.trunk`) into root and name. */
export function splitTrunkPath(path: string): { root: string; name: string | null } {
  const m = /^(.*?)(?:\/trunks)?\/([^/]+)\.trunk\/?$/.exec(path);
  if (!m) return { root: path, name: null };
  return { root: m[1] || "/", name: m[2] };
}

/** True when the URL names a trunk (ends in `/<name>.trunk`), not a bare root. */
export function isTrunkUrl(url: string): boolean {
  try {
    return splitTrunkPath(new URL(url).pathname).name !== null;
  } catch {
    return false;
  }
}

/**
 * A repository name made safe as one path segment: no `/`, no `..`, no control
 * characters, bounded length. Unicode letters are kept (URL-encoded where needed).
 */
export function sanitizeTrunkName(name: string): string {
  // deno-lint-ignore no-control-regex
  let s = name.normalize("NFC").replace(/[\u0000-\u001f\u007f]/g, "")
    .replace(/[\/\\:*?"<>|\s]+/g, "-")
    .replace(/^[.\-]+|[.\-]+$/g, "")
    .replace(/\.{2,}/g, ".");
  if (s.endsWith(".trunk")) s = s.slice(0, -".trunk".length);
  s = [...s].slice(0, NAME_MAX).join("");
  if (!s) throw new Error(`repository name ${JSON.stringify(name)} has no usable characters`);
  return s;
}

/** `<root URL>/trunks/<name>.trunk`, keeping any query string (e.g. ?endpoint=). */
export function trunkUrl(rootUrl: string, name: string): string {
  const u = new URL(rootUrl);
  const safe = sanitizeTrunkName(name);
  u.pathname = `${u.pathname.replace(/\/+$/, "")}/trunks/${encodeURIComponent(safe)}.trunk`;
  return u.toString();
}
