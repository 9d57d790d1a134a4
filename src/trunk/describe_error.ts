/**
 * One line for any error a user sees: what went wrong, and what to do. Shared by the CLI,
 * the remote helper and the library, so it lives below all three.
 */
import { GitError } from "../git/run.ts";
import { StoreError } from "../storage/store.ts";
import { TrunkError } from "./errors.ts";

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
