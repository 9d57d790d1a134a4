/**
 * The audit archive: `reflog/<seq>`, each created exclusively by a prune before it
 * deletes the entries it holds, so who moved which ref, when and from what to what stays
 * readable after the live log is pruned. Never read on the hot path; `trunks log` reads it.
 *
 *   {"v":1,"trunk":"<id>","seq":n,"time":"...","entries":{"<entry key>":"<entry JSON>"},"sum":"..."}
 *
 * A prune killed between archiving and deleting archives the same entries again next
 * time: readers take each entry key once.
 */
import type { ListEntry, Store } from "../storage/store.ts";
import { getSmall } from "./small_objects.ts";
import type { TrunkCache } from "./cache.ts";
import { TrunkError } from "./errors.ts";
import {
  parseReflogKey,
  type RefLayout,
  refLayout,
  REFLOG_PREFIX,
  reflogKey,
  type TrunkKeys,
} from "./layout.ts";
import { mapLimit } from "./pool.ts";
import { parseEntry, readRefLog, type RefEntry, UnsafeEntryError } from "./refs.ts";
import { checkSeal, seal } from "./seal.ts";

/** Creates already taken by a racing prune before this one gives up. */
const CREATE_TRIES = 5;

/**
 * The most an archive may be. A reader refuses a larger one unread (a damaged or planted
 * object may be of any size, past what a process can hold), so a prune never writes one:
 * thousands of entries of a few hundred bytes take a few MB.
 */
export const ARCHIVE_MAX_BYTES = 64 * 1024 * 1024;
/** An archive's bytes besides its entries: version, trunk id, seq, time, seal. */
export const ARCHIVE_ENVELOPE_BYTES = 1024;

const encoder = new TextEncoder();

/** Bytes the entry `text` stored under `key` adds to an archive. */
export function archivedBytes(key: string, text: string): number {
  return encoder.encode(JSON.stringify(key)).length + encoder.encode(JSON.stringify(text)).length +
    2;
}

/** Append one archive holding `entries` (key -> stored JSON); returns its key. */
export async function appendArchive(
  store: Store,
  trunkId: string,
  entries: Map<string, string>,
): Promise<string> {
  // A loop, not Math.max(...seqs): a trunk pruned after pushes for years holds more
  // archives than a call takes arguments (~125,000: "Maximum call stack size exceeded").
  let seq = 1;
  for (const e of await store.list(REFLOG_PREFIX)) {
    const s = parseReflogKey(e.key);
    if (s !== null && s >= seq) seq = s + 1;
  }
  for (let i = 0; i < CREATE_TRIES; i++, seq++) {
    const body = seal({
      v: 1,
      trunk: trunkId,
      seq,
      time: new Date().toISOString(),
      entries: Object.fromEntries([...entries].sort(([a], [b]) => a < b ? -1 : 1)),
    });
    const key = reflogKey(seq);
    if (await store.create(key, new TextEncoder().encode(JSON.stringify(body)))) return key;
  }
  throw new TrunkError(
    `could not append to ${REFLOG_PREFIX}: other prunes kept taking the next seq; retry`,
    "corrupt",
  );
}

/**
 * Parse and validate one archive: its seal, that it is this trunk's (`trunkId`), then every
 * entry as if read from its key (in `layout`, the trunk's: a prune archives entries under
 * the keys they had) and as this trunk's. An archive from another trunk (a backup restored
 * into the wrong place) would otherwise show its history as this one's, and hide this
 * trunk's entries under the same keys.
 */
export function parseArchive(
  raw: string,
  key: string,
  layout: RefLayout,
  trunkId: string,
): RefEntry[] {
  let o: { v?: unknown; seq?: unknown; trunk?: unknown; entries?: unknown };
  try {
    o = JSON.parse(raw);
  } catch {
    throw new TrunkError(`${key} is not valid JSON (truncated or damaged)`, "corrupt");
  }
  const ok = o && typeof o === "object" && o.v === 1 && o.seq === parseReflogKey(key) &&
    o.entries && typeof o.entries === "object" && !Array.isArray(o.entries);
  if (!ok) throw new TrunkError(`${key} is not a ref log archive`, "corrupt");
  checkSeal(o, key);
  if (o.trunk !== trunkId) {
    throw new TrunkError(
      `${key} belongs to trunk ${
        JSON.stringify(typeof o.trunk === "string" ? o.trunk.slice(0, 64) : o.trunk ?? null)
      }, not this one (${trunkId})`,
      "corrupt",
    );
  }
  return Object.entries(o.entries as Record<string, unknown>).flatMap(([k, v]) => {
    if (typeof v !== "string" || !layout.parts(k)) {
      throw new TrunkError(`${key} holds a malformed entry under ${k}`, "corrupt");
    }
    let e: RefEntry;
    try {
      e = parseEntry(v, k, layout);
    } catch (e) {
      // One entry no reader may use (a ref name git refuses): the rest of the trail stands.
      if (e instanceof UnsafeEntryError) return [];
      throw e;
    }
    if (e.trunk !== undefined && e.trunk !== trunkId) {
      throw new TrunkError(`${key} holds ${k} of another trunk (${e.trunk})`, "corrupt");
    }
    return [e];
  });
}

/** What to do about an archive that cannot be read: said once, by `trunks log` and `check`. */
export const DAMAGED_ARCHIVE_FIX =
  "restore it from a mirror or backup: trunks log lacks the entries it archived until then (pushes and fetches never read it); deleting it gives them up";

/**
 * One listed archive, read and parsed (`parseArchive`); one larger than an archive may be
 * is refused unread. Null when it is gone since the listing.
 */
export async function readArchive(
  store: Store,
  listed: ListEntry,
  layout: RefLayout,
  trunkId: string,
): Promise<RefEntry[] | null> {
  if (listed.size > ARCHIVE_MAX_BYTES) {
    throw new TrunkError(
      `${listed.key} is ${listed.size} bytes, more than any archive holds (${ARCHIVE_MAX_BYTES})`,
      "corrupt",
    );
  }
  // The listing may understate what a get returns: no more than an archive holds is read.
  const raw = await getSmall(store, listed.key, ARCHIVE_MAX_BYTES, "archive");
  return raw ? parseArchive(new TextDecoder().decode(raw), listed.key, layout, trunkId) : null;
}

export interface AuditEntry extends RefEntry {
  /** True when the entry was pruned from the live log and is read from `reflog/`. */
  archived: boolean;
}

/**
 * Every entry known, archived and live, each once, oldest first: each ref's in seq
 * order, refs interleaved by time; only `ref`'s when given. An archive that cannot be read
 * (damaged, another trunk's) or a live entry of another trunk is an error, or, given
 * `onDamaged`, left out and told to it in one line saying what to do: the rest of the
 * trail stands.
 */
export async function readAuditLog(
  store: Store,
  cache: TrunkCache,
  trunk: TrunkKeys,
  ref?: string,
  onDamaged?: (key: string, message: string) => void,
): Promise<AuditEntry[]> {
  const layout = refLayout(trunk.format);
  // The live log first, then the archives: a prune archives before it deletes, so an entry
  // gone from refs/ by the time it was listed or read is in an archive listed afterwards.
  // Listed at once, a prune between the two listings would leave its entries in neither.
  const live = await readRefLog(store, cache, trunk);
  const archives = await store.list(REFLOG_PREFIX);
  const byKey = new Map<string, AuditEntry>();
  const archived = await mapLimit(
    archives.filter((e) => parseReflogKey(e.key) !== null),
    store.capabilities.parallelism,
    async (e) => {
      try {
        return await readArchive(store, e, layout, trunk.id) ?? [];
      } catch (err) {
        if (!onDamaged || !(err instanceof TrunkError)) throw err;
        onDamaged(e.key, `${err.message}; ${DAMAGED_ARCHIVE_FIX}`);
        return [];
      }
    },
  );
  for (const e of archived.flat()) byKey.set(`${e.ref}\0${e.seq}`, { ...e, archived: true });
  for (const e of live) {
    if (e.trunk !== undefined && e.trunk !== trunk.id) {
      // Copied in from another trunk: its history is not this one's (trunks check names it).
      const key = layout.entryKey(e.ref, e.seq);
      const message =
        `${key} belongs to another trunk (${e.trunk}), not this one (${trunk.id}): left out of the log; trunks check names it`;
      if (!onDamaged) throw new TrunkError(message, "corrupt");
      onDamaged(key, message);
      continue;
    }
    byKey.set(`${e.ref}\0${e.seq}`, { ...e, archived: false });
  }
  const entries = [...byKey.values()].filter((e) => ref === undefined || e.ref === ref);
  // A ref's order is its seq: each entry was created on top of the one before, whatever
  // the clock of the machine that wrote it said. Across refs, time orders, each entry taken
  // as no earlier than its ref's entry before it (a clock behind another's).
  entries.sort((a, b) => a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : a.seq - b.seq);
  const at = new Map<AuditEntry, string>();
  let last: AuditEntry | null = null;
  for (const e of entries) {
    const time = typeof e.time === "string" ? e.time : "";
    const before = last?.ref === e.ref ? at.get(last)! : "";
    at.set(e, time > before ? time : before);
    last = e;
  }
  return entries.sort((a, b) => {
    const ta = at.get(a)!, tb = at.get(b)!;
    return ta < tb ? -1 : ta > tb ? 1 : a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : a.seq - b.seq;
  });
}
