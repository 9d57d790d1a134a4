/**
 * Snapshots: `refs/~snapshot/<seq>` holds the latest entry of every ref, byte for byte,
 * as of its creation. A reader that lacks many entries (a fresh clone) takes them from
 * the newest snapshot instead of one GET per ref; the entries themselves stay the truth.
 *
 *   {"v":1,"trunk":"<id>","seq":n,"time":"...","entries":{"<entry key>":"<entry JSON>"},"sum":"..."}
 *
 * An entry is used only when the listing still shows its key with the same size, and it
 * is validated as if it had been read from its own key (parseEntry: size, shape, key and
 * every rule of docs/security.md) except for its own seal when the snapshot carries a
 * seal that checked (`sealed`): that SHA-256 covers the whole canonical text, every
 * entry's bytes included, so hashing each entry again (20,000 hashes in a clone of 20,000
 * refs) would find nothing the snapshot's seal did not. An unsealed snapshot (no `sum`)
 * vouches for nothing: its entries' seals are checked one by one. Entries read from their
 * own keys are always checked in full, and `trunks check` checks every seal.
 * A snapshot that is missing (deleted by maintenance after it was listed) or fails
 * validation is not used: the entries are read one by one, and `trunks check` names it.
 */
import { getBytes, type Store } from "../storage/store.ts";
import { TrunkError } from "./errors.ts";
import { type RefLayout, refLayout, snapshotKey, type TrunkKeys } from "./layout.ts";
import { createHash } from "./node_crypto.ts";
import { checkSeal } from "./seal.ts";
import { byteLength } from "./cache.ts";

export interface Snapshot {
  trunk: string;
  seq: number;
  time: string;
  /** Entry key -> the entry's stored JSON. */
  entries: Map<string, string>;
  /** The snapshot carried a seal and it matched: every entry's bytes are as written. */
  sealed: boolean;
}

/**
 * Parse and validate; throws a "corrupt" TrunkError naming the key. Its entries' keys are
 * in `layout`, the trunk's (a snapshot holding another shape's key is not used).
 */
export function parseSnapshot(
  raw: string,
  key: string,
  seq: number,
  layout: RefLayout,
): Snapshot {
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
  const map = shaped ? entryMap(entries as Record<string, unknown>, layout) : null;
  if (!map) throw new TrunkError(`snapshot ${key} is not a ref snapshot of seq ${seq}`, "corrupt");
  if (!sealedAsWritten(raw, o as SnapshotHead, map)) checkSeal(o, `snapshot ${key}`);
  // checkSeal passes a text without `sum` (older writers): then nothing vouches for it.
  const sealed = o.sum !== undefined;
  return { trunk: o.trunk as string, seq, time: o.time as string, entries: map, sealed };
}

interface SnapshotHead {
  trunk: string;
  seq: number;
  time: string;
  sum?: unknown;
}

/** The entries as a map, or null when a key is not an entry key or a value not a string. */
function entryMap(
  entries: Record<string, unknown>,
  layout: RefLayout,
): Map<string, string> | null {
  const out = new Map<string, string>();
  for (const k in entries) {
    const v = entries[k];
    if (typeof v !== "string" || !layout.parts(k)) return null;
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

const HASH_SLICE = 1 << 20;

function snapshotHead(trunkId: string, seq: number, time: string): string {
  return `{"v":1,"trunk":${JSON.stringify(trunkId)},"seq":${seq},"time":${
    JSON.stringify(time)
  },"entries":`;
}

/**
 * The seal (seal.ts): SHA-256 of the canonical JSON, whose `entries` part is given as text
 * or as its UTF-8 bytes (hashed in slices: no whole copy handed over at once).
 */
function snapshotSum(
  trunkId: string,
  seq: number,
  time: string,
  entriesJson: string | Uint8Array,
): string {
  const hash = createHash("sha256").update(`{"entries":`);
  if (typeof entriesJson === "string") hash.update(entriesJson);
  else {
    for (let i = 0; i < entriesJson.length; i += HASH_SLICE) {
      hash.update(entriesJson.subarray(i, i + HASH_SLICE));
    }
  }
  return hash
    .update(
      `,"seq":${seq},"time":${JSON.stringify(time)},"trunk":${JSON.stringify(trunkId)},"v":1}`,
    )
    .digest("hex");
}

/**
 * The snapshot's bytes: `{"v":1,..,"entries":E,"sum":".."}` with E the canonical JSON of
 * the entries, sealed over the canonical JSON of the whole (seal.ts). Written part by part
 * into one buffer of the exact size, and E hashed from that buffer: at 20,000 refs every
 * whole-text copy (the parts, E, the snapshot as a string) is another ~9 MB at the peak of
 * a maintenance step. `time` is for tests; the default is now.
 */
export function encodeSnapshot(
  trunkId: string,
  seq: number,
  entries: Map<string, string>,
  time = new Date().toISOString(),
): Uint8Array {
  const keys = [...entries.keys()].sort((a, b) => a < b ? -1 : 1);
  const piece = (i: number) =>
    `${i ? "," : ""}${JSON.stringify(keys[i])}:${JSON.stringify(entries.get(keys[i]))}`;
  const head = snapshotHead(trunkId, seq, time);
  const tailBytes = `,"sum":"${"0".repeat(64)}"}`.length;
  // Pieces are made twice (sized, then written) rather than kept: they are small.
  let size = byteLength(head) + 2 + tailBytes;
  for (let i = 0; i < keys.length; i++) size += byteLength(piece(i));
  const out = new Uint8Array(size);
  const encoder = new TextEncoder();
  let at = encoder.encodeInto(head, out).written;
  const entriesStart = at;
  out[at++] = 0x7b; // {
  for (let i = 0; i < keys.length; i++) {
    at += encoder.encodeInto(piece(i), out.subarray(at)).written;
  }
  out[at++] = 0x7d; // }
  const sum = snapshotSum(trunkId, seq, time, out.subarray(entriesStart, at));
  at += encoder.encodeInto(`,"sum":"${sum}"}`, out.subarray(at)).written;
  if (at !== size) throw new Error(`snapshot encoding: wrote ${at} bytes of ${size}`);
  return out;
}

/**
 * The snapshot at `seq`, or null when it is gone or unusable (another trunk's, damaged):
 * it only saves requests, so the caller reads entries instead.
 */
export async function loadSnapshot(
  store: Store,
  trunk: TrunkKeys,
  seq: number,
): Promise<Snapshot | null> {
  const key = snapshotKey(seq);
  const raw = await getBytes(store, key);
  if (!raw) return null;
  try {
    const s = parseSnapshot(new TextDecoder().decode(raw), key, seq, refLayout(trunk.format));
    return s.trunk === trunk.id ? s : null;
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
