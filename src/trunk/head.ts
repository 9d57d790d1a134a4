/**
 * HEAD of a trunk: which branch a clone checks out. One rule for every writer (helper,
 * library) and every reader (helper's list, clone, library's head()).
 */
import { isDeleted, type RefEntry, type RefState } from "./refs.ts";

const PREFERRED = ["refs/heads/main", "refs/heads/master"];

/** The branches `latest` holds (not deleted). */
export function liveBranches(latest: Map<string, RefEntry>): string[] {
  return [...latest.values()].filter(isLiveBranch).map((e) => e.ref);
}

/** The branch HEAD names; falls back to main/master/first branch when it was deleted. */
export function headTarget(state: RefState): string | null {
  // The branch HEAD names, looked up alone: a clone's listing of 20,000 refs builds no
  // list of every branch for it.
  const named = state.latest.get("HEAD")?.symref;
  const e = named ? state.latest.get(named) : undefined;
  if (e && isLiveBranch(e)) return e.ref;
  return pickBranch(liveBranches(state.latest), null);
}

function isLiveBranch(e: RefEntry): boolean {
  return e.ref.startsWith("refs/heads/") && !isDeleted(e);
}

/** `preferred` if among `branches`, else main, master, or the first by name. */
export function pickBranch(branches: string[], preferred: string | null): string | null {
  return [preferred, ...PREFERRED].find((r) => r && branches.includes(r)) ??
    [...branches].sort()[0] ?? null;
}

/**
 * A trunk's first HEAD, set by the first push that creates a branch: the pusher's own
 * branch (`localHead`, git's checked-out branch; the library has none) if pushed, else
 * main, master, or the first. When the trunk already had branches but no HEAD (the first
 * push died before recording it), clones already show main, master or the first
 * branch: that is recorded, so a later push from elsewhere does not move it. `had`: the
 * branches the trunk held before this push's entries (`liveBranches`), not after them.
 */
export function initialHead(
  had: string[],
  pushed: string[],
  localHead: string | null,
): string | null {
  return had.length ? pickBranch(had, null) : pickBranch(pushed, localHead);
}
