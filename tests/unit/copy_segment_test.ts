/**
 * `copySegmentPack` hands the copy on before the directory it was made in is removed
 * (that rmdir waited on the file system's journal in front of a clone's index-pack), and
 * `verified` settles only once that directory is gone: nothing is left behind. A pack the
 * store holds larger than listed is refused before anything is copied.
 */
import { openStore } from "../../src/storage/registry.ts";
import { segmentPackKey } from "../../src/trunk/layout.ts";
import { copySegmentPack } from "../../src/trunk/segments.ts";
import { TrunkError } from "../../src/trunk/errors.ts";
import { digest, toHexString } from "../../src/pack/hash.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";

/** A 1 MiB pack stored under its SHA-256 in a local trunk, and a private download directory. */
async function storedPack() {
  const root = await Deno.makeTempDir({ prefix: "trunks-copy-seg-" });
  await Deno.mkdir(`${root}/store`);
  const store = await openStore(`local://${root}/store/trunks/t.trunk`);
  const data = new Uint8Array(1 << 20).map((_, i) => (i * 13) & 0xff);
  const id = toHexString(await digest("sha256", data));
  await store.put(segmentPackKey(id), data);
  const dir = `${root}/dl`;
  await Deno.mkdir(dir, { mode: 0o700 });
  await Deno.chmod(dir, 0o700);
  const done = async () => {
    await store.close();
    await Deno.remove(root, { recursive: true });
  };
  return { store, data, id, dir, done };
}

Deno.test("copySegmentPack: the copy is handed on before its directory is removed", async () => {
  const { store, data, id, dir, done } = await storedPack();
  const remove = Deno.remove;
  let open!: () => void;
  const gate = new Promise<void>((r) => open = r);
  const held: string[] = [];
  try {
    // The copy's own directory is removed only once the gate opens.
    (Deno as { remove: typeof Deno.remove }).remove = (path, opts) => {
      const p = String(path);
      if (!p.startsWith(`${dir}/tmp_trunks_`)) return remove(path, opts);
      held.push(p);
      return gate.then(() => remove(path, opts));
    };
    const copied = await Promise.race([
      copySegmentPack(store, id, `${dir}/p.pack`),
      new Promise<"held">((r) => setTimeout(() => r("held"), 5000)),
    ]);
    // Fails on b1ea333: the copy waited for its directory's removal.
    assert(copied !== "held" && copied, "copySegmentPack waited for the removal");
    assertEquals(held.length, 1);
    assertEquals(copied.size, data.byteLength);
    let settled = false;
    copied.verified.then(() => settled = true, () => settled = true);
    await new Promise((r) => setTimeout(r, 50));
    assert(!settled, "verified settled before the directory was removed");
    open();
    await copied.verified;
    const left = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name);
    assertEquals(left, ["p.pack"]);
    assertEquals((await Deno.readFile(`${dir}/p.pack`)).byteLength, data.byteLength);
  } finally {
    (Deno as { remove: typeof Deno.remove }).remove = remove;
    open();
    await done();
  }
});

Deno.test("copySegmentPack: a pack larger than its listed size is corrupt and never copied", async () => {
  const { store, data, id, dir, done } = await storedPack();
  const copyFile = Deno.copyFile;
  let copies = 0;
  try {
    (Deno as { copyFile: typeof Deno.copyFile }).copyFile = (from, to) => {
      copies++;
      return copyFile(from, to);
    };
    // Listed at 4 KiB (it grew since, or the listing lies): not a byte more is copied.
    const e = await assertRejects(
      () => copySegmentPack(store, id, `${dir}/p.pack`, undefined, 4096),
      TrunkError,
    );
    assertEquals((e as TrunkError).code, "corrupt");
    assert(e.message.includes(segmentPackKey(id)) && e.message.includes("4096 bytes"), e.message);
    assertEquals(copies, 0, "copied before it was refused");
    assertEquals([...Deno.readDirSync(dir)], [], "left behind");
    // Listed at its size, or not listed (NaN, see planFetch): copied and verified.
    for (const listed of [data.byteLength, NaN]) {
      const copied = (await copySegmentPack(store, id, `${dir}/q.pack`, undefined, listed))!;
      await copied.verified;
      assertEquals(copied.size, data.byteLength);
      await Deno.remove(`${dir}/q.pack`);
    }
  } finally {
    (Deno as { copyFile: typeof Deno.copyFile }).copyFile = copyFile;
    await done();
  }
});
