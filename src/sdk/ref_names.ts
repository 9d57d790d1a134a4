/** Ref names as the library takes them: short branch names or full `refs/...` names. */
import { TrunkError } from "../trunk/errors.ts";

export function shortRef(ref: string): string {
  return ref.replace(/^refs\/(heads|tags)\//, "");
}

export function branchRef(name: string): string {
  const full = name.startsWith("refs/") ? name : `refs/heads/${name}`;
  if (
    !/^refs\/[^\0\s~^:?*\[\\]+$/.test(full) || full.includes("..") || full.endsWith("/") ||
    full.endsWith(".lock") || full.includes("//") || full.includes("@{")
  ) {
    throw new TrunkError(`${JSON.stringify(name)} is not a valid branch name`, "bad-input");
  }
  return full;
}
