/**
 * Hostile review of cb99c5e (local store: a key that is a symlink is refused on every
 * read). The refusal is a StoreError "corrupt", and a mirror set fails over (and repairs)
 * only on a TrunkError "corrupt" or an unavailable storage: so a local primary whose copy
 * of a segment is a symlink (planted to anything, or a user's link to a good copy) now
 * fails the fetch outright, though a mirror holds the segment whole. Before cb99c5e
 * (60507dd) the link was read, its bytes failed the segment's SHA-256 (a TrunkError), and
 * the fetch read the mirror's copy and repaired the primary's. Now it is read past (said in a
 * notice) but not repaired: the same StoreError code also means "changed while read". The
 * index's case is not here:
 * a segment's index is read from the first storage that has one, with no failover (older
 * than cb99c5e: a damaged index fails the fetch in one line on any store).
 */
import { assert, assertEquals } from "../assert.ts";
import { Trunk as Library } from "../../mod.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { openStore } from "../../src/storage/registry.ts";
import { getBytes, type Store } from "../../src/storage/store.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { fetchSegments } from "../../src/trunk/fetch.ts";
import { gitSink } from "../../src/helper/fetch.ts";
import { segmentIdxKey, segmentPackKey } from "../../src/trunk/layout.ts";
import { readMeta } from "../../src/trunk/meta.ts";
import { type Member, MirroredStore } from "../../src/trunk/mirrors.ts";
import { listSegments } from "../../src/trunk/segments.ts";
import { Trunk } from "../../src/trunk/trunk.ts";
import { withProcessEnv } from "../../harness/process_env.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** A trunk on local disk (three pushes, three segments) and a whole copy in memory. */
async function localPrimaryAndMirror() {
  const url = `memory://symfo-${crypto.randomUUID()}/trunks/app.trunk`;
  await withProcessEnv({ TRUNKS_AUTO_MAINTENANCE: "0" }, async () => {
    await using t = await Library.open({ url, create: true, writer: "seed" });
    for (const name of ["a.txt", "b.txt", "c.txt"]) {
      t.write(name, `${name}\n`);
      await t.commit({ message: name, branch: "main" });
      await t.push();
    }
  });
  const seeded = await openStore(url);
  const root = await Deno.makeTempDir({ prefix: "trunks-symfo-" });
  const base = `${root}/trunks/app.trunk`;
  const primary = await openStore(`local://${base}`);
  const mirror = new MemoryStore(`memory://mirror-${crypto.randomUUID()}`);
  for (const e of await seeded.list("")) {
    const b = (await getBytes(seeded, e.key))!;
    await primary.put(e.key, b);
    await mirror.put(e.key, b);
  }
  const segs = await listSegments(primary);
  assertEquals(segs.length, 3);
  return { root, base, primary, mirror, id: segs[1].id };
}

async function fetchThrough(primary: Store, mirror: Store) {
  const members: Member[] = [
    { name: "primary", role: "primary", url: primary.location, store: primary },
    { name: "m", role: "mirror", url: mirror.location, store: mirror },
  ];
  const notes: string[] = [];
  const set = new MirroredStore(members, { notice: (m) => notes.push(m) });
  const trunk = new Trunk(set, (await readMeta(primary))!, new MemoryCache(), "test");
  const dir = `${await Deno.makeTempDir()}/r`;
  assertEquals((await new Deno.Command("git", { args: ["init", "-q", dir] }).output()).code, 0);
  const got = await fetchSegments(trunk, gitSink(`${dir}/.git`));
  return { got, notes };
}

for (const part of ["pack"] as const) {
  Deno.test({
    name:
      `local symlink: a primary's segment ${part} planted as a symlink is read from the mirror, said, and never written through`,
    ...opts,
    fn: async () => {
      const { root, base, primary, mirror, id } = await localPrimaryAndMirror();
      try {
        const key = part === "pack" ? segmentPackKey(id) : segmentIdxKey(id);
        const good = (await getBytes(primary, key))!;
        // Planted: a link to a file of this machine (here a decoy outside the store).
        const outside = `${root}/outside`;
        await Deno.writeTextFile(outside, "this machine's own file\n");
        await Deno.remove(`${base}/${key}`);
        await Deno.symlink(outside, `${base}/${key}`);
        const { got, notes } = await fetchThrough(primary, mirror);
        assertEquals(got.segments, 3);
        assert(
          notes.some((n) => /not a regular file.*read it from mirror "m"/.test(n)),
          notes.join("\n"),
        );
        // Read past, not repaired (a storage's refusal is not proof of a bad copy: see
        // tests/mirrors/repair_cause_test.ts), and nothing written through the link.
        assert((await Deno.lstat(`${base}/${key}`)).isSymlink, "the link is left for its owner");
        assertEquals((await getBytes(mirror, key))?.byteLength, good.byteLength);
        assertEquals(await Deno.readTextFile(outside), "this machine's own file\n");
      } finally {
        await Deno.remove(root, { recursive: true });
      }
    },
  });
}
