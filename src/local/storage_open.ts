/**
 * How a planned storage is opened (counted, bounded by TRUNKS_STORE_TIMEOUT, its refusals
 * advised), and whether a store opened from the URL alone stands for the plan's: the
 * helper opens the URL's storage and sends its listing of refs/ before the repository's
 * database is read (src/helper/early_list.ts), and resolveStorages adopts both only when
 * the plan opens that storage with the same settings.
 */
import { advisedError, withAccessAdvice } from "../storage/advised.ts";
import { CountingStore } from "../storage/counting.ts";
import { withDeadline } from "../storage/deadline.ts";
import { openStore, redactUrl } from "../storage/registry.ts";
import { type ListEntry, type ListOptions, type Store, StoreError } from "../storage/store.ts";
import { loopTurn } from "../storage/timer.ts";
import { credentialAdvice, schemeOf } from "../trunk/credential_hint.ts";
import { REFS_PREFIX } from "../trunk/layout.ts";
import type { Member } from "../trunk/mirrors.ts";
import type { Planned } from "./storage_plan.ts";

/** A listing of `refs/`: `at`, the wall clock when sent; `mono`, `performance.now()` then. */
export interface RefsListing {
  at: number;
  mono: number;
  entries: Promise<ListEntry[]>;
}

/**
 * A storage opened from `plan` before the storages were planned, its listing of refs/ out;
 * not advised yet: what a refusal says depends on the plan (whose variables it reads).
 */
export interface EarlyStore {
  plan: Planned;
  store: Store;
  refsListing: RefsListing;
}

function scheme(url: string): string {
  try {
    return new URL(url).protocol.replace(/:$/, "");
  } catch {
    return "";
  }
}

/**
 * The URL as the primary, with no saved settings (named `named`, the storage a
 * `trunks://NAME/...` URL was resolved through, if any): what a URL nothing here
 * describes is opened with.
 */
export function urlAlonePlan(url: string, named?: string): Planned {
  return {
    name: named ?? "primary",
    role: "primary",
    url,
    backend: scheme(url),
    settings: {},
    open: {},
    local: false,
    envName: named ?? null,
  };
}

/**
 * Whether a store opened from `early` is the one `planned` opens: the same URL and the
 * same settings (credentials included). Name, role and the advice on a refusal are the
 * plan's to give (`adopt`); they change nothing in the store.
 */
export function opensAlike(planned: Planned, early: Planned): boolean {
  if (planned.url !== early.url) return false;
  const given = (p: Planned) => Object.entries(p.open).filter(([, v]) => v !== undefined);
  const theirs = new Map(given(early));
  const ours = given(planned);
  return ours.length === theirs.size && ours.every(([k, v]) => theirs.get(k) === v);
}

/** The early store and its listing as `plan`'s member, advised as `openMember` advises. */
export function adopt(
  early: EarlyStore,
  plan: Planned,
): { member: Member; refsListing: RefsListing } {
  const advice = adviceFor(plan);
  const entries = early.refsListing.entries.catch((e) => {
    throw advisedError(e, advice);
  });
  entries.catch(() => {});
  return {
    member: memberOf(plan, withAccessAdvice(early.store, advice)),
    refsListing: { ...early.refsListing, entries },
  };
}

/** A storage that could not even be opened: every operation says why. */
class BrokenStore implements Store {
  readonly capabilities = {
    atomicCreate: true,
    rangeReads: true,
    maxObjectSize: Infinity,
    parallelism: 4,
  };
  constructor(
    readonly location: string,
    readonly why: string,
    readonly code: StoreError["code"] = "unreachable",
  ) {}
  #fail(): Promise<never> {
    return Promise.reject(new StoreError(this.why, this.code));
  }
  get() {
    return this.#fail();
  }
  put() {
    return this.#fail();
  }
  create() {
    return this.#fail();
  }
  list() {
    return this.#fail();
  }
  delete() {
    return this.#fail();
  }
  close() {
    return Promise.resolve();
  }
}

/** The store `p` names, counted and bounded; one that fails every operation if it cannot open. */
export async function openBounded(p: Planned): Promise<Store> {
  try {
    // Bounded by TRUNKS_STORE_TIMEOUT: a storage that never answers fails (or fails over).
    return new CountingStore(withDeadline(await openStore(p.url, p.open)));
  } catch (e) {
    const why = e instanceof Error ? e.message.split("\n")[0] : String(e);
    // A refusal found while opening (no keys at all) stays a refusal, not an outage.
    const denied = e instanceof StoreError && e.code === "access-denied";
    return new BrokenStore(redactUrl(p.url), why, denied ? "access-denied" : "unreachable");
  }
}

export async function openMember(p: Planned): Promise<Member> {
  return memberOf(p, withAccessAdvice(await openBounded(p), adviceFor(p)));
}

function adviceFor(p: Planned): string {
  return credentialAdvice({ envName: p.envName, backend: p.backend || schemeOf(p.url) });
}

function memberOf(p: Planned, store: Store): Member {
  return { name: p.name, role: p.role, url: p.url, store };
}

/** Send the listing of refs/; a failure is for whoever reads it to report. */
export function listRefs(store: Store, opts: ListOptions): RefsListing {
  const listing = {
    at: Date.now(),
    mono: performance.now(),
    entries: store.list(REFS_PREFIX, undefined, opts),
  };
  listing.entries.catch(() => {});
  return listing;
}

/**
 * Resolves once `sent` is on its socket: requests reach theirs only when the loop polls,
 * and code run first (a merge, modules loading) held git's listing back 5-15 ms. A new
 * connection takes more than one poll: with 1 ms the LIST still waited for the trunk's
 * code in 10 of 16 up-to-date fetches on S3 (load ~9), with 3 ms in 3 of 16. Not past
 * the answer: a local store's comes in well under 1 ms.
 */
export async function untilSent(sent: Promise<unknown>): Promise<void> {
  await Promise.race([loopTurn(3), sent.catch(() => {})]);
}
