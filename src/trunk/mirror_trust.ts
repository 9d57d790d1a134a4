/**
 * Storages a trunk's own storage map names are suggestions: whoever can write the store
 * can write the map, so a client writes to, reads from and hands credentials to such a
 * storage only once its own user approved it. An approval binds everything that decides
 * where bytes and credentials go (name, role, backend, URL, every setting); a map that
 * later changes any of them is a different storage, unapproved until approved again.
 */
import { redactUrl } from "../storage/registry.ts";
import {
  copyToFileThrough,
  type ListEntry,
  type ListOptions,
  type PutData,
  type Range,
  type Store,
} from "../storage/store.ts";
import { TrunkError } from "./errors.ts";
import type { MapEntry } from "./storage_map.ts";

/** What an approval is bound to: the entry as the map listed it when it was approved. */
export type Approved = Pick<MapEntry, "name" | "role" | "backend" | "url" | "settings">;

function normalUrl(url: string): string {
  try {
    return new URL(url).toString();
  } catch {
    return url;
  }
}

/** The canonical text of an entry: equal text, same storage. */
export function fingerprint(e: Approved): string {
  return JSON.stringify([
    e.name.toLowerCase(),
    e.role,
    e.backend,
    normalUrl(e.url),
    Object.entries(e.settings).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0),
  ]);
}

/** What differs between the approved entry and the map's (for the loud message). */
export function differences(was: Approved, now: Approved): string[] {
  const out: string[] = [];
  if (was.role !== now.role) out.push(`role ${was.role} -> ${now.role}`);
  if (was.backend !== now.backend) out.push(`backend ${was.backend} -> ${now.backend}`);
  if (normalUrl(was.url) !== normalUrl(now.url)) {
    out.push(`url ${redactUrl(was.url)} -> ${redactUrl(now.url)}`);
  }
  const keys = new Set([...Object.keys(was.settings), ...Object.keys(now.settings)]);
  for (const k of [...keys].sort()) {
    const a = was.settings[k], b = now.settings[k];
    if (a !== b) out.push(`${k} ${a ?? "(unset)"} -> ${b ?? "(unset)"}`);
  }
  return out;
}

/** How this machine stands towards one storage the map names. */
export type Verdict =
  | { state: "approved"; record: boolean }
  | { state: "new" }
  | { state: "changed"; changes: string[] };

/**
 * `approved`: what this machine recorded for the name (null: nothing). `trusted`: the
 * user approved the name for this run (`--trust-mirrors`, `TRUNKS_TRUST_MIRRORS`, the
 * library's `trustMirrors`); that approves what the map lists now, unless an approval
 * recorded earlier says otherwise: then only an explicit `trunks storage approve` does.
 */
export function judge(entry: Approved, approved: Approved | null, trusted: boolean): Verdict {
  if (approved) {
    if (fingerprint(approved) === fingerprint(entry)) return { state: "approved", record: false };
    return { state: "changed", changes: differences(approved, entry) };
  }
  return trusted ? { state: "approved", record: true } : { state: "new" };
}

/** `nas, backup` / `nas,backup`: names of a trust list (case-insensitive). */
export function parseTrustList(value: string | undefined): string[] {
  return (value ?? "").split(/[,\s]+/).map((s) => s.trim().toLowerCase()).filter(Boolean);
}

/** The one line that says a storage was left alone, and how to approve it. */
export function describeUnapproved(e: Approved, v: Verdict): string {
  const who = `${e.role} "${e.name}" (${e.backend}, ${redactUrl(e.url)})`;
  const how =
    `approve it with: trunks storage approve ${e.name} (or TRUNKS_TRUST_MIRRORS=${e.name})`;
  if (v.state === "changed") {
    return `${who} CHANGED in the trunk's storage map since it was approved here (${
      v.changes.join(", ")
    }); nothing is sent to it until it is approved again: trunks storage approve ${e.name}`;
  }
  return `${who} is listed in the trunk's storage map but not approved here; nothing is sent to it; ${how}`;
}

/** A store that reads and refuses every write with `why` (a mirror read without its primary). */
export class ReadOnlyStore implements Store {
  /** A read. */
  readonly copyToFile: Store["copyToFile"];

  constructor(readonly inner: Store, readonly why: string) {
    this.copyToFile = copyToFileThrough(inner, (copy) => copy());
  }
  get location(): string {
    return this.inner.location;
  }
  get capabilities() {
    return this.inner.capabilities;
  }
  get(key: string, range?: Range): Promise<ReadableStream<Uint8Array> | null> {
    return this.inner.get(key, range);
  }
  list(prefix: string, startAfter?: string, opts?: ListOptions): Promise<ListEntry[]> {
    return this.inner.list(prefix, startAfter, opts);
  }
  #refuse(): Promise<never> {
    return Promise.reject(new TrunkError(this.why, "bad-input"));
  }
  put(_key: string, _data: PutData): Promise<void> {
    return this.#refuse();
  }
  create(_key: string, _data: Uint8Array): Promise<boolean> {
    return this.#refuse();
  }
  delete(_key: string): Promise<void> {
    return this.#refuse();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
