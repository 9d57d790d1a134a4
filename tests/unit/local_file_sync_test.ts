/**
 * A local store runs at most SYNCS_AT_ONCE fsyncs at once, of files and directories, however many
 * creates are in flight: each holds a system thread, whose memory stays with the process
 * (issue 19's 256 MiB), while a push keeps more creates going to share directory syncs.
 */
import { assert, assertEquals } from "../assert.ts";
import { dirSync, fileSync, LocalStore, SYNCS_AT_ONCE } from "../../src/storage/local.ts";

/** More creates than syncs may run at once, so the limit is reached. */
const N = 2 * SYNCS_AT_ONCE + 44;

/** Runs `fn` on a new store with every fsync held a moment and counted. */
async function watched(
  fn: (store: LocalStore, base: string, seen: { most: number; files: number }) => Promise<void>,
): Promise<void> {
  const root = Deno.makeTempDirSync();
  const base = `${root}/trunks/r.trunk`;
  const store = new LocalStore(base, root, `local://${base}`);
  const [realFile, realDir] = [fileSync.run, dirSync.run];
  const seen = { most: 0, files: 0 };
  let now = 0;
  // Held a moment, so that every create started reaches its syncs before any ends.
  const held = async (run: () => Promise<void>) => {
    seen.most = Math.max(seen.most, ++now);
    try {
      await new Promise((r) => setTimeout(r, 20));
      await run();
    } finally {
      now--;
    }
  };
  fileSync.run = (file) => held(() => realFile(file).then(() => void seen.files++));
  dirSync.run = (dir) => held(() => realDir(dir));
  try {
    await store.create("refs/a", new Uint8Array([1]));
    await store.create("refs/b/1", new Uint8Array([1]));
    [seen.most, seen.files] = [0, 0];
    await fn(store, base, seen);
  } finally {
    [fileSync.run, dirSync.run] = [realFile, realDir];
    Deno.removeSync(root, { recursive: true });
  }
}

Deno.test("local creates fsync at most SYNCS_AT_ONCE files at once, every one before its name exists", async () => {
  await watched(async (store, base, seen) => {
    assert(store.capabilities.createParallelism! > SYNCS_AT_ONCE);
    const run = fileSync.run;
    fileSync.run = (file) => {
      // No created name exists before its temp file is durable.
      const named = [...Deno.readDirSync(`${base}/refs`)].filter((e) => e.name.startsWith("k"));
      assert(named.length <= seen.files, `${named.length} names after ${seen.files} syncs`);
      return run(file);
    };
    const made = await Promise.all(
      Array.from({ length: N }, (_, i) => store.create(`refs/k${i}`, new Uint8Array([i]))),
    );
    assertEquals(made.filter(Boolean).length, N);
    assertEquals(seen.files, N);
    assertEquals(seen.most, SYNCS_AT_ONCE);
    for (let i = 0; i < N; i++) {
      assertEquals(await Deno.readFile(`${base}/refs/k${i}`), new Uint8Array([i]));
    }
  });
});

Deno.test("local creates that each make a directory run at most SYNCS_AT_ONCE fsyncs at once, its own included", async () => {
  await watched(async (store, base, seen) => {
    // A trunk of format 1 keeps each ref's entries in a directory of its own: each of these
    // creates makes one, and syncs it besides its file (and refs/, shared).
    const made = await Promise.all(
      Array.from({ length: N }, (_, i) => store.create(`refs/d${i}/1`, new Uint8Array([i]))),
    );
    assertEquals(made.filter(Boolean).length, N);
    assertEquals(seen.files, N);
    assertEquals(seen.most, SYNCS_AT_ONCE);
    assertEquals(await Deno.readFile(`${base}/refs/d${N - 1}/1`), new Uint8Array([N - 1]));
  });
});
