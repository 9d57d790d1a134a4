/**
 * Whether a URL is `trunks://NAME/REPO` (named_url.ts resolves it). Apart, so a fetch of
 * a backend URL tells without loading the named-URL code (and the per-user config's
 * node:path under it).
 */
export function isNamedUrl(url: string): boolean {
  return /^trunks:\/\//i.test(url);
}
