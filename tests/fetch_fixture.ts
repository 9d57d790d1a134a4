/**
 * What the fetch engine's unit tests share (tests/unit/fetch_*_test.ts): a local trunk of
 * a few segments pushed by the library, a repository that only counts and removes what it
 * is given, and a store that hands everything on to another but what a test replaces.
 */
import { Trunk as Library } from "../mod.ts";
import { AUTO_ENV } from "../src/trunk/maintenance.ts";
import { withProcessEnv } from "../harness/process_env.ts";
import type { Store } from "../src/storage/store.ts";
import type { FetchSink } from "../src/trunk/fetch.ts";
import { removeInputFiles } from "../src/pack/join.ts";

/** `n` one-commit pushes to `url` (a segment each), maintenance off; `file(i)`: what each writes. */
export async function pushSegments(
  url: string,
  n: number,
  file: (i: number) => [path: string, content: string | Uint8Array],
): Promise<void> {
  await withProcessEnv({ [AUTO_ENV]: "0" }, async () => {
    const t = await Library.open({ url, create: true, writer: "burst" });
    for (let i = 0; i < n; i++) {
      t.write(...file(i));
      await t.commit({ message: `c${i}`, branch: "main" });
      await t.push();
    }
    await t.close();
  });
}

/** `n` random bytes (incompressible: a pack of them is as large). */
export function randomBytes(n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let at = 0; at < n; at += 65_536) crypto.getRandomValues(out.subarray(at, at + 65_536));
  return out;
}

/**
 * A repository that takes every pack (joined when `joins`) and removes it, counting the
 * packs it was given.
 */
export function countingSink(dir: string, joins: boolean): FetchSink & { packs: () => number } {
  let packs = 0;
  return {
    packs: () => packs,
    downloadDir: () => Promise.resolve(dir),
    ingest: async (path) => {
      packs++;
      await Deno.remove(path);
    },
    ingestAll: joins
      ? async (inputs) => {
        packs++;
        await removeInputFiles(inputs);
      }
      : undefined,
    has: () => Promise.resolve(new Set()),
    missing: () => Promise.resolve([]),
  };
}

/**
 * `inner` with `over` in place of its own operations, and no `copyToFile`: every segment
 * then comes through `get`, where a test sees it.
 */
export function handingOn(
  inner: Store,
  over: Partial<Pick<Store, "capabilities" | "get" | "list">> = {},
): Store {
  return {
    location: inner.location,
    capabilities: over.capabilities ?? inner.capabilities,
    get: over.get ?? ((key, range) => inner.get(key, range)),
    put: (key, data) => inner.put(key, data),
    create: (key, data) => inner.create(key, data),
    list: over.list ?? ((prefix, startAfter, opts) => inner.list(prefix, startAfter, opts)),
    delete: (key) => inner.delete(key),
    close: () => inner.close(),
  };
}

/**
 * `name` tested on both of the fetch's paths (segments joined into one pack, and one pack
 * each), each on a fresh local trunk at `url` under `root` (removed after).
 */
export function onBothPaths(
  name: string,
  fn: (joins: boolean, url: string, root: string) => Promise<void>,
): void {
  for (const joins of [true, false]) {
    Deno.test(
      `${name} (${joins ? "joined" : "one pack each"})`,
      { sanitizeOps: false, sanitizeResources: false },
      async () => {
        const root = await Deno.makeTempDir();
        try {
          await fn(joins, `local://${root}/trunks/r.trunk`, root);
        } finally {
          await Deno.remove(root, { recursive: true });
        }
      },
    );
  }
}
