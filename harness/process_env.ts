/**
 * `deno test --parallel` runs test files in one process, so `Deno.env` is shared by every
 * file at once: a test that sets TRUNKS_AUTO_MAINTENANCE for its library pushes, and
 * another file's test restoring it, raced (a burst's step was switched off mid-test). A
 * test that changes the process's environment does so only inside `withProcessEnv`, which
 * holds one file lock for the whole run of `fn`, so no two such tests overlap.
 */
const lockPath = `${Deno.env.get("TMPDIR") ?? "/tmp"}/trunks-test-process-env.lock`;

/** How deep this file's test is in `withProcessEnv`: a nested call holds the lock already. */
let depth = 0;

/** Runs `fn` with `vars` set (undefined: removed), then puts every one back. */
export async function withProcessEnv<T>(
  vars: Record<string, string | undefined>,
  fn: () => Promise<T>,
): Promise<T> {
  const lock = depth === 0 ? await Deno.open(lockPath, { create: true, write: true }) : null;
  try {
    await lock?.lock(true);
    depth++;
    const before = Object.keys(vars).map((k) => [k, Deno.env.get(k)] as const);
    try {
      for (const [k, v] of Object.entries(vars)) {
        if (v === undefined) Deno.env.delete(k);
        else Deno.env.set(k, v);
      }
      return await fn();
    } finally {
      for (const [k, v] of before) {
        if (v === undefined) Deno.env.delete(k);
        else Deno.env.set(k, v);
      }
      depth--;
    }
  } finally {
    lock?.close();
  }
}
