/**
 * git's rules for ref names (git-check-ref-format(1)), for names read from a trunk: a
 * ref entry is written by whoever can write the store, and its name goes into git's
 * remote-helper protocol, where a newline or space would add or cut lines.
 */

/** Longer names are refused: git itself handles them badly and no real ref needs more. */
export const REF_NAME_MAX_BYTES = 1024;

/** Why `name` is not a valid full ref name (`refs/...`, or `HEAD`), or null when it is. */
export function badRefName(name: string): string | null {
  if (name === "HEAD") return null;
  if (!name.startsWith("refs/")) return "does not start with refs/";
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
