/**
 * One line for any error a user sees: what went wrong, and what to do. Shared by the CLI,
 * the remote helper and the library, so it lives below all three.
 */
import { GitError } from "../git/run.ts";
import { StoreError } from "../storage/store.ts";
import { TrunkError } from "./errors.ts";
import { escapeUnsafe } from "../storage/plain_text.ts";

export function describeError(e: unknown): string {
  if (e instanceof TrunkError || e instanceof StoreError || e instanceof GitError) {
    return firstLine(e.message);
  }
  if (e instanceof Error) return firstLine(e.message) || e.name;
  return firstLine(String(e));
}

/**
 * Its first line, escaped: a message may quote what a store holds (a ref name, a writer,
 * a server's error text), and nothing in it may drive the terminal or forge a line.
 */
function firstLine(s: string): string {
  return escapeUnsafe(s.split("\n").map((l) => l.trim()).find((l) => l) ?? "");
}
