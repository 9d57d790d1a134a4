/**
 * A local store fsyncs at most 32 files at once, however many creates are in flight: each
 * fsync holds a system thread, whose memory stays with the process (issue 19's 256 MiB),
 * while a push keeps more creates going to share the syncs of their directory.
 */
import { assert, assertEquals } from "../assert.ts";
import { fileSync, LocalStore } from "../../src/storage/local.ts";

Deno.test("local creates fsync at most 32 files at once, every one before its name exists", async () => {
  const root = Deno.makeTempDirSync();
  const base = `${root}/trunks/r.trunk`;
  const store = new LocalStore(base, root, `local://${base}`);
  assert(store.capabilities.createParallelism! > 32);
  const realRun = fileSync.run;
  let now = 0;
  let most = 0;
  let synced = 0;
  fileSync.run = async (file) => {
    most = Math.max(most, ++now);
    // No created name exists before its temp file is durable.
    const named = [...Deno.readDirSync(`${base}/refs`)].filter((e) => e.name.startsWith("k"));
    assert(named.length <= synced, `${named.length} names after ${synced} syncs`);
    try {
      // Held a moment, so that every create started reaches its sync before any ends.
      await new Promise((r) => setTimeout(r, 20));
      await realRun(file);
      synced++;
    } finally {
      now--;
    }
  };
  try {
    await store.create("refs/a", new Uint8Array([1]));
    synced = 0;
    const made = await Promise.all(
      Array.from({ length: 100 }, (_, i) => store.create(`refs/k${i}`, new Uint8Array([i]))),
    );
    assertEquals(made.filter(Boolean).length, 100);
    assertEquals(synced, 100);
    assertEquals(most, 32);
    for (let i = 0; i < 100; i++) {
      assertEquals(await Deno.readFile(`${base}/refs/k${i}`), new Uint8Array([i]));
    }
  } finally {
    fileSync.run = realRun;
    Deno.removeSync(root, { recursive: true });
  }
});
