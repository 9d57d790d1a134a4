import { createHash } from "node:crypto";
import { assert, assertEquals } from "../assert.ts";
import { decodeRefSegment, encodeRef, encodesAs } from "../../src/trunk/refcodec.ts";
import { parseRefEntryKey, refEntryKey } from "../keys.ts";
import { assertKey } from "../../src/storage/store.ts";

Deno.test("ref names round-trip through one key segment", () => {
  const names = [
    "HEAD",
    "refs/heads/main",
    "refs/heads/Feature/Auth",
    "refs/tags/v1.0.0-rc.1",
    "refs/heads/ünïcode/名前",
    "refs/heads/with space",
    "refs/heads/a=b_c~d%e",
  ];
  for (const n of names) {
    const seg = encodeRef(n);
    assert(!seg.includes("/") && !seg.includes("~"), seg);
    assertKey(`refs/${seg}/000000000001`);
    assertKey(`refs/${seg}~000000000001`);
    assertEquals(decodeRefSegment(seg), n);
  }
});

Deno.test("refs differing only in case never collide, even on case-folding file systems", () => {
  const a = encodeRef("refs/heads/main").toLowerCase();
  const b = encodeRef("refs/heads/Main").toLowerCase();
  const c = encodeRef("refs/heads/MAIN").toLowerCase();
  assertEquals(new Set([a, b, c]).size, 3);
});

Deno.test("very long ref names are hashed, stay unique and fit a file name", () => {
  const base = "refs/heads/" + "x".repeat(400);
  const one = encodeRef(base + "1");
  const two = encodeRef(base + "2");
  assert(one.length <= 180 && two.length <= 180);
  assert(one !== two);
  assertEquals(decodeRefSegment(one), null);
});

Deno.test("a long name's key ends in the SHA-256 of the name, as every trunk stored it", () => {
  // node:crypto is loaded on first use there (off the helper's start): same keys as before.
  const ref = "refs/heads/" + "Ü".repeat(100);
  const hash = createHash("sha256").update(ref).digest("hex");
  const key = encodeRef(ref);
  assertEquals(key.length, 180);
  assertEquals(key.slice(-66), `==${hash}`);
  assertEquals(encodeRef(ref), key);
});

Deno.test("ref entry keys sort numerically by seq and parse back", () => {
  const k9 = refEntryKey("refs/heads/main", 9);
  const k10 = refEntryKey("refs/heads/main", 10);
  assert(k9 < k10);
  assertEquals(parseRefEntryKey(k10), {
    enc: "refs=2fheads=2fmain",
    ref: "refs/heads/main",
    seq: 10,
  });
  assertEquals(parseRefEntryKey("refs/x/12"), null);
});

/** The codec as first written (a string per byte, a regex per character): the reference. */
function referenceEncode(ref: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(ref)) {
    const c = String.fromCharCode(byte);
    if (
      (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39) || c === "." || c === "-"
    ) {
      out += c;
    } else if (byte >= 0x41 && byte <= 0x5a) out += "_" + c.toLowerCase();
    else out += "=" + byte.toString(16).padStart(2, "0");
  }
  return out;
}

function referenceDecode(seg: string): string | null {
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
    } else if (/[a-z0-9.\-]/.test(c)) bytes.push(c.charCodeAt(0));
    else return null;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(bytes));
  } catch {
    return null;
  }
}

Deno.test("the codec's fast paths give what the reference gives, malformed segments included", () => {
  let seed = 7;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  const alphabet = "aZz09.-_=/~é名\u0000 Ab=2f=zz_=e9=c3=a9=ff_1";
  for (let i = 0; i < 3000; i++) {
    let s = "";
    for (let j = rand(30); j > 0; j--) s += alphabet[rand(alphabet.length)];
    if (s.length <= 50) assertEquals(encodeRef(s), referenceEncode(s), JSON.stringify(s));
    assertEquals(decodeRefSegment(s), referenceDecode(s), JSON.stringify(s));
    assertEquals(decodeRefSegment(referenceEncode(s)), s, JSON.stringify(s));
  }
  // Bytes that are not UTF-8, and a lone "_" or "=" at the end.
  for (const seg of ["=ff", "=c3", "a_", "a=", "a=f", "=C3=A9", "_A", "=c3=a9x"]) {
    assertEquals(decodeRefSegment(seg), referenceDecode(seg), seg);
  }
});

Deno.test("encodesAs agrees with comparing encodeRef's result, for names and keys of every kind", () => {
  // Deterministic: names from an alphabet with every class the encoding treats apart.
  let seed = 19;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
  const alphabet = [
    "a",
    "z",
    "0",
    "9",
    ".",
    "-",
    "A",
    "Z",
    "_",
    "=",
    "/",
    " ",
    "~",
    "\n",
    "é",
    "名",
    "\ud800",
    "😀",
    "\u007f",
  ];
  const name = () => {
    const n = rand(3) === 0 ? 150 + rand(120) : rand(24);
    let s = rand(2) ? "refs/heads/" : "";
    for (let i = 0; i < n; i++) s += alphabet[rand(alphabet.length)];
    return s;
  };
  let agreed = 0;
  for (let i = 0; i < 4_000; i++) {
    const ref = name();
    const own = encodeRef(ref);
    const other = encodeRef(name());
    // Its own encoding, another name's, and its own cut, extended or with one character changed.
    const cut = own.slice(0, Math.max(0, own.length - 1 - rand(3)));
    const at = rand(own.length + 1);
    const changed = own.slice(0, at) + alphabet[rand(6)] + own.slice(at + 1);
    for (const enc of [own, other, cut, own + "a", own + "=2f", changed, ""]) {
      assertEquals(encodesAs(ref, enc), encodeRef(ref) === enc, `${JSON.stringify(ref)} ${enc}`);
      agreed++;
    }
  }
  assertEquals(agreed, 28_000);
  assert(encodesAs("refs/heads/Main", "refs=2fheads=2f_main"));
  assert(!encodesAs("refs/heads/main", "refs=2fheads=2f_main"));
});
