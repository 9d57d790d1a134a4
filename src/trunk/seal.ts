/**
 * Seals for the small JSON objects of a trunk (ref entries, trunk.json): a `"sum"` field
 * holding the SHA-256 of the object's canonical JSON without it. A stored object damaged
 * after it was written (a flipped byte that still parses, an edited oid) is then detected
 * and named, instead of silently moving a ref. Objects written before seals existed have
 * no `sum` and are accepted as they are.
 */
import { createHash } from "node:crypto";
import { TrunkError } from "./errors.ts";

/** JSON with object keys sorted at every level: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const keys = Object.keys(value).filter((k) =>
      (value as Record<string, unknown>)[k] !== undefined
    ).sort();
    return `{${
      keys.map((k) =>
        `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`
      ).join(",")
    }}`;
  }
  return JSON.stringify(value);
}

function digest<T extends object>(value: T): string {
  const { sum: _sum, ...rest } = value as T & { sum?: unknown };
  return createHash("sha256").update(canonicalJson(rest)).digest("hex");
}

/** The object with its `sum` set. */
export function seal<T extends object>(value: T): T & { sum: string } {
  return { ...value, sum: digest(value) };
}

/**
 * Throws a "corrupt" TrunkError naming `what` when the object carries a `sum` that does
 * not match its content; an object without `sum` (older writers) passes.
 */
export function checkSeal(value: object, what: string): void {
  const sum = (value as { sum?: unknown }).sum;
  if (sum === undefined) return;
  if (typeof sum !== "string" || sum !== digest(value)) {
    throw new TrunkError(
      `${what} does not match its seal (damaged after it was written); run trunks check, or restore it from a mirror or backup`,
      "corrupt",
    );
  }
}
