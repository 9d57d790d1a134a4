/**
 * git's `list` on a backend URL: the URL checked, its storage opened from the URL alone
 * and the listing of refs/ sent before the repository's database is opened and the
 * storages planned (~10-15 ms of modules and node:sqlite, Deno 2.9), which then run while
 * the LIST is out. resolveStorages adopts the store only if the plan opens it the same
 * way (src/local/storage_open.ts); a `trunks://NAME/...` URL, whose storage is read from
 * that database, lists as the plan says.
 */
import { isNamedUrl } from "../local/named_scheme.ts";
import {
  type EarlyStore,
  listRefs,
  openBounded,
  untilSent,
  urlAlonePlan,
} from "../local/storage_open.ts";
import { canonicalStoreUrl } from "../storage/registry.ts";
import { listingFor } from "../trunk/ref_listing.ts";
import { checkTrunkUrl } from "./remote_url.ts";

/** The store and its listing, or nothing for a `trunks://NAME/...` URL; a refusal throws. */
export async function listEarly(given: string, forPush: boolean): Promise<EarlyStore | undefined> {
  if (isNamedUrl(given)) return undefined;
  const plan = urlAlonePlan(checkTrunkUrl(canonicalStoreUrl(given)));
  const store = await openBounded(plan);
  const refsListing = listRefs(store, listingFor(forPush));
  // The database's and resolve.ts's modules load next: the LIST leaves first.
  await untilSent(refsListing.entries);
  return { plan, store, refsListing };
}
