/**
 * A fetch's `list` on a backend URL: the URL checked, its storage opened from the URL alone
 * and the listing of refs/ sent before the repository's database is opened and the
 * storages planned (~10-15 ms of modules and node:sqlite, Deno 2.9), which then run while
 * the LIST is out. resolveStorages adopts the store only if the plan opens it with the
 * same settings (src/local/storage_open.ts). Not for a `trunks://NAME/...` URL, whose
 * storage is read from that database, nor for a backend that may not be opened before
 * its saved settings are read (BackendSpec `opensEarly`): they list as the plan says.
 */
import { isNamedUrl } from "../local/named_scheme.ts";
import {
  type EarlyStore,
  listRefs,
  openBounded,
  untilSent,
  urlAlonePlan,
} from "../local/storage_open.ts";
import { canonicalStoreUrl, opensEarly } from "../storage/registry.ts";
import { listingFor } from "../trunk/ref_listing.ts";
import { checkTrunkUrl } from "./remote_url.ts";

/** The store and its listing, or nothing (see above); a refusal of the URL throws. */
export async function listEarly(given: string): Promise<EarlyStore | undefined> {
  if (isNamedUrl(given)) return undefined;
  const plan = urlAlonePlan(checkTrunkUrl(canonicalStoreUrl(given)));
  if (!await opensEarly(plan.url)) return undefined;
  const store = await openBounded(plan);
  const refsListing = listRefs(store, listingFor(false));
  // The database's and resolve.ts's modules load next: the LIST leaves first.
  await untilSent(refsListing.entries);
  return { plan, store, refsListing };
}
