/**
 * git's rules for ref names (git-check-ref-format(1)), for names read from a trunk and
 * written to one: a ref entry is written by whoever can write the store, and its name goes
 * into git's remote-helper protocol, where a newline or space would add or cut lines, and
 * into git's output (`git fetch`, `git branch -r`), which prints it raw. One rule more than
 * git's: no character that changes how the text around it is shown (`DISPLAY_UNSAFE`).
 */

/** Longer names are refused: git itself handles them badly and no real ref needs more. */
export const REF_NAME_MAX_BYTES = 1024;

/**
 * Characters git accepts in a ref name that change how a terminal or an editor shows the
 * text around them: C1 controls (U+0080-U+009F, which some terminals act on as on an
 * escape sequence), the bidirectional embeddings, overrides and isolates (U+202A-U+202E,
 * U+2066-U+2069: a name that reads as another, "Trojan Source"), and the line and paragraph
 * separators (another line in a log viewer). One writer of a shared trunk could make its
 * branch show as someone else's in every clone's `git fetch`. The bidirectional marks
 * (LRM, RLM, ALM), which only move the neutral characters beside them, stay allowed.
 */
const DISPLAY_UNSAFE = /[\u0080-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/**
 * Matches every name that breaks a rule of `badRefName` after its first two (and some that
 * break none): a control character or space, one of ~ ^ : ? * [ \, `..`, `@{`, an empty
 * component, a component starting with `.` or ending in `.lock`, a trailing `/` or `.`, a
 * `DISPLAY_UNSAFE` character.
 */
const SUSPECT =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u0020\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069~^:?*[\\]|\.\.|@\{|\/\/|\/\.|\.lock(?:\/|$)|[/.]$/;

/** Why `name` is not a valid full ref name (`refs/...`, or `HEAD`), or null when it is. */
export function badRefName(name: string): string | null {
  if (name === "HEAD") return null;
  if (!name.startsWith("refs/")) return "does not start with refs/";
  // Every rule below at once, for the usual name that breaks none (a clone checks 20,000):
  // a name this matches goes through the rules one by one, which say which it breaks.
  if (name.length * 3 <= REF_NAME_MAX_BYTES && name.isWellFormed() && !SUSPECT.test(name)) {
    return null;
  }
  // A UTF-16 unit is at most 3 bytes of UTF-8: most names need no encoding to know.
  if (
    name.length * 3 > REF_NAME_MAX_BYTES &&
    new TextEncoder().encode(name).byteLength > REF_NAME_MAX_BYTES
  ) {
    return `is longer than ${REF_NAME_MAX_BYTES} bytes`;
  }
  // A lone surrogate (a JSON escape can make one) is no UTF-8: written to git it becomes
  // U+FFFD, another name than the entry's, whose key it shares (refcodec.ts).
  if (!name.isWellFormed()) return "is not valid Unicode (a lone surrogate)";
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u0020\u007f]/.test(name)) return "contains a control character or space";
  if (/[~^:?*[\\]/.test(name)) return "contains one of ~ ^ : ? * [ \\";
  if (DISPLAY_UNSAFE.test(name)) {
    return "contains a character that changes how text is shown (a C1 control, a bidirectional override, embedding or isolate, or a line separator)";
  }
  if (name.includes("..")) return "contains ..";
  if (name.includes("@{")) return "contains @{";
  if (name.endsWith("/") || name.endsWith(".")) return "ends with / or .";
  for (const part of name.split("/")) {
    if (part === "") return "has an empty component (//)";
    if (part.startsWith(".")) return "has a component starting with .";
    if (part.endsWith(".lock")) return "has a component ending in .lock";
  }
  return null;
}
