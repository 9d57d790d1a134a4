/**
 * Automatic maintenance on a trunk with mirrors merges segments but deletes nothing: a
 * mirror that missed a delete would look diverged (src/trunk/maintenance.ts). With a lease
 * of 0 the segments a first step's merge replaced are past their grace at the next step,
 * which on a trunk without mirrors deletes them.
 */
import { assert, assertEquals } from "../assert.ts";
import { withProcessEnv } from "../../harness/process_env.ts";
import { Trunk as Library } from "../../src/sdk/trunk.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { maintain } from "../../src/trunk/maintenance.ts";
import { MirroredStore } from "../../src/trunk/mirrors.ts";
import { listSegmentKeys } from "../../src/trunk/replaces.ts";
import { Trunk } from "../../src/trunk/trunk.ts";
import { member } from "./harness.ts";
import { writeMap } from "../../src/trunk/storage_map.ts";
import { syncMirror } from "../../src/trunk/sync.ts";

Deno.test("maintenance on a mirrored trunk merges segments and deletes none it replaced", async () => {
  const primary = member("primary", "primary");
  const mirror = member("m", "mirror");
  const set = new MirroredStore([primary, mirror]);
  await withProcessEnv({ TRUNKS_AUTO_MAINTENANCE: "0" }, async () => {
    await using lib = await Library.open({ store: set, create: true, leaseSeconds: 0 });
    for (let i = 0; i < 10; i++) {
      lib.write(`f${i}.txt`, `${i}\n`);
      await lib.commit({ message: `c${i}`, branch: "main" });
      await lib.push();
    }
  });
  const pushed = (await listSegmentKeys(primary.store)).complete.map((s) => s.id).sort();
  assertEquals(pushed.length, 10);
  const trunk = await Trunk.open(set, new MemoryCache(), "maint@test", { fromStore: true });
  const workDir = await Deno.makeTempDir();
  try {
    const first = await maintain(trunk, { workDir: `${workDir}/1` });
    assert(first.merge?.merged, "the first step merged the small segments");
    await new Promise((r) => setTimeout(r, 5));
    const second = await maintain(trunk, { workDir: `${workDir}/2` });
    assertEquals(second.merge?.deleted, []);
    for (const m of [primary, mirror]) {
      const ids = new Set((await listSegmentKeys(m.store)).complete.map((s) => s.id));
      for (const id of pushed) assert(ids.has(id), `${m.name} lost segment ${id}`);
    }
  } finally {
    await Deno.remove(workDir, { recursive: true });
  }
});

Deno.test("maintenance from a client that does not use the mirrors its storage map names prunes nothing", async () => {
  const primary = member("primary", "primary");
  const mirror = member("m", "mirror");
  const set = new MirroredStore([primary, mirror]);
  await withProcessEnv({ TRUNKS_AUTO_MAINTENANCE: "0" }, async () => {
    await using lib = await Library.open({ store: set, create: true, leaseSeconds: 0 });
    for (let i = 0; i < 4; i++) {
      lib.write(`f${i}.txt`, `${i}\n`);
      await lib.commit({ message: `c${i}`, branch: "main" });
      await lib.push();
    }
  });
  const entry = (m: typeof primary) => ({
    name: m.name,
    role: m.role,
    url: `local:///nowhere/${m.name}/trunks/app.trunk`,
    backend: "local",
    settings: {},
  });
  await writeMap(set, [entry(primary), entry(mirror)], "t@test", 0);
  // A machine that has not approved the mirror: its view of the trunk is the primary alone.
  const alone = await Trunk.open(primary.store, new MemoryCache(), "maint@test", {
    fromStore: true,
  });
  await new Promise((r) => setTimeout(r, 5));
  const workDir = await Deno.makeTempDir();
  try {
    const report = await maintain(alone, { workDir, skip: { merge: true } });
    assertEquals(report.prune, null, "no ref entry pruned on the primary alone");
  } finally {
    await Deno.remove(workDir, { recursive: true });
  }
  const sync = await syncMirror(primary, mirror, new MemoryCache(), alone.meta, { write: false });
  assertEquals(sync.state, "in-sync", sync.detail);
});
