/**
 * URL forms that are other names for a backend trunks already has, rewritten once, here,
 * into that backend's own URL before anything else reads them. The rewritten URL is what
 * gets saved and shown (`storage list`, `git remote -v`), so every machine sees one form.
 *
 *   minio://HOST:PORT/BUCKET/PREFIX        -> s3://BUCKET/PREFIX?endpoint=http://HOST:PORT
 *   minio+https://HOST/BUCKET/PREFIX       -> s3://BUCKET/PREFIX?endpoint=https://HOST
 *   nfs:///MOUNT/PATH, smb:///MOUNT/PATH   -> local:///MOUNT/PATH (a share mounted here)
 *
 * trunks never mounts anything: `nfs://server/...` (a host) is refused with the mount to
 * make, rather than guessed at.
 */

import { dotSegmentIn } from "./trunk_url.ts";

/** The alias schemes, for messages that list what a URL may start with. */
export const ALIAS_SCHEMES = ["minio", "minio+https", "nfs", "smb"];

/** `s3://...` for a `minio://` URL, `local://...` for `nfs://`/`smb://`; else the URL as is. */
export function expandStoreUrl(url: string): string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s.exec(url);
  if (!m) return url;
  const scheme = m[1].toLowerCase();
  if (scheme === "minio" || scheme === "minio+https") return minioUrl(url, scheme);
  if (scheme === "nfs" || scheme === "smb") return shareUrl(scheme, m[2]);
  return url;
}

function minioUrl(url: string, scheme: string): string {
  // Parsing would resolve `b/../c` to bucket c without a word; refused, as for every URL.
  const seg = dotSegmentIn(url);
  if (seg !== null) {
    throw new Error(
      `${scheme}:// URL has a ${
        JSON.stringify(seg)
      } path segment; trunks refuses . and .. in URLs: give ${scheme}://HOST:PORT/BUCKET[/PREFIX] without them`,
    );
  }
  let u: URL;
  try {
    // Parsed as http(s) so host and port are read the way the endpoint will use them.
    u = new URL(url.replace(/^[^:]+:/, scheme === "minio" ? "http:" : "https:"));
  } catch {
    throw new Error(
      `${scheme}:// URL is malformed; expected ${scheme}://HOST:PORT/BUCKET[/PREFIX]`,
    );
  }
  if (u.username || u.password) {
    throw new Error(
      `${scheme}:// URLs take no user or password (they would be saved in git config); set TRUNKS_STORAGE_<NAME>_ACCESS_KEY/_SECRET_KEY or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY`,
    );
  }
  const [bucket, ...prefix] = u.pathname.split("/").filter(Boolean);
  if (!bucket) {
    throw new Error(
      `${scheme}://${u.host} names no bucket; expected ${scheme}://HOST:PORT/BUCKET[/PREFIX]`,
    );
  }
  if (u.searchParams.has("endpoint")) {
    throw new Error(`${scheme}:// URLs carry the endpoint as HOST:PORT, not ?endpoint=`);
  }
  const query = [`endpoint=${u.protocol}//${u.host}`, ...(u.search ? [u.search.slice(1)] : [])];
  const path = prefix.length ? `/${prefix.join("/")}` : "";
  return `s3://${bucket}${path}?${query.join("&")}`;
}

function shareUrl(scheme: string, rest: string): string {
  const host = /^[^/?#]*/.exec(rest)![0];
  if (host !== "" && host !== "localhost") {
    const mount = scheme === "nfs"
      ? `mount -t nfs ${host}:/EXPORT /mnt/share`
      : `mount -t cifs //${host}/SHARE /mnt/share`;
    throw new Error(
      `${scheme}://${host}/...: trunks does not mount shares; mount it first (${mount}) and give the mount point: ${scheme}:///mnt/share/PATH`,
    );
  }
  return `local://${rest}`;
}
