/**
 * Snapshots: `refs/~snapshot/<seq>` holds the latest entry of every ref, byte for byte,
 * as of its creation. A reader that lacks many entries (a fresh clone) takes them from
 * the newest snapshot instead of one GET per ref; the entries themselves stay the truth.
 *
 *   {"v":1,"trunk":"<id>","seq":n,"time":"...","entries":{"<entry key>":"<entry JSON>"},"sum":"..."}
 *
 * An entry is used only when the listing still shows its key with the same size, and it
 * is validated as if it had been read from its own key (parseEntry: shape, key, seal).
 * A snapshot that is missing (deleted by maintenance after it was listed) or fails
 * validation is not used: the entries are read one by one, and `trunks check` names it.
 */
import { getBytes, type Store } from "../storage/store.ts";
import { TrunkError } from "./errors.ts";
import { parseRefEntryKey, snapshotKey } from "./layout.ts";
import { createHash } from "./node_crypto.ts";
import { checkSeal } from "./seal.ts";

export interface Snapshot {
  trunk: string;
  seq: number;
  time: string;
  /** Entry key -> the entry's stored JSON. */
  entries: Map<string, string>;
}

/** Parse and validate; throws a "corrupt" TrunkError naming the key. */
export function parseSnapshot(raw: string, key: string, seq: number): Snapshot {
  let o: {
    v?: unknown;
    trunk?: unknown;
    seq?: unknown;
    time?: unknown;
    entries?: unknown;
    sum?: unknown;
  };
  try {
    o = JSON.parse(raw);
  } catch {
    throw new TrunkError(`snapshot ${key} is not valid JSON (truncated or damaged)`, "corrupt");
  }
  const entries = o?.entries;
  const shaped = o && typeof o === "object" && o.v === 1 && typeof o.trunk === "string" &&
    o.seq === seq && typeof o.time === "string" && entries && typeof entries === "object" &&
    !Array.isArray(entries);
  const map = shaped ? entryMap(entries as Record<string, unknown>) : null;
  if (!map) throw new TrunkError(`snapshot ${key} is not a ref snapshot of seq ${seq}`, "corrupt");
  if (!sealedAsWritten(raw, o as SnapshotHead, map)) checkSeal(o, `snapshot ${key}`);
  return { trunk: o.trunk as string, seq, time: o.time as string, entries: map };
}

interface SnapshotHead {
  trunk: string;
  seq: number;
  time: string;
  sum?: unknown;
}

/** The entries as a map, or null when a key is not an entry key or a value not a string. */
function entryMap(entries: Record<string, unknown>): Map<string, string> | null {
  const out = new Map<string, string>();
  for (const k in entries) {
    const v = entries[k];
    if (typeof v !== "string" || !parseRefEntryKey(k)) return null;
    out.set(k, v);
  }
  return out;
}

/**
 * The text `encodeSnapshot` writes: `{"v":1,"trunk":..,"seq":..,"time":..,"entries":E,"sum":..}`,
 * where E is already the canonical JSON of the entries. Such a text's seal is checked by
 * hashing E as stored, not a canonical copy rebuilt from the parsed object (tens of MB at
 * 20,000 refs). Any other text (another writer's layout) goes through `checkSeal`.
 */
function sealedAsWritten(raw: string, o: SnapshotHead, map: Map<string, string>): boolean {
  if (typeof o.sum !== "string") return false;
  const head = snapshotHead(o.trunk, o.seq, o.time);
  const tail = `,"sum":${JSON.stringify(o.sum)}}`;
  if (!raw.startsWith(head) || !raw.endsWith(tail)) return false;
  const entriesJson = raw.slice(head.length, raw.length - tail.length);
  if (!isCanonicalText(entriesJson, map)) return false;
  return snapshotSum(o.trunk, o.seq, o.time, entriesJson) === o.sum;
}

/**
 * Whether `text`, which parsed to `map`, is the canonical JSON of `map` (so hashing it as
 * stored is the canonical check), without building that copy. Canonical JSON is the
 * shortest text of its value: a key given twice (JSON.parse keeps the last value), a
 * space or a longer escape all make the text longer. So the text is canonical exactly
 * when it is as long as the canonical one and the keys, in the order the text gives
 * them, are in canonical order.
 */
function isCanonicalText(text: string, map: Map<string, string>): boolean {
  let length = map.size ? 1 + map.size : 2; // braces and commas
  let prev: string | undefined;
  for (const [k, v] of map) {
    if (prev !== undefined && !(prev < k)) return false;
    prev = k;
    length += JSON.stringify(k).length + 1 + JSON.stringify(v).length;
  }
  return length === text.length;
}

function snapshotHead(trunkId: string, seq: number, time: string): string {
  return `{"v":1,"trunk":${JSON.stringify(trunkId)},"seq":${seq},"time":${
    JSON.stringify(time)
  },"entries":`;
}

/** The seal (seal.ts): SHA-256 of the canonical JSON, whose `entries` part is given as text. */
function snapshotSum(trunkId: string, seq: number, time: string, entriesJson: string): string {
  return createHash("sha256")
    .update(`{"entries":`)
    .update(entriesJson)
    .update(
      `,"seq":${seq},"time":${JSON.stringify(time)},"trunk":${JSON.stringify(trunkId)},"v":1}`,
    )
    .digest("hex");
}

export function encodeSnapshot(
  trunkId: string,
  seq: number,
  entries: Map<string, string>,
): Uint8Array {
  // The seal is the SHA-256 of the canonical JSON (seal.ts), whose `entries` part is the
  // same text as the stored one: built once, not as an object, a canonical copy and a
  // stringified copy (tens of MB at 20,000 refs).
  const keys = [...entries.keys()].sort((a, b) => a < b ? -1 : 1);
  const parts: string[] = [];
  for (const k of keys) parts.push(`${JSON.stringify(k)}:${JSON.stringify(entries.get(k))}`);
  const entriesJson = `{${parts.join(",")}}`;
  parts.length = 0;
  const time = new Date().toISOString();
  const sum = snapshotSum(trunkId, seq, time, entriesJson);
  return new TextEncoder().encode(
    `${snapshotHead(trunkId, seq, time)}${entriesJson},"sum":"${sum}"}`,
  );
}

/**
 * The snapshot at `seq`, or null when it is gone or unusable (another trunk's, damaged):
 * it only saves requests, so the caller reads entries instead.
 */
export async function loadSnapshot(
  store: Store,
  trunkId: string,
  seq: number,
): Promise<Snapshot | null> {
  const key = snapshotKey(seq);
  const raw = await getBytes(store, key);
  if (!raw) return null;
  try {
    const s = parseSnapshot(new TextDecoder().decode(raw), key, seq);
    return s.trunk === trunkId ? s : null;
  } catch (e) {
    if (e instanceof TrunkError) return null;
    throw e;
  }
}

/** Create snapshot `seq` exclusively; false when another writer made that seq first. */
export async function writeSnapshot(
  store: Store,
  trunkId: string,
  seq: number,
  entries: Map<string, string>,
): Promise<boolean> {
  return await store.create(snapshotKey(seq), encodeSnapshot(trunkId, seq, entries));
}
