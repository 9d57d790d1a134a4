/**
 * Seals for the small JSON objects of a trunk (ref entries, trunk.json): a `"sum"` field
 * holding the SHA-256 of the object's canonical JSON without it. A stored object damaged
 * after it was written (a flipped byte that still parses, an edited oid) is then detected
 * and named, instead of silently moving a ref. Objects written before seals existed have
 * no `sum` and are accepted as they are.
 */
import { sha256Hex } from "./node_crypto.ts";
import { digest as webDigest, toHexString } from "../pack/hash.ts";
import { sha256 as plainSha256 } from "../storage/sha256.ts";
import { TrunkError } from "./errors.ts";

/** JSON with object keys sorted at every level: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  return canonical(value, undefined) as string;
}

/**
 * canonicalJson, leaving out the top level's `skip` key. Loops rather than array methods:
 * it runs for every ref entry written or read (tens of thousands in a push or a clone).
 */
function canonical(value: unknown, skip: string | undefined): string | undefined {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) {
      if (i) out += ",";
      out += canonical(value[i], undefined) ?? "";
    }
    return out + "]";
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  if (flat(obj, keys)) {
    if (rebuildable(obj, keys)) {
      // A plain copy with its keys made in sorted order is written in that order by
      // JSON.stringify's own fast path: twice as fast as its key-list path below, for the
      // same text (every value is a primitive or an array of them: nothing nested is
      // reordered either way).
      const sorted: Record<string, unknown> = {};
      for (const k of keys) if (k !== skip) sorted[k] = obj[k];
      return JSON.stringify(sorted);
    }
    // JSON.stringify writes an object's keys in the order of a key list, natively; its
    // list applies to nested objects too, so only for values without any (a ref entry).
    return JSON.stringify(obj, skip === undefined ? keys : keys.filter((k) => k !== skip));
  }
  let out = "{";
  let first = true;
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined || k === skip) continue;
    if (!first) out += ",";
    first = false;
    out += `${JSON.stringify(k)}:${canonical(v, undefined)}`;
  }
  return out + "}";
}

/**
 * Whether a new object given `keys` in order lists them in that order and is written as
 * `obj` is: a plain object (an inherited `toJSON`, a Date's, writes another text), and no
 * key that an object lists first whatever the order it was made in (an array index, which
 * starts with a digit) or that sets the prototype instead of a property (`__proto__`).
 */
function rebuildable(obj: object, keys: string[]): boolean {
  const proto = Object.getPrototypeOf(obj);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const k of keys) {
    const c = k.charCodeAt(0);
    if ((c >= 0x30 && c <= 0x39) || k === "__proto__") return false;
  }
  return true;
}

/** Every value a primitive, or an array of primitives other than undefined. */
function flat(obj: Record<string, unknown>, keys: string[]): boolean {
  for (const k of keys) {
    const v = obj[k];
    if (v === null || typeof v !== "object") {
      if (typeof v === "function" || typeof v === "symbol" || typeof v === "bigint") return false;
      continue;
    }
    if (!Array.isArray(v)) return false;
    for (const x of v) {
      if (x === undefined || (x !== null && typeof x === "object") || typeof x === "function") {
        return false;
      }
    }
  }
  return true;
}

/**
 * Seals hashed in plain code (storage/sha256.ts) before node:crypto takes over: a push of
 * a few refs then never loads node:crypto (~25 ms, on its path between the segment's upload
 * and the entries' creates). Past these, one load and native hashes beat plain code.
 */
const PLAIN_SEALS_MAX = 64;
let plainSeals = 0;
const utf8 = new TextEncoder();

function digest<T extends object>(value: T): string {
  const text = canonical(value, "sum")!;
  if (plainSeals < PLAIN_SEALS_MAX) {
    plainSeals++;
    return toHexString(plainSha256(utf8.encode(text)));
  }
  return sha256Hex(text);
}

/** The object with its `sum` set. */
export function seal<T extends object>(value: T): T & { sum: string } {
  return { ...value, sum: digest(value) };
}

/**
 * Throws a "corrupt" TrunkError naming `what` when the object carries a `sum` that does
 * not match its content; an object without `sum` (older writers) passes.
 */
export function checkSeal(value: object, what: string): void {
  const sum = (value as { sum?: unknown }).sum;
  if (sum === undefined) return;
  if (typeof sum !== "string" || sum !== digest(value)) throw unsealed(what);
}

/**
 * checkSeal hashing with WebCrypto: the same check without loading node:crypto (~20 ms,
 * and most of Deno's node layer with it), for trunk.json's cached copy that every
 * `git fetch` checks while its listing is still being sent.
 */
export async function checkSealAsync(value: object, what: string): Promise<void> {
  const sum = (value as { sum?: unknown }).sum;
  if (sum === undefined) return;
  if (typeof sum !== "string" || !await sealHolds(value)) throw unsealed(what);
}

/**
 * Whether `value` carries a `sum` that matches its content, hashed with WebCrypto: true
 * lets a caller skip checkSeal's (node:crypto) hash of the same value; false says only
 * that checkSeal must judge it (no seal, a bad one, or a value it cannot hash).
 */
export async function sealHolds(value: object): Promise<boolean> {
  const sum = (value as { sum?: unknown }).sum;
  if (typeof sum !== "string") return false;
  const text = canonical(value, "sum");
  if (text === undefined) return false;
  return sum === toHexString(await webDigest("sha256", new TextEncoder().encode(text)));
}

function unsealed(what: string): TrunkError {
  return new TrunkError(
    `${what} does not match its seal (damaged after it was written); run trunks check, or restore it from a mirror or backup`,
    "corrupt",
  );
}
