/** One line for any error a user sees: what went wrong, and what to do. */
import { GitError } from "../git/run.ts";
import { StoreError } from "../storage/store.ts";
import { TrunkError } from "../trunk/errors.ts";

/** Bad command line (unknown option, missing argument): exit code 2, like git's usage errors. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A failure already reported in full (e.g. by --json output); only the exit code remains. */
export class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
    this.name = "Exit";
  }
}

export function describeError(e: unknown): string {
  if (e instanceof TrunkError || e instanceof StoreError || e instanceof GitError) {
    return firstLine(e.message);
  }
  if (e instanceof Error) return firstLine(e.message) || e.name;
  return firstLine(String(e));
}

function firstLine(s: string): string {
  return s.split("\n").map((l) => l.trim()).find((l) => l) ?? "";
}
