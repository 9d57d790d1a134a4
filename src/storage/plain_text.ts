/**
 * Text that came from a store or from another machine (a ref name, an entry's writer)
 * shown on a terminal: characters a terminal acts on (C0 and C1 controls, DEL: colours,
 * cursor moves, window titles, a newline forging another line), that some terminals and
 * most log viewers break a line at (U+2028, U+2029: another forged line), or that reorder
 * what it shows (bidirectional overrides) are written as visible escapes instead.
 */
const UNSAFE =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** Whether `s` holds a character `escapeUnsafe` would escape. */
export function hasUnsafe(s: string): boolean {
  UNSAFE.lastIndex = 0;
  return UNSAFE.test(s);
}

/** `s` with every unsafe character as `\u{hex}`. */
export function escapeUnsafe(s: string): string {
  return s.replace(UNSAFE, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

/** What JSON.stringify leaves unescaped of UNSAFE (it escapes C0 controls itself). */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * JSON text (JSON.stringify's, pretty or not) with unsafe characters as `\uXXXX`: the same
 * document, since they occur only inside strings, and safe to print.
 */
export function escapeUnsafeJson(json: string): string {
  return json.replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
