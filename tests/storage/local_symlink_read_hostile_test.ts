/**
 * Anyone who can write a local store can plant a key that is a symlink to a file of the
 * reading machine (~/.ssh/id_ed25519, ~/.aws/credentials): writes already refuse links,
 * and reads refuse them too (whole, ranged, copied), in one line naming the key, whatever
 * the link points at. Such a key stays listed (hiding a ref's newest entry would make its
 * older one the ref's value), and a listing never follows a directory swapped for a link
 * out of the trunk.
 */
import { openStore } from "../../src/storage/registry.ts";
import { StoreError } from "../../src/storage/store.ts";
import type { Store } from "../../src/storage/store.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";

const SECRET = "-----BEGIN OPENSSH PRIVATE KEY----- not for the store";

async function refusedEveryWay(store: Store, key: string, dir: string): Promise<void> {
  const reads: [string, () => Promise<unknown>][] = [
    ["get", () => store.get(key)],
    ["get(range)", () => store.get(key, { offset: 0, length: 4 })],
    ["get(range past 0)", () => store.get(key, { offset: 3 })],
    ["copyToFile", () => store.copyToFile!(key, `${dir}/${crypto.randomUUID()}`)],
  ];
  for (const [how, read] of reads) {
    const err = await assertRejects(read, StoreError, undefined, `${how} ${key}`) as StoreError;
    assertEquals(err.code, "corrupt", `${how} ${key}: ${err.message}`);
    assert(err.message.includes(key), `${how}: ${err.message}`);
    assert(!err.message.includes("\n") && !err.message.includes("OPENSSH"), err.message);
  }
}

Deno.test({
  name: "local: a key that is a symlink is refused on every read, and still listed",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "trunks-linkread-" });
    const home = await Deno.makeTempDir({ prefix: "trunks-home-" });
    const copies = await Deno.makeTempDir({ prefix: "trunks-copies-" });
    await Deno.chmod(copies, 0o700);
    const base = `${root}/trunks/t.trunk`;
    const store = await openStore(`local://${base}`);
    const enc = new TextEncoder();
    try {
      await Deno.writeTextFile(`${home}/id_ed25519`, SECRET);
      assert(await store.create("refs/main/000000000001", enc.encode("{}")));
      await store.put(`segments/${"a".repeat(64)}.pack`, enc.encode("PACK"));
      const pack = `segments/${"b".repeat(64)}.pack`;
      const entry = "refs/main/000000000002";
      await Deno.symlink(`${home}/id_ed25519`, `${base}/${pack}`);
      await Deno.symlink(`${home}/id_ed25519`, `${base}/${entry}`);
      // A link to another key of the store, and one to nothing, are refused the same way.
      const inside = "refs/main/000000000003";
      await Deno.symlink(`${base}/refs/main/000000000001`, `${base}/${inside}`);
      const dangling = "refs/main/000000000004";
      await Deno.symlink(`${home}/gone`, `${base}/${dangling}`);
      for (const key of [pack, entry, inside, dangling]) await refusedEveryWay(store, key, copies);
      assertEquals(await Array.fromAsync(Deno.readDir(copies)), [], "no copy left behind");

      // Listed as they are (the link's own size, not the secret's), for the read to refuse.
      const refs = await store.list("refs/");
      assertEquals(refs.map((e) => e.key), [
        "refs/main/000000000001",
        entry,
        inside,
        dangling,
      ]);
      const listed = refs.find((e) => e.key === entry)!;
      assertEquals(listed.size, `${home}/id_ed25519`.length, "the link's size, not its target's");
      assert((await store.list("segments/")).some((e) => e.key === pack));

      // Regular keys read as before.
      assertEquals(
        new TextDecoder().decode(
          new Uint8Array(
            await new Response(await store.get("refs/main/000000000001")).arrayBuffer(),
          ),
        ),
        "{}",
      );
    } finally {
      await store.close();
      for (const d of [root, home, copies]) await Deno.remove(d, { recursive: true });
    }
  },
});

Deno.test({
  name: "local: a listing never follows the trunk's directory swapped for a link out of it",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "trunks-linklist-" });
    const home = await Deno.makeTempDir({ prefix: "trunks-home-" });
    const base = `${root}/trunks/t.trunk`;
    const store = await openStore(`local://${base}`);
    const enc = new TextEncoder();
    try {
      assert(await store.create("refs/main/000000000001", enc.encode("{}")));
      // This machine's files, laid out as ref entries would be.
      await Deno.mkdir(`${home}/.aws`);
      await Deno.writeTextFile(`${home}/.aws/000000000001`, SECRET);
      await Deno.rename(`${base}/refs`, `${root}/refs-moved`);
      await Deno.symlink(home, `${base}/refs`);
      for (const prefix of ["refs/", "refs/.aws/"]) {
        const err = await assertRejects(() => store.list(prefix), StoreError, undefined, prefix);
        assert(err.message.includes("leads outside"), err.message);
        assert(!err.message.includes("\n"), err.message);
      }
      // A link that stays inside the trunk is still listed through.
      await Deno.remove(`${base}/refs`);
      await Deno.rename(`${root}/refs-moved`, `${base}/refs-real`);
      await Deno.symlink(`${base}/refs-real`, `${base}/refs`);
      assertEquals((await store.list("refs/")).map((e) => e.key), ["refs/main/000000000001"]);
      // A link to nothing lists nothing.
      await Deno.remove(`${base}/refs`);
      await Deno.symlink(`${home}/gone`, `${base}/refs`);
      assertEquals(await store.list("refs/"), []);
    } finally {
      await store.close();
      for (const d of [root, home]) await Deno.remove(d, { recursive: true });
    }
  },
});
