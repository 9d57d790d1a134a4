/**
 * Ref names as one key segment. Every backend accepts the result and no two refs
 * collide, even on case-insensitive file shares:
 *   [a-z0-9.-] stay; an upper-case letter X becomes `_x`; every other byte of the
 *   UTF-8 name becomes `=` and two lower-case hex digits (`/` is `=2f`).
 * Names whose encoding would be too long for a file name end in `==` and a hash; the
 * ref's real name is inside its entries.
 */
import { createHash } from "./node_crypto.ts";

const MAX_ENCODED = 180;
const enc = new TextEncoder();

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/**
 * Char-code loops, not a regex or a string per byte: every entry read or written checks
 * its key this way (tens of thousands in a push or a clone of many refs).
 */
export function encodeRef(ref: string): string {
  let out = "";
  let ascii = true;
  for (let i = 0; i < ref.length; i++) {
    const c = ref.charCodeAt(i);
    if (c >= 0x80) {
      ascii = false;
      break;
    }
    out += encodeByte(c);
  }
  if (!ascii) {
    out = "";
    for (const byte of enc.encode(ref)) out += encodeByte(byte);
  }
  if (out.length <= MAX_ENCODED) return out;
  return `${out.slice(0, MAX_ENCODED - 66)}==${sha256Hex(ref)}`;
}

/**
 * Whether `encodeRef(ref) === enc`, compared character by character for the usual name
 * (ASCII, not hashed) without building its encoding: a clone checks every entry's key
 * this way, 20,000 strings built only to be compared.
 */
export function encodesAs(ref: string, enc: string): boolean {
  // A hashed long name (only hashing makes `==`: a plain `=` is followed by a hex digit).
  if (enc.length > MAX_ENCODED || enc.includes("==")) return encodeRef(ref) === enc;
  let j = 0;
  for (let i = 0; i < ref.length; i++) {
    const c = ref.charCodeAt(i);
    if (c >= 0x80) return encodeRef(ref) === enc;
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d) {
      if (enc.charCodeAt(j++) !== c) return false;
    } else if (c >= 0x41 && c <= 0x5a) {
      if (enc.charCodeAt(j) !== 0x5f || enc.charCodeAt(j + 1) !== c + 0x20) return false;
      j += 2;
    } else {
      const hex = HEX[c];
      if (
        enc.charCodeAt(j) !== 0x3d || enc.charCodeAt(j + 1) !== hex.charCodeAt(0) ||
        enc.charCodeAt(j + 2) !== hex.charCodeAt(1)
      ) return false;
      j += 3;
    }
  }
  // As long as `enc` (at most MAX_ENCODED), so `encodeRef` would not have hashed it.
  return j === enc.length;
}

function encodeByte(b: number): string {
  if ((b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2e || b === 0x2d) {
    return String.fromCharCode(b);
  }
  if (b >= 0x41 && b <= 0x5a) return "_" + String.fromCharCode(b + 0x20);
  return "=" + HEX[b];
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

/** The ref name, or null when the segment is a hashed long name (read it from the entry). */
export function decodeRefSegment(seg: string): string | null {
  if (seg.includes("==")) return null;
  // ASCII names (nearly all) are built as a string; other bytes go through UTF-8.
  let out = "";
  let bytes: number[] | null = null;
  for (let i = 0; i < seg.length; i++) {
    const c = seg.charCodeAt(i);
    let b: number;
    if (c === 0x5f) { // "_": the next letter, upper-cased
      const next = seg.charCodeAt(++i);
      if (!(next >= 0x61 && next <= 0x7a)) return null;
      b = next - 0x20;
    } else if (c === 0x3d) { // "=": two lower-case hex digits
      const hi = hexDigit(seg.charCodeAt(i + 1));
      const lo = hexDigit(seg.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return null;
      b = hi * 16 + lo;
      i += 2;
    } else if ((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d) {
      b = c;
    } else {
      return null;
    }
    if (b >= 0x80 && !bytes) bytes = Array.from(out, (ch) => ch.charCodeAt(0));
    if (bytes) bytes.push(b);
    else out += String.fromCharCode(b);
  }
  if (!bytes) return out;
  try {
    return utf8.decode(new Uint8Array(bytes));
  } catch {
    return null;
  }
}

// Synchronous SHA-256 for key names (WebCrypto is async-only).
function sha256Hex(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}
