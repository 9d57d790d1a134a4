/**
 * Whether a backend URL can name a trunk here, checked before anything is opened or
 * sent: the early listing (early_list.ts) and resolveRemote refuse alike.
 */
import { storeTimeoutMs } from "../storage/deadline.ts";
import { parseStoreUrl, redactUrl, secretsInUrl } from "../storage/registry.ts";
import { isTrunkUrl, trunkNameOf } from "../storage/trunk_url.ts";
import { TrunkError } from "../trunk/errors.ts";

/** `url` (a backend URL, aliases expanded), or the one-line refusal of it. */
export function checkTrunkUrl(url: string): string {
  parseStoreUrl(url);
  // A bad TRUNKS_STORE_TIMEOUT is reported before anything is opened.
  storeTimeoutMs();
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
  return url;
}

/**
 * A git remote URL is saved in git config and shown in process lists, so a secret in
 * it is refused with the places where it belongs instead.
 */
function refuseSecretsInUrl(url: string): void {
  const found = secretsInUrl(new URL(url));
  if (found.length === 0) return;
  throw new TrunkError(
    `${redactUrl(url)} carries a secret (${
      found.join(", ")
    }); URLs are saved in git config and visible to other processes, so set it with TRUNKS_STORAGE_<NAME>_<KEY>, trunks storage add, or the provider's variables`,
    "bad-input",
  );
}
