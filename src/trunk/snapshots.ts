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
import { getAtMost, readUpTo, type Store } from "../storage/store.ts";
import { TrunkError } from "./errors.ts";
import { type RefLayout, refLayout, snapshotKey, type TrunkKeys } from "./layout.ts";
import { createHash } from "./node_crypto.ts";
import { digest, toHexString } from "../pack/hash.ts";
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
  hashed?: HashedAsWritten,
): Snapshot {
  return sealedSnapshot(raw, key, seq, parsedSnapshot(raw, key, seq, layout), hashed);
}

type Parsed = { o: SnapshotHead; map: Map<string, string> };

/** The text parsed and shaped as a snapshot of `seq` (its seal is `sealedSnapshot`'s). */
function parsedSnapshot(raw: string, key: string, seq: number, layout: RefLayout): Parsed {
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
  return { o: o as SnapshotHead, map };
}

/** The parsed snapshot once its seal checked (throws as `parseSnapshot`). */
function sealedSnapshot(
  raw: string,
  key: string,
  seq: number,
  { o, map }: Parsed,
  hashed?: HashedAsWritten,
): Snapshot {
  if (!sealedAsWritten(raw, o, map, hashed)) checkSeal(o, `snapshot ${key}`);
  // checkSeal passes a text without `sum` (older writers): then nothing vouches for it.
  const sealed = o.sum !== undefined;
  return { trunk: o.trunk, seq, time: o.time, entries: map, sealed };
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
function sealedAsWritten(
  raw: string,
  o: SnapshotHead,
  map: Map<string, string>,
  hashed?: HashedAsWritten,
): boolean {
  if (typeof o.sum !== "string") return false;
  const head = snapshotHead(o.trunk, o.seq, o.time);
  const tail = `,"sum":${JSON.stringify(o.sum)}}`;
  if (!raw.startsWith(head) || !raw.endsWith(tail)) return false;
  const entriesLength = raw.length - head.length - tail.length;
  if (!isCanonicalText(entriesLength, map)) return false;
  // Hashed from the stored bytes under this very head (see `hashAsWritten`): the same
  // text, so the same digest. A text it did not hash (another head) is hashed here.
  if (hashed && hashed.head === head) return hashed.sum === o.sum;
  const entriesJson = raw.slice(head.length, raw.length - tail.length);
  return snapshotSum(o.trunk, o.seq, o.time, entriesJson) === o.sum;
}

/** What `hashAsWritten` hashed: the head it found, and the seal's digest of the bytes. */
export interface HashedAsWritten {
  head: string;
  sum: string;
}

const SUM_TAIL = /^,"sum":"[0-9a-f]{64}"}$/;
/** `,"sum":"<64 hex digits>"}`: how every text `encodeSnapshot` writes ends. */
const SUM_TAIL_BYTES = 74;
/** Where `"entries":` is looked for: a head holds a trunk id, a seq and a time. */
const HEAD_MAX_BYTES = 1024;

/**
 * The seal's digest of a snapshot's stored bytes, when they are laid out as
 * `encodeSnapshot` writes them (else null), by WebCrypto: without loading node:crypto
 * (~25 ms of CPU), which a clone of many refs loaded for this hash alone. Only a guess at
 * the head until `sealedAsWritten` compares it with the parsed text's own: there the
 * digest stands for the text's hash, as the bytes decode to that text (invalid UTF-8,
 * decoded otherwise, only fails to match and goes to the canonical check, as any text
 * whose digest differs).
 *
 * `raw` is this call's to reuse (its caller has decoded it and reads it no more): what is
 * hashed, `{"entries":` + the entries + the seal's tail, is laid out in its own memory,
 * which the stored head and `,"sum":..}` leave room for (the seal's tail holds the same
 * fields as the head, 10 bytes shorter). A copy of its own was another 9 MB of fresh memory
 * at 20,000 refs, beside WebCrypto's (the clone's helper peaked 8 MB higher, ~2,100 more
 * page faults).
 */
export async function hashAsWritten(raw: Uint8Array): Promise<HashedAsWritten | null> {
  if (raw.length < SUM_TAIL_BYTES) return null;
  const dec = new TextDecoder();
  if (!SUM_TAIL.test(dec.decode(raw.subarray(raw.length - SUM_TAIL_BYTES)))) return null;
  const start = dec.decode(raw.subarray(0, Math.min(HEAD_MAX_BYTES, raw.length)));
  const at = start.indexOf(`,"entries":`);
  let h: { trunk?: unknown; seq?: unknown; time?: unknown };
  try {
    h = JSON.parse(start.slice(0, at < 0 ? 0 : at) + "}");
  } catch {
    return null;
  }
  if (typeof h.trunk !== "string" || typeof h.seq !== "number" || typeof h.time !== "string") {
    return null;
  }
  const head = snapshotHead(h.trunk, h.seq, h.time);
  const enc = new TextEncoder();
  const headBytes = enc.encode(head);
  for (let i = 0; i < headBytes.length; i++) if (raw[i] !== headBytes[i]) return null;
  const bodyEnd = raw.length - SUM_TAIL_BYTES;
  const pre = enc.encode(`{"entries":`);
  const post = enc.encode(sealTail(h.seq, h.time, h.trunk));
  const bodyAt = pre.length;
  const postAt = bodyAt + bodyEnd - headBytes.length;
  if (postAt + post.length > raw.length) return null; // never, as laid out above
  raw.copyWithin(bodyAt, headBytes.length, bodyEnd);
  raw.set(pre);
  raw.set(post, postAt);
  return { head, sum: toHexString(await digest("sha256", raw.subarray(0, postAt + post.length))) };
}

/**
 * Whether a text of `textLength` that parsed to `map` is the canonical JSON of `map` (so
 * hashing it as stored is the canonical check), without building that copy. Canonical JSON
 * is the shortest text of its value: a key given twice (JSON.parse keeps the last value), a
 * space or a longer escape all make the text longer. So the text is canonical exactly
 * when it is as long as the canonical one and the keys, in the order the text gives
 * them, are in canonical order.
 */
function isCanonicalText(textLength: number, map: Map<string, string>): boolean {
  let length = map.size ? 1 + map.size : 2; // braces and commas
  let prev: string | undefined;
  for (const [k, v] of map) {
    if (prev !== undefined && !(prev < k)) return false;
    prev = k;
    length += JSON.stringify(k).length + 1 + JSON.stringify(v).length;
  }
  return length === textLength;
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
  return hash.update(sealTail(seq, time, trunkId)).digest("hex");
}

/** What the seal's canonical JSON holds after the entries. */
function sealTail(seq: number, time: string, trunkId: string): string {
  return `,"seq":${seq},"time":${JSON.stringify(time)},"trunk":${JSON.stringify(trunkId)},"v":1}`;
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
 * The most bytes a snapshot may take beside the refs whose latest entries are listed as
 * `latest`: it holds one entry per ref, each escaped into a JSON string (at most twice its
 * size, its key too), and entries of one ref differ little from seq to seq; eight times
 * that and a MiB leave room. A larger one (planted or damaged: 600 MB failed every clone
 * on "buffer exceeds maximum length") is not read; its refs are read one by one.
 */
export function snapshotMaxBytes(latest: Iterable<{ key: string; size: number }>): number {
  let bytes = 0;
  for (const e of latest) bytes += 2 * (e.key.length + e.size) + 6;
  return 8 * bytes + (1 << 20);
}

/**
 * The snapshot at `seq`, or null when it is gone or unusable (another trunk's, damaged,
 * over `maxBytes`): it only saves requests, so the caller reads entries instead.
 */
export async function loadSnapshot(
  store: Store,
  trunk: TrunkKeys,
  seq: number,
  maxBytes = Infinity,
): Promise<Snapshot | null> {
  const key = snapshotKey(seq);
  const body = await getAtMost(store, key, maxBytes);
  const raw = body && await readUpTo(body, maxBytes);
  if (!raw) return null;
  const text = new TextDecoder().decode(raw);
  // Hashed from the bytes, reused once decoded (WebCrypto, on another thread while the text
  // is parsed); a failure only leaves the hash to the seal's canonical check.
  const hashing = hashAsWritten(raw).catch(() => null);
  try {
    const parsed = parsedSnapshot(text, key, seq, refLayout(trunk.format));
    const s = sealedSnapshot(text, key, seq, parsed, (await hashing) ?? undefined);
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
