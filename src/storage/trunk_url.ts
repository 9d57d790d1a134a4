/**
 * Where a trunk lives inside a storage root: `<root>/trunks/<name>.trunk`. Shared by
 * every backend's URL so that a trunk URL and its root can be told apart.
 */

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
 * The trunk name a trunk URL names, decoded, or a one-line error saying what is wrong
 * with it. Names are one path segment: a `%2F`, `..`, NUL or control character in the
 * encoded URL must never reach a backend as a path (`a%2F..%2F..%2Fx.trunk`).
 */
export function trunkNameOf(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`malformed trunk URL: expected scheme://root/trunks/<name>.trunk`);
  }
  const raw = splitTrunkPath(u.pathname).name;
  if (raw === null) {
    throw new Error(`the URL does not end in /<name>.trunk`);
  }
  let name: string;
  try {
    name = decodeURIComponent(raw);
  } catch {
    throw new Error(`trunk name ${JSON.stringify(raw)} has a broken %-escape`);
  }
  const why = badTrunkName(name);
  if (why) {
    throw new Error(
      `trunk name ${JSON.stringify(name)} ${why}; use letters, digits, '.', '-' and '_'`,
    );
  }
  return name;
}

/** Why a decoded trunk name is unusable, or null when it is fine. */
export function badTrunkName(name: string): string | null {
  if (name === "") return "is empty";
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return "contains a control character or NUL";
  if (/[\/\\]/.test(name)) return "contains a path separator";
  if (/^\.|\.\.|\.$/.test(name)) return "starts or ends with '.' or contains '..'";
  if (new TextEncoder().encode(name).byteLength > NAME_MAX_BYTES) {
    return `is longer than ${NAME_MAX_BYTES} bytes`;
  }
  return null;
}

/** One path segment on every file system and object store (255 bytes) with `.trunk` added. */
const NAME_MAX_BYTES = 200;

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
  // The one length limit, in bytes (what a file system counts), cut at a whole character.
  const enc = new TextEncoder();
  while (enc.encode(s).byteLength > NAME_MAX_BYTES) s = [...s].slice(0, -1).join("");
  if (!s) throw new Error(`repository name ${JSON.stringify(name)} has no usable characters`);
  return s;
}

/**
 * Why a repository name the user typed (`trunks://NAME/REPO`) is refused, or null. Only a
 * name that sanitizing leaves unchanged is taken: otherwise `a b` and `a:b` (or `x` and
 * `x.trunk`, or two long names cut to one) would silently share one trunk.
 */
export function badRepoName(name: string): string | null {
  const why = badTrunkName(name);
  if (why) return `${why}: ${REPO_NAME_RULE}`;
  let same = false;
  try {
    same = sanitizeTrunkName(name) === name;
  } catch {
    // no usable characters
  }
  return same ? null : `is not a usable repository name: ${REPO_NAME_RULE}`;
}

export const REPO_NAME_RULE =
  `use letters, digits, '.', '-' and '_' (no spaces or / \\ : * ? " < > |), not starting or ending with '.' or '-', no '..', not ending in .trunk, at most ${NAME_MAX_BYTES} bytes`;

/**
 * The first `.` or `..` segment of a URL's path, raw or %-encoded (`%2e%2e`), or null.
 * A URL parser resolves them without a word (`…/trunks/x.trunk/../../y.trunk` is
 * `…/y.trunk`), which would put a trunk outside `<root>/trunks/`: they are refused.
 */
export function dotSegmentIn(url: string): string | null {
  const rest = url.replace(/^[A-Za-z][A-Za-z0-9+.-]*:/, "").split(/[?#]/)[0];
  for (const seg of rest.split(/[\/\\]/)) {
    // The URL parser drops every tab, LF and CR before it resolves dot segments (`.\t.`).
    const plain = seg.replace(/[\t\n\r]/g, "").replace(/%2e/gi, ".");
    if (plain === "." || plain === "..") return seg;
  }
  return null;
}

/** A one-line refusal for a URL with a dot segment, or nothing. */
export function refuseDotSegments(url: string, redacted: string): void {
  const seg = dotSegmentIn(url);
  if (seg !== null) {
    throw new Error(
      `${redacted} has a ${
        JSON.stringify(seg)
      } path segment; trunks refuses . and .. in URLs (raw or %-encoded) so a trunk always lands in <root>/trunks/<name>.trunk: give the path without them`,
    );
  }
}

/** `<root URL>/trunks/<name>.trunk`, keeping any query string (e.g. ?endpoint=). */
export function trunkUrl(rootUrl: string, name: string): string {
  refuseDotSegments(rootUrl, rootUrl.split("?")[0]);
  const u = new URL(rootUrl);
  const safe = sanitizeTrunkName(name);
  u.pathname = `${u.pathname.replace(/\/+$/, "")}/trunks/${encodeURIComponent(safe)}.trunk`;
  return u.toString();
}
