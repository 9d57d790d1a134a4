/**
 * HEAD of a trunk: which branch a clone checks out. One rule for every writer (helper,
 * library) and every reader (helper's list, clone, library's head()).
 */
import { isDeleted, type RefEntry, type RefState } from "./refs.ts";

const PREFERRED = ["refs/heads/main", "refs/heads/master"];

function liveBranches(latest: Map<string, RefEntry>): string[] {
  return [...latest.values()].filter(isLiveBranch).map((e) => e.ref);
}

/** The branch HEAD names; falls back to main/master/first branch when it was deleted. */
export function headTarget(state: RefState): string | null {
  // The branch HEAD names, looked up alone: a clone's listing of 20,000 refs builds no
  // list of every branch for it.
  const named = state.latest.get("HEAD")?.symref;
  const e = named ? state.latest.get(named) : undefined;
  if (e && isLiveBranch(e)) return e.ref;
  return pickBranch(liveBranches(state.latest));
}

function isLiveBranch(e: RefEntry): boolean {
  return e.ref.startsWith("refs/heads/") && !isDeleted(e);
}

/** main or master if among `branches` (`preferred` after them), else the first by name. */
function pickBranch(branches: string[], preferred: string | null = null): string | null {
  return [...PREFERRED, preferred].find((r) => r && branches.includes(r)) ??
    [...branches].sort()[0] ?? null;
}

/** Whether `latest` holds a branch (not deleted). */
export function hasLiveBranch(latest: Map<string, RefEntry>): boolean {
  for (const e of latest.values()) if (isLiveBranch(e)) return true;
  return false;
}

/**
 * A trunk's first HEAD, set by the first push that creates a branch: main or master if
 * pushed, else the pusher's own branch (`localHead`, git's checked-out branch; the library
 * has none) if pushed, else the first by name. main and master come first because a trunk
 * is shared: an agent pushing `--all` from its task branch must not make every later clone
 * check that branch out (a bare repository and GitHub keep main too). When the trunk
 * already had branches but no HEAD (`hadBranches`, taken before this push's entries: the
 * first push died before recording it), clones already show main, master or the first
 * branch of `state` (after this push's entries): that is recorded, so a later push from
 * elsewhere does not move it.
 */
export function initialHead(
  state: RefState,
  pushed: string[],
  localHead: string | null,
  hadBranches: boolean,
): string | null {
  return hadBranches ? pickBranch(liveBranches(state.latest)) : pickBranch(pushed, localHead);
}
