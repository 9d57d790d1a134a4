import { openStore } from "../../src/storage/registry.ts";
import { StoreError } from "../../src/storage/store.ts";
import { assert, assertRejects } from "../assert.ts";

// A push stalled past the grace period can have its half-written upload swept by a clean;
// the push must then fail with one line that says so, not a raw rename error, and leave
// nothing under the key.
Deno.test("local: an upload swept away before it is stored fails with one clear line", async () => {
  const root = await Deno.makeTempDir({ prefix: "trunks-sweep-" });
  const store = await openStore(`local://${root}/trunks/t.trunk`);
  try {
    await store.put("segments/seed", new Uint8Array([0])); // the directory exists
    const dir = `${root}/trunks/t.trunk/segments`;
    let sent = false;
    const data = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (sent) {
          // The sweep: every temp upload in the directory goes, as a clean would remove it.
          for await (const e of Deno.readDir(dir)) {
            if (e.name.startsWith(".tmp-")) await Deno.remove(`${dir}/${e.name}`);
          }
          return c.close();
        }
        sent = true;
        c.enqueue(new Uint8Array(1024));
      },
    });
    const err = await assertRejects(() => store.put("segments/x.pack", data), StoreError);
    assert(err.message.includes("removed by another process"), err.message);
    assert(!err.message.includes("\n"), "one line");
    assert(!(await store.get("segments/x.pack")), "nothing stored under the key");
  } finally {
    await store.close();
    await Deno.remove(root, { recursive: true });
  }
});

// A store writer swaps the trunk's segments directory for a symlink to a directory of this
// machine: puts and deletes refuse to follow it, and nothing lands or vanishes there.
Deno.test("local: writes and deletes never follow a symlink out of the trunk", async () => {
  const root = await Deno.makeTempDir({ prefix: "trunks-link-" });
  const outside = await Deno.makeTempDir({ prefix: "trunks-outside-" });
  const store = await openStore(`local://${root}/trunks/t.trunk`);
  try {
    await store.put("trunk.json", new Uint8Array([1]));
    const victim = `${outside}/${"a".repeat(64)}.pack`;
    await Deno.writeFile(victim, new Uint8Array([7]));
    await Deno.symlink(outside, `${root}/trunks/t.trunk/segments`);
    const put = await assertRejects(
      () => store.put(`segments/${"b".repeat(64)}.pack`, new Uint8Array([1])),
      StoreError,
    );
    assert(put.message.includes("leads outside"), put.message);
    await assertRejects(() => store.delete(`segments/${"a".repeat(64)}.pack`), StoreError);
    const left = (await Array.fromAsync(Deno.readDir(outside))).map((e) => e.name);
    assert(left.length === 1 && left[0] === `${"a".repeat(64)}.pack`, `outside holds ${left}`);
  } finally {
    await store.close();
    await Deno.remove(root, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});
