/**
 * Hostile review of the local store's symlink handling (cb99c5e looked at symlinked keys
 * and listings; deletes were left as they were). A delete prunes the directories it left
 * empty with `Deno.remove(dir)`, which on a symlink to a directory unlinks the link
 * whatever the directory holds. So a trunk directory that is a symlink (a user who moved a
 * big trunk to another disk: /data/trunks/app.trunk -> /mnt/big/app.trunk) is unlinked by
 * the exclusive-create probe (`storage add`/`ping`, a writer's first write): the trunk is
 * gone from its URL, and the next push would create a new, empty one there. Likewise a
 * `refs/` that links to a directory inside the trunk is unlinked by the first delete of an
 * entry (ref log pruning): every ref vanishes from the listing. Both also fail at 60507dd
 * (pre-existing, not from today's commits).
 */
import { assert, assertEquals } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import { probeExclusiveCreate } from "../../src/storage/probe.ts";

const enc = new TextEncoder();

Deno.test("local store: the probe's delete leaves a trunk directory that is a symlink in place", async () => {
  const root = await Deno.makeTempDir({ prefix: "trunks-symdir-" });
  try {
    await Deno.mkdir(`${root}/big/app.trunk`, { recursive: true });
    await Deno.mkdir(`${root}/data/trunks`, { recursive: true });
    await Deno.symlink(`${root}/big/app.trunk`, `${root}/data/trunks/app.trunk`);
    const store = await openStore(`local://${root}/data/trunks/app.trunk`);
    await store.put("trunk.json", enc.encode("{}"));
    await store.put("segments/a.pack", enc.encode("pack"));
    await probeExclusiveCreate(store);
    assert(
      (await Deno.lstat(`${root}/data/trunks/app.trunk`).catch(() => null))?.isSymlink,
      "the trunk's symlink was unlinked by a delete",
    );
    assertEquals((await store.list("")).map((e) => e.key), ["segments/a.pack", "trunk.json"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("local store: deleting one entry under a refs/ that links inside the trunk keeps the others", async () => {
  const root = await Deno.makeTempDir({ prefix: "trunks-symrefs-" });
  try {
    const base = `${root}/trunks/app.trunk`;
    const store = await openStore(`local://${base}`);
    await store.put("trunk.json", enc.encode("{}"));
    await store.put("refs/a~000000000001", enc.encode("1"));
    await store.put("refs/a~000000000002", enc.encode("2"));
    await Deno.rename(`${base}/refs`, `${base}/refs.d`);
    await Deno.symlink(`${base}/refs.d`, `${base}/refs`);
    await store.delete("refs/a~000000000001");
    assertEquals((await store.list("refs/")).map((e) => e.key), ["refs/a~000000000002"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
