/**
 * Ref names as one key segment. Every backend accepts the result and no two refs
 * collide, even on case-insensitive file shares:
 *   [a-z0-9.-] stay; an upper-case letter X becomes `_x`; every other byte of the
 *   UTF-8 name becomes `=` and two lower-case hex digits (`/` is `=2f`).
 * Names whose encoding would be too long for a file name end in `==` and a hash; the
 * ref's real name is inside its entries.
 */
import { createHash } from "node:crypto";

const MAX_ENCODED = 180;
const enc = new TextEncoder();

export function encodeRef(ref: string): string {
  let out = "";
  for (const byte of enc.encode(ref)) {
    const c = String.fromCharCode(byte);
    if (
      (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39) || c === "." || c === "-"
    ) {
      out += c;
    } else if (byte >= 0x41 && byte <= 0x5a) {
      out += "_" + c.toLowerCase();
    } else {
      out += "=" + byte.toString(16).padStart(2, "0");
    }
  }
  if (out.length <= MAX_ENCODED) return out;
  return `${out.slice(0, MAX_ENCODED - 66)}==${sha256Hex(ref)}`;
}

/** The ref name, or null when the segment is a hashed long name (read it from the entry). */
export function decodeRefSegment(seg: string): string | null {
  if (seg.includes("==")) return null;
  const bytes: number[] = [];
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c === "_") {
      const next = seg[++i];
      if (!next || !/[a-z]/.test(next)) return null;
      bytes.push(next.toUpperCase().charCodeAt(0));
    } else if (c === "=") {
      const hex = seg.slice(i + 1, i + 3);
      if (!/^[0-9a-f]{2}$/.test(hex)) return null;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (/[a-z0-9.\-]/.test(c)) {
      bytes.push(c.charCodeAt(0));
    } else {
      return null;
    }
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(bytes));
  } catch {
    return null;
  }
}

// Synchronous SHA-256 for key names (WebCrypto is async-only).
function sha256Hex(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}
