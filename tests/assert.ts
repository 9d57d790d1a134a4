/**
 * The few assertions the tests need. `jsr:@std/assert` cannot be reached from the
 * project's machines, so these are written on `node:assert`.
 */
import nodeAssert from "node:assert/strict";

export function assert(cond: unknown, msg?: string): asserts cond {
  nodeAssert.ok(cond, msg);
}

export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, msg);
}

export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.notDeepStrictEqual(actual, expected, msg);
}

export function assertMatch(actual: string, re: RegExp, msg?: string): void {
  nodeAssert.match(actual, re, msg);
}

export function assertStringIncludes(actual: string, part: string, msg?: string): void {
  nodeAssert.ok(
    actual.includes(part),
    msg ?? `expected ${JSON.stringify(actual)} to include ${JSON.stringify(part)}`,
  );
}

export async function assertRejects(
  fn: () => Promise<unknown>,
  // deno-lint-ignore no-explicit-any
  errorClass?: new (...args: any[]) => Error,
  includes?: string,
  msg?: string,
): Promise<Error> {
  let thrown: unknown;
  try {
    await fn();
  } catch (e) {
    thrown = e;
  }
  if (thrown === undefined) {
    throw new nodeAssert.AssertionError({ message: `expected rejection${msg ? `: ${msg}` : ""}` });
  }
  if (errorClass && !(thrown instanceof errorClass)) {
    throw new nodeAssert.AssertionError({ message: `expected ${errorClass.name}, got ${thrown}` });
  }
  const err = thrown as Error;
  if (includes && !String(err.message).includes(includes)) {
    throw new nodeAssert.AssertionError({
      message: `error "${err.message}" does not include "${includes}"`,
    });
  }
  return err;
}
