/** Ref names as the library takes them: short branch names or full `refs/...` names. */
import { TrunkError } from "../trunk/errors.ts";
import { badRefName } from "../trunk/ref_format.ts";

export function shortRef(ref: string): string {
  return ref.replace(/^refs\/(heads|tags)\//, "");
}

export function branchRef(name: string): string {
  const full = name.startsWith("refs/") ? name : `refs/heads/${name}`;
  // The rules every reader of a trunk applies (git's, and one more).
  const bad = badRefName(full);
  if (bad) {
    throw new TrunkError(
      `${JSON.stringify(name)} is not a valid branch name: it ${bad}`,
      "bad-input",
    );
  }
  return full;
}
