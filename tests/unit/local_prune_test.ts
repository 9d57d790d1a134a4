/** LocalStore.delete leaves no empty directories behind, and never removes the root. */
import { assert, assertEquals } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import { probeStore } from "../../src/storage/probe.ts";

Deno.test("delete prunes empty directories up to (not including) the root", async () => {
  const root = await Deno.makeTempDir();
  const store = await openStore(`local://${root}/trunks/r.trunk`);
  await store.put("segments/a.pack", new Uint8Array([1]));
  await store.put("segments/b.pack", new Uint8Array([2]));
  await store.delete("segments/a.pack");
  assert((await Deno.stat(`${root}/trunks/r.trunk/segments`)).isDirectory, "b still there");
  await store.delete("segments/b.pack");
  assertEquals([...Deno.readDirSync(root)], []);
  assert((await Deno.stat(root)).isDirectory, "root kept");
  // Writing again re-creates what was pruned.
  await store.put("segments/c.pack", new Uint8Array([3]));
  assertEquals(await store.list("segments/").then((l) => l.map((e) => e.key)), [
    "segments/c.pack",
  ]);
});

Deno.test("a probe leaves an empty store empty", async () => {
  const root = await Deno.makeTempDir();
  const store = await openStore(`local://${root}/trunks/r.trunk`);
  const res = await probeStore(store);
  assert(res.ok && res.exclusiveCreate);
  assertEquals([...Deno.readDirSync(root)], []);
});
